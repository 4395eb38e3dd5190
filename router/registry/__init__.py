"""What is loaded: the model cache (LRU with TinyLFU admission), single-flight loads, reloads
and their metrics.

It asks the store what exists and the model layer how to load it; it knows no file format.
``registry.ModelRegistry`` is the entry point. Nothing is imported here, so that importing
the cache (which knows no model) does not load the model layer and XGBoost with it.
"""
