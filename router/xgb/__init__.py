"""The model layer: the only package that imports XGBoost.

Checks of model files before XGBoost parses them, loading, metadata, and prediction
through XGBoost's C in-place call.
"""
