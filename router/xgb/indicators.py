"""A boolean feature's column in the input matrix: 1, 0 or missing.

XGBoost records a feature trained from a pandas ``bool`` (or nullable ``boolean``) column
as an indicator, type ``i``, and splits on it at 1: it answers 0.5 as it answers false, and
2 as it answers true, without an error. A model trained on booleans never saw those values,
so a request that sends one has a data bug that a silent answer hides, and the router
refuses it with a 422, as it refuses a category the model does not know. The check is
vectorised over the indicator columns only; models without them never get here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router.errors import InvalidInstances


@dataclass(frozen=True, slots=True)
class IndicatorColumn:
    """A column whose values are booleans as numbers: 1 (true), 0 (false) or NaN (missing)."""

    column: int
    name: str

    def check(self, matrix: np.ndarray) -> None:
        values = matrix[:, self.column]
        bad = ~((values == 0) | (values == 1) | np.isnan(values))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = float(values[row])
            shown = str(int(value)) if np.isfinite(value) and value == int(value) else repr(value)
            raise InvalidInstances(
                f"instances.{row}: {shown} is not a value of the boolean feature "
                f"{self.name!r}; send true or false (or 1 or 0), or null for a missing value"
            )
