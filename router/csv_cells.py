"""What a CSV cell's text means when it is no number, read alike by batch jobs and by
``model-router predict``: what tools write for a missing value, and for a boolean."""

from __future__ import annotations

from typing import Final

# What tools write for a missing value in CSV, besides an empty field and nan, which float()
# reads: R and pandas write NA, databases NULL (pandas' read_csv reads all of these so). A
# category of that name is looked up before a field is read as a missing value.
MISSING_TEXTS: Final = frozenset({"NA", "N/A", "null", "NULL", "<NA>", "#N/A"})
# A boolean column as tools write it (pandas True, R and Excel TRUE, Spark true), which
# pandas' read_csv reads as booleans: 1 and 0, as XGBoost reads a bool column.
BOOLEAN_TEXTS: Final = {
    "True": 1.0,
    "TRUE": 1.0,
    "true": 1.0,
    "False": 0.0,
    "FALSE": 0.0,
    "false": 0.0,
}


def is_number(text: str) -> bool:
    """Whether ``float`` reads ``text`` (nan and inf included, as Python reads them)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
