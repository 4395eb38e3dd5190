"""What is loaded: the LRU cache, single-flight loads, reloads and their metrics.

It asks the store what exists and the model layer how to load it; it knows no file format.
"""

from router.registry.registry import ModelRegistry, ModelStatus

__all__ = ["ModelRegistry", "ModelStatus"]
