"""Rows in, predictions out, for one XGBoost booster."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import xgboost

from router.errors import InvalidInstances
from router.xgb.capi import DensePredict

Output = Literal["value", "margin", "contributions"]
Row = Sequence[float | None] | Mapping[str, float | None]


class Predictor:
    """Wraps a booster: builds the input matrix and runs the prediction."""

    def __init__(self, booster: xgboost.Booster, *, linear: bool = False) -> None:
        self.booster = booster
        # gblinear has no in-place prediction in XGBoost: it predicts through a DMatrix.
        self.linear = linear
        self.num_features = booster.num_features()
        self.feature_names: list[str] | None = (
            list(booster.feature_names) if booster.feature_names else None
        )
        self._column_of: dict[str, int] | None = None
        # Values and margins go straight to XGBoost's C in-place prediction (see
        # router.xgb.capi); like inplace_predict, it is thread safe.
        self._inplace = {
            "value": DensePredict(booster, "value"),
            "margin": DensePredict(booster, "margin"),
        }
        # predict() on a DMatrix (needed for SHAP values) is documented as not thread safe,
        # so those calls take turns per model.
        self._dmatrix_lock = threading.Lock()

    def matrix(self, instances: Sequence[Row]) -> np.ndarray:
        """A C-contiguous float32 matrix (XGBoost reads it without a copy); ``None`` is NaN."""
        if not instances:
            raise InvalidInstances("instances is empty: send at least one row")
        first = instances[0]
        if isinstance(first, Mapping):
            return self._matrix_from_objects(instances)
        try:
            matrix = np.array(instances, dtype=np.float32)
        except (ValueError, TypeError):  # ragged rows, or rows of mixed forms
            matrix = np.empty((0, 0), dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.num_features:
            widths = sorted({len(row) for row in instances})
            raise InvalidInstances(
                f"the model expects {self.num_features} features per row; got rows of "
                f"{', '.join(map(str, widths[:5]))}"
            )
        return matrix

    def predict(self, matrix: np.ndarray, output: Output = "value") -> np.ndarray:
        try:
            if output == "contributions" or self.linear:
                return self._predict_dmatrix(matrix, output)
            result = self._inplace[output](matrix)
        except xgboost.core.XGBoostError as exc:
            # Rows that passed validation but that XGBoost still refuses (e.g. a value for a
            # categorical feature outside its categories): the caller's input, so a 422.
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else "refused"
            raise InvalidInstances(f"XGBoost refused the rows: {message}") from exc
        return result

    def _predict_dmatrix(self, matrix: np.ndarray, output: Output) -> np.ndarray:
        dmatrix = xgboost.DMatrix(matrix, missing=np.nan, feature_names=self.feature_names)
        with self._dmatrix_lock:
            result: np.ndarray = self.booster.predict(
                dmatrix,
                output_margin=output == "margin",
                pred_contribs=output == "contributions",
            )
        return result

    def _matrix_from_objects(self, instances: Sequence[Row]) -> np.ndarray:
        if self.feature_names is None:
            raise InvalidInstances(
                "this model has no feature names: send rows as arrays of numbers"
            )
        if self._column_of is None:
            self._column_of = {name: i for i, name in enumerate(self.feature_names)}
        column_of = self._column_of
        # Absent features are missing values (NaN), which XGBoost routes natively; unknown
        # ones are refused, which also catches misspelt feature names.
        matrix = np.full((len(instances), self.num_features), np.nan, dtype=np.float32)
        for row_number, row in enumerate(instances):
            if not isinstance(row, Mapping):
                raise InvalidInstances("mix of array and object rows: use one form")
            for key, value in row.items():
                column = column_of.get(key)
                if column is None:
                    raise InvalidInstances(
                        f"row {row_number}: unknown feature {key[:64]!r}; the model's features "
                        f"are {', '.join(self.feature_names[:10])}"
                        + (", ..." if len(self.feature_names) > 10 else "")
                    )
                if value is not None:
                    matrix[row_number, column] = value
        return matrix
