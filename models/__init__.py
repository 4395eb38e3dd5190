"""Training code for the demo models (``model-router demo``); needs the ``demo`` extra."""
