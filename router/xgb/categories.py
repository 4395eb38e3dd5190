"""A categorical feature's column in the input matrix: only categories the model knows.

XGBoost answers any number in a categorical column: a code past the model's categories, a
negative one or ``1.5`` (read as 1) all predict without an error, and so does a category the
model never saw. Those are data bugs that a silent answer hides, so the router refuses them
with a 422 that says what the feature accepts. The checks are vectorised over the categorical
columns only; models without categorical features never get here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router.errors import InvalidInstances

# Without stored categories the count is unknown; XGBoost reads codes as float32, which holds
# every whole number exactly only below 2**24.
_MAX_CODES = 1 << 24
FLOAT32_EXACT_INTEGERS = 1 << 24


@dataclass(frozen=True, slots=True)
class CodeColumn:
    """A column whose values are codes: whole numbers ``0 .. count - 1``, or NaN (missing)."""

    column: int
    name: str
    count: int | None  # None: the model stores no categories, so only the form is checked
    accepts: str  # what else the feature accepts, for the message

    def check(self, matrix: np.ndarray) -> None:
        values = matrix[:, self.column]
        limit = self.count if self.count is not None else _MAX_CODES
        whole = (values >= 0) & (values < limit) & (values == np.floor(values))
        bad = ~(whole | np.isnan(values))  # NaN is a missing value; inf fails the bound
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            codes = f"a code 0-{limit - 1}" if self.count else "a whole-number code from 0"
            raise InvalidInstances(
                f"instances.{row}: {_number(values[row])} is not a category of feature "
                f"{self.name!r}; send {codes}{self.accepts}, or null for a missing value"
            )


@dataclass(frozen=True, slots=True)
class ValueColumn:
    """A column of numeric categories (a pandas category of numbers), sent by value: each
    value becomes its code, its position in the model's list."""

    column: int
    name: str
    categories: np.ndarray  # float64, in the model's order
    shown: str

    @property
    def needs_float64(self) -> bool:
        """Whether float32 would lose what tells this column's values apart: from 2**24 up
        it rounds whole numbers to even ones (100000001 reads as 100000000, another
        category), and it rounds a fraction (1.1 is no longer 1.1). Rows for such a column
        are read in float64 and encoded before they become float32."""
        categories = self.categories
        return bool(
            (np.abs(categories) >= FLOAT32_EXACT_INTEGERS).any()
            or (categories != np.floor(categories)).any()
        )

    def encode(self, matrix: np.ndarray) -> None:
        values = matrix[:, self.column].astype(np.float64)
        present = np.flatnonzero(~np.isnan(values))
        if not present.size:
            return
        order = np.argsort(self.categories, kind="stable")
        ordered = self.categories[order]
        found = np.minimum(np.searchsorted(ordered, values[present]), len(ordered) - 1)
        known = ordered[found] == values[present]
        if not known.all():
            row = int(present[np.flatnonzero(~known)[0]])
            raise InvalidInstances(
                f"instances.{row}: the model has no category {_number(values[row])} for "
                f"feature {self.name!r}; it knows {self.shown} (null is a missing value)"
            )
        matrix[present, self.column] = order[found]


def _number(value: float) -> str:
    return str(int(value)) if np.isfinite(value) and value == int(value) else repr(float(value))
