"""A model's boolean features in the input matrix: 1, 0 or missing.

XGBoost records a feature trained from a pandas ``bool`` (or nullable ``boolean``) column
as an indicator, type ``i``, and splits on it at 1: it answers 0.5 as it answers false, and
2 as it answers true, without an error. A model trained on booleans never saw those values,
so a request that sends one has a data bug that a silent answer hides, and the router
refuses it with a 422, as it refuses a category the model does not know.

One vectorised check covers every indicator column at once: ``pd.get_dummies`` makes bool
columns, so a model may have hundreds, and a numpy call per column would cost a one-row
request more than XGBoost's prediction. Models without them never get here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from router.errors import InvalidInstances
from router.xgb.limits import FLOAT32_MAX

if TYPE_CHECKING:
    from collections.abc import Sequence


class IndicatorColumns:
    """The columns whose values are booleans as numbers: 1 (true), 0 (false) or NaN."""

    def __init__(self, columns: Sequence[int], names: Sequence[str]) -> None:
        self._columns = np.asarray(columns, dtype=np.intp)
        self._names = list(names)

    def __bool__(self) -> bool:
        return bool(self._names)

    def check(self, matrix: np.ndarray) -> None:
        values = matrix[:, self._columns]
        # NaN (missing) compares unequal to itself: (v != 0) & (v != 1) & (v == v) is bad.
        bad = (values != 0) & (values != 1) & (values == values)
        if not bad.any():
            return
        row, index = (int(i) for i in np.argwhere(bad)[0])
        value = float(values[row, index])
        where = f"instances.{row}.{self._names[index]}"
        if not np.isfinite(value):
            raise InvalidInstances(
                f"{where}: a number beyond float32's range (±{FLOAT32_MAX:.4g}); models "
                "compute in float32"
            )
        shown = str(int(value)) if value == int(value) else repr(value)
        raise InvalidInstances(
            f"{where}: {shown} is not a value of the boolean feature {self._names[index]!r}; "
            "send true or false (or 1 or 0), or null for a missing value"
        )
