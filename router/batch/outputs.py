"""The prediction columns a batch job can write, by output; no numpy, so the CLI's help
stays cheap to import."""

from __future__ import annotations

VERSION_COLUMN = "model_version"
# Column name of each output in CSV files (a prefix when it has several columns) and key in
# JSON Lines; one row per output of router.xgb.outputs.
OUTPUT_COLUMNS: dict[str, str] = {
    "value": "value",
    "margin": "margin",
    "contributions": "contribution",
    "probabilities": "probability",
    "label": "label",
}
