"""Model Router: one HTTP endpoint that serves many XGBoost models from a folder or EFS."""

__version__ = "0.1.0"
