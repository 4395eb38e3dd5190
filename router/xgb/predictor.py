"""Rows in, predictions out, for one XGBoost booster: what its training-side API answers.

The reference is what a data scientist calls: the scikit-learn estimator's ``predict`` and
``predict_proba``, or ``Booster.predict`` with ``iteration_range=(0, best_iteration + 1)``
when early stopping recorded a best round. So by default only the rounds up to
``best_iteration`` answer (``Rounds``); ``iteration_range`` counts boosting rounds, and one
round of a multiclass model or a random forest holds several trees.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import xgboost

from router.errors import InvalidInstances
from router.xgb.capi import DensePredict
from router.xgb.categories import CodeColumn, ValueColumn
from router.xgb.indicators import IndicatorColumns
from router.xgb.outputs import CLASSIFIER_OUTPUTS, OUTPUTS, Output

if TYPE_CHECKING:
    from router.xgb.metadata import RoundsChoice

# Objectives whose predictions XGBClassifier turns into predict_proba and predict; for the
# others (binary:logitraw, custom ones) it would treat margins as probabilities.
_CLASS_OBJECTIVES = frozenset(
    ("binary:logistic", "binary:hinge", "multi:softprob", "multi:softmax")
)

Value = float | str | None
Row = Sequence[Value] | Mapping[str, Value]
Category = str | float


@dataclass(frozen=True, slots=True)
class Rounds:
    """The boosting rounds in a model file and which of them answer."""

    in_file: int
    best_iteration: int | None  # recorded by early stopping (0-based), if it was used
    trees_per_round: int
    linear: bool = False  # gblinear has no rounds to choose: XGBoost always uses all

    @property
    def early_stopping(self) -> bool:
        return self.best_iteration is not None

    def used(self, choice: RoundsChoice) -> int:
        return self.in_file if self.end(choice) == 0 else self.end(choice)

    def end(self, choice: RoundsChoice) -> int:
        """XGBoost's ``iteration_end`` for ``choice``: 0 means every round."""
        if choice == "all" or self.best_iteration is None or self.linear:
            return 0
        # A file cut with booster[:n] may keep an attribute past its last round; XGBoost
        # would refuse that range, so it means every round.
        return self.best_iteration + 1 if self.best_iteration < self.in_file else 0


class Feature(NamedTuple):
    """One input column: its name, XGBoost's type (``float``, ``int``, ``c`` categorical,
    ``q``, ``i`` indicator: a boolean) and, for a categorical feature trained from a
    DataFrame, its categories in the order XGBoost encoded them (a category's code is its
    position).

    A named tuple, not a frozen dataclass: a load builds one per feature, and a frozen
    dataclass's ``__init__`` costs several times a tuple's."""

    name: str | None
    type: str
    categories: tuple[Category, ...] | None = None

    @property
    def categorical(self) -> bool:
        return self.type == "c"


class Predictor:
    """Wraps a booster: builds the input matrix and runs the prediction."""

    def __init__(
        self,
        booster: xgboost.Booster,
        *,
        linear: bool = False,
        objective: str = "",
        num_classes: int | None = None,
        num_targets: int = 1,
        rounds: Rounds | None = None,
        categories: Mapping[int, tuple[Category, ...]] | None = None,
    ) -> None:
        self.booster = booster
        # gblinear has no in-place prediction in XGBoost: it predicts through a DMatrix.
        self.linear = linear
        self.objective = objective
        self.num_classes = num_classes
        self.num_targets = num_targets
        self._contributions: bool | None = None  # whether XGBoost answers them: asked once
        self.num_features = booster.num_features()
        self.rounds = rounds or Rounds(booster.num_boosted_rounds(), None, 1, linear)
        self._default_rounds: RoundsChoice = "best"
        self._default_end = self.rounds.end("best")
        self.feature_names: list[str] | None = (
            list(booster.feature_names) if booster.feature_names else None
        )
        types = booster.feature_types or ["float"] * self.num_features
        names: list[str | None] = (
            [*self.feature_names] if self.feature_names else [None] * self.num_features
        )
        categories = categories or {}
        categorical = [i for i, kind in enumerate(types) if kind == "c"]
        self.features = [Feature(name, kind) for name, kind in zip(names, types, strict=True)]
        for i in categorical:
            self.features[i] = Feature(names[i], "c", categories.get(i))
        # Only categorical features need more: most models have none, and a load should not
        # pay a step per feature for them.
        chosen = [self.features[i] for i in categorical]
        # Codes of the categorical columns whose categories the model stores: a row's
        # value is the category as it was in the DataFrame, encoded as XGBoost encoded it.
        self._codes: dict[int, dict[Category, int]] = {
            i: {category: code for code, category in enumerate(feature.categories)}
            for i, feature in zip(categorical, chosen, strict=True)
            if feature.categories
        }
        self._categorical = set(categorical)
        # Text categories that read as numbers (ratings "1".."5", months "01".."12", zip
        # codes), by the number each reads as, per column: made when a number is first sent
        # for the feature, not at load (a vocabulary of many thousand words would cost a
        # failed float() each).
        self._named_by_numbers: dict[int, dict[float, str]] = {}
        # Numeric categories (a pandas category of numbers) arrive by value and are encoded;
        # the other categorical columns hold codes once rows are read (a string category
        # becomes its code), and every code is checked against the model's categories.
        self._value_columns = [
            ValueColumn(i, str(feature.name), np.asarray(feature.categories, dtype=np.float64),
                        _show_categories(feature.categories or ()))
            for i, feature in zip(categorical, chosen, strict=True)
            if feature.categories and not _is_text(feature)
        ]  # fmt: skip
        # Rows are read in float64 while a numeric category needs it (ValueColumn).
        self.matrix_dtype: type[np.floating[Any]] = (
            np.float64 if any(c.needs_float64 for c in self._value_columns) else np.float32
        )
        self._code_columns = [
            CodeColumn(
                i,
                str(feature.name if feature.name is not None else i),
                len(feature.categories) if feature.categories else None,
                f" or a category by value in object rows ({_show_categories(feature.categories)})"
                if feature.categories
                else "",
            )
            for i, feature in zip(categorical, chosen, strict=True)
            if not (feature.categories and not _is_text(feature))
        ]
        # Booleans (XGBoost's indicator type, a pandas bool column at training): 1, 0 or
        # missing only.
        indicators = [i for i, kind in enumerate(types) if kind == "i"]
        self._indicators = IndicatorColumns(
            indicators, [str(names[i] if names[i] is not None else i) for i in indicators]
        )
        self._column_of: dict[str, int] | None = None
        # Values and margins go straight to XGBoost's C in-place prediction (see
        # router.xgb.capi); like inplace_predict, it is thread safe. One per round choice.
        self._inplace = {
            (kind, end): DensePredict(
                booster, kind, iteration_end=end, num_features=self.num_features
            )
            for kind in ("value", "margin")
            for end in {self.rounds.end("best"), self.rounds.end("all")}
        }
        # predict() on a DMatrix (needed for SHAP values) is documented as not thread safe,
        # so those calls take turns per model.
        self._dmatrix_lock = threading.Lock()

    @property
    def default_rounds(self) -> RoundsChoice:
        """The rounds a request that does not choose gets (metadata ``rounds``)."""
        return self._default_rounds

    @default_rounds.setter
    def default_rounds(self, choice: RoundsChoice) -> None:
        self._default_rounds = choice
        self._default_end = self.rounds.end(choice)  # worked out once, not per request

    # -- what this model can answer ---------------------------------------------------------

    @property
    def is_classifier(self) -> bool:
        return self.num_classes is not None

    def outputs(self) -> list[Output]:
        """The outputs this model answers (``probabilities``/``label`` for classifiers)."""
        supported = [kind for kind in OUTPUTS if kind not in CLASSIFIER_OUTPUTS]
        if self._contributions_refusal() is not None:
            supported.remove("contributions")
        if self._classifier_refusal() is None:
            supported += CLASSIFIER_OUTPUTS
        return supported

    def _contributions_refusal(self) -> str | None:
        """Why XGBoost computes no contributions for this model, if it does not: trees with
        vector leaves (``multi_strategy="multi_output_tree"``) have none. Only a model of
        several targets can have such trees, and nothing short of a walk of every tree (which
        a published version skips) tells them apart, so XGBoost is asked once, on one row."""
        if self.num_targets <= 1 or self.linear:
            return None
        if self._contributions is None:
            row = np.full((1, self.num_features), np.nan, dtype=np.float32)
            try:
                self._predict_dmatrix(row, "contributions", self._default_end)
            except xgboost.core.XGBoostError:
                self._contributions = False
            else:
                self._contributions = True
        if self._contributions:
            return None
        return "XGBoost computes none for trees with vector leaves (multi_output_tree)"

    def _classifier_refusal(self) -> str | None:
        if not self.is_classifier:
            return f"the objective {self.objective or 'unknown'} is not a classifier's"
        if self.num_targets > 1 and not self.objective.startswith("binary:"):
            return "the model has several targets, which only binary objectives answer"
        if self.objective not in _CLASS_OBJECTIVES:
            return (
                f"the objective {self.objective} returns margins, which XGBClassifier does not "
                "turn into probabilities; ask for margin"
            )
        return None

    # -- input ------------------------------------------------------------------------------

    def matrix(self, instances: Sequence[Row]) -> np.ndarray:
        """A C-contiguous float32 matrix (XGBoost reads it without a copy); ``None`` is NaN."""
        if not instances:
            raise InvalidInstances("instances is empty: send at least one row")
        first = instances[0]
        if isinstance(first, Mapping):
            return self._matrix_from_objects(instances)
        try:
            matrix = np.array(instances, dtype=self.matrix_dtype)
        except (ValueError, TypeError):  # ragged rows, or rows of mixed forms
            matrix = np.empty((0, 0), dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.num_features:
            widths = sorted({len(row) for row in instances})
            raise InvalidInstances(
                f"the model expects {self.num_features} features per row; got rows of "
                f"{', '.join(map(str, widths[:5]))}"
            )
        if self._categorical and isinstance(first, list):
            self._refuse_boolean_categories(instances)
        return self.check_columns(matrix)

    def _refuse_boolean_categories(self, instances: Sequence[Row]) -> None:
        """numpy reads true as 1, which in a categorical column is a code: refused, as object
        rows refuse a boolean for a category. Only models with categorical features pay for
        this look at their columns."""
        columns = sorted(self._categorical)
        # The categorical values of every row, and their types, in C loops: most requests
        # hold no boolean, and a Python loop per value would cost a large body dearly.
        picked = map(itemgetter(*columns), instances)  # a value per row, or a tuple
        flat = chain.from_iterable(picked) if len(columns) > 1 else picked
        if bool not in set(map(type, flat)):
            return
        for row_number, row in enumerate(instances):
            for column in columns:
                if type(row[column]) is bool:  # type: ignore[index]
                    raise InvalidInstances(_boolean_category(row_number, column, self.features))

    @property
    def has_column_checks(self) -> bool:
        """Whether a matrix needs ``check_columns`` before it is predicted."""
        return bool(self._value_columns or self._code_columns or self._indicators)

    def check_columns(self, matrix: np.ndarray) -> np.ndarray:
        """Make a matrix of rows as numbers (``matrix_dtype``) ready for XGBoost: numeric
        categories (sent by value) become their codes, in place, every categorical column is
        checked to hold only codes of the model's categories, and every boolean column only
        1, 0 or missing (XGBoost answers any number in either). Raises ``InvalidInstances``
        for the first row that does not; a column encoded before it stays encoded. Returns
        the matrix as float32, a copy if it was float64."""
        for values in self._value_columns:
            values.encode(matrix)
        for codes in self._code_columns:
            codes.check(matrix)
        if self._indicators:
            self._indicators.check(matrix)
        if matrix.dtype == np.float32:
            return matrix
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, as numpy reads it
            return matrix.astype(np.float32)

    # -- prediction -------------------------------------------------------------------------

    def predict(
        self,
        matrix: np.ndarray,
        output: Output = "value",
        rounds: RoundsChoice | None = None,
    ) -> np.ndarray:
        """Predictions for ``output``; for ``label``, class indices (see ``LoadedModel``)."""
        end = self._default_end if rounds is None else self.rounds.end(rounds)
        if output in CLASSIFIER_OUTPUTS:
            refusal = self._classifier_refusal()
            if refusal is not None:
                raise InvalidInstances(f"output {output!r} is for classifiers: {refusal}")
        if output == "contributions":
            refusal = self._contributions_refusal()
            if refusal is not None:
                raise InvalidInstances(f"this model answers no contributions: {refusal}")
        try:
            if output == "probabilities":
                return self._probabilities(matrix, end)
            if output == "label":
                return self._labels(matrix, end)
            if output == "contributions" or self.linear:
                return self._predict_dmatrix(matrix, output, end)
            result = self._inplace[(output, end)](matrix)
        except xgboost.core.XGBoostError as exc:
            # Rows that passed validation but that XGBoost still refuses: the caller's input,
            # so a 422.
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else "refused"
            raise InvalidInstances(f"XGBoost refused the rows: {message}") from exc
        return result

    def _raw(self, matrix: np.ndarray, kind: Literal["value", "margin"], end: int) -> np.ndarray:
        if self.linear:
            return self._predict_dmatrix(matrix, kind, end)
        return self._inplace[(kind, end)](matrix)

    def _probabilities(self, matrix: np.ndarray, end: int) -> np.ndarray:
        """``XGBClassifier.predict_proba``, in the same float32 arithmetic."""
        if self.objective == "multi:softmax":
            margin = self._raw(matrix, "margin", end)
            shifted = np.exp(margin - margin.max(axis=1, keepdims=True))
            result: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
            return result
        value = self._raw(matrix, "value", end)
        if value.ndim == 2:
            return value
        # As _cls_predict_proba computes it; contiguous, as orjson serialises only that.
        return np.ascontiguousarray(np.vstack((1.0 - value, value)).transpose())

    def _labels(self, matrix: np.ndarray, end: int) -> np.ndarray:
        """``XGBClassifier.predict``: class indices; for a multi-label model (several binary
        targets), each target's, as it thresholds them."""
        value = self._raw(matrix, "value", end)
        if self.objective == "multi:softmax":
            return value.astype(np.int64)
        if self.num_targets > 1:
            return (value > 0.5).astype(np.int64)
        if value.ndim == 2:
            indices: np.ndarray = np.argmax(value, axis=1)
            return indices
        return (value > 0.5).astype(np.int64)

    def _predict_dmatrix(self, matrix: np.ndarray, output: Output, end: int) -> np.ndarray:
        categorical = bool(self._categorical)
        dmatrix = xgboost.DMatrix(
            matrix,
            missing=np.nan,
            feature_names=self.feature_names,
            feature_types=[feature.type for feature in self.features] if categorical else None,
            enable_categorical=categorical,
        )
        with self._dmatrix_lock:
            result: np.ndarray = self.booster.predict(
                dmatrix,
                output_margin=output == "margin",
                pred_contribs=output == "contributions",
                iteration_range=(0, end),
            )
        return result

    # -- rows as objects ----------------------------------------------------------------------

    def _matrix_from_objects(self, instances: Sequence[Row]) -> np.ndarray:
        if self.feature_names is None:
            raise InvalidInstances(
                "this model has no feature names: send rows as arrays of numbers"
            )
        column_of = self._columns_by_name()
        categorical = self._categorical
        # Absent features are missing values (NaN), which XGBoost routes natively; unknown
        # ones are refused, which also catches misspelt feature names.
        matrix = np.full((len(instances), self.num_features), np.nan, dtype=np.float32)
        for row_number, row in enumerate(instances):
            if not isinstance(row, Mapping):
                raise InvalidInstances("mix of array and object rows: use one form")
            if not row:  # a serialisation bug, far more often than a row of nothing known
                raise InvalidInstances(
                    f"row {row_number}: an empty object: name the features it has (one sent "
                    "as null is a missing value, as is one left out of a row that has others)"
                )
            for key, value in row.items():
                column = column_of.get(key)
                if column is None:
                    raise InvalidInstances(
                        f"row {row_number}: unknown feature {key[:64]!r}; the model's features "
                        f"are {', '.join(self.feature_names[:10])}"
                        + (", ..." if len(self.feature_names) > 10 else "")
                    )
                if value is None:
                    continue
                if column in categorical:
                    matrix[row_number, column] = self._code(column, value, row_number)
                elif isinstance(value, str):
                    raise InvalidInstances(
                        _string_for_number(row_number, self.features[column], value)
                    )
                else:
                    matrix[row_number, column] = value
        for codes in self._code_columns:  # a number sent for a category is its code
            codes.check(matrix)
        if self._indicators:
            self._indicators.check(matrix)
        return matrix

    def category_code(self, name: str, value: str) -> int | None:
        """The code of the category ``value`` of the categorical feature ``name``, if the
        model stores one of that name."""
        column = self.column_of(name)
        codes = self._codes.get(column) if column is not None else None
        return codes.get(value) if codes is not None else None

    def column_of(self, name: str) -> int | None:
        return self._columns_by_name().get(name)

    def _columns_by_name(self) -> dict[str, int]:
        """Each feature name's column (none without names), made on first use."""
        if self._column_of is None:
            self._column_of = {name: i for i, name in enumerate(self.feature_names or [])}
        return self._column_of

    def ambiguous_number(self, column: int, value: float) -> str | None:
        """Why ``value``, a number for the categorical feature in ``column``, cannot be read
        as a code there: a category of that feature is named by the same number (ratings
        "1".."5": 2 may mean "2" or code 2, which is "3"), which is what a frame read back
        with read_csv sends, and a code would answer silently for another category (XGBoost
        refuses such a frame for its dtype). None when a code is all it can be."""
        numbers = self._named_by_numbers.get(column)
        if numbers is None:
            categories = self.features[column].categories or ()
            numbers = {
                number: str(category)
                for category in categories
                if isinstance(category, str) and (number := _as_number(category)) is not None
            }
            self._named_by_numbers[column] = numbers
        named = numbers.get(value)
        if named is None:
            return None
        return (
            f"{_number_text(value)} is ambiguous: feature {self.features[column].name!r} has a "
            f"category named {named!r}, and a number here is a code; send the category by "
            f'name ("{named}"), or its code where rows are arrays'
        )

    def _code(self, column: int, value: Any, row_number: int) -> float:
        """The code XGBoost gave ``value`` of a categorical feature at training."""
        feature = self.features[column]
        if type(value) is bool:
            raise InvalidInstances(_boolean_category(row_number, column, self.features))
        codes = self._codes.get(column)
        if codes is None:
            if isinstance(value, str):
                raise InvalidInstances(
                    f"instances.{row_number}.{feature.name}: the feature is categorical but "
                    "the model "
                    "stores no categories (it was not trained from a pandas DataFrame with "
                    "XGBoost 3.1 or later): send the category's code, a number"
                )
            return float(value)
        if isinstance(value, str):
            # A category of numbers by its text ("30": what a V2 BYTES tensor of a pandas
            # category column holds) is that number.
            number = None if _is_text(feature) else _as_number(value)
            code = codes.get(value if number is None else number)
        elif _is_text(feature):
            # A number is a code, the category's position in the model's list, unless a
            # category is named by that number too.
            refusal = self.ambiguous_number(column, float(value))
            if refusal is not None:
                raise InvalidInstances(f"instances.{row_number}.{feature.name}: {refusal}")
            return float(value)
        else:
            code = codes.get(float(value))
        if code is not None:
            return float(code)
        # XGBoost (3.2) answers a category it never saw without an error, through the
        # estimator, Booster.predict and inplace_predict alike: at each categorical split it
        # takes the branch of the categories the split did not choose, which is neither the
        # missing-value answer nor any known category's. That silent answer hides a data bug
        # (a typo, a plan added after training), so the router refuses it; null is a missing
        # value for a caller who means one. tests/fidelity/test_categories.py pins both.
        raise InvalidInstances(
            f"instances.{row_number}.{feature.name}: the model has no category {value!r} for "
            f"feature {feature.name!r}; it knows {_show_categories(feature.categories or ())} "
            "(null is a missing value)"
        )


def _number_text(value: float) -> str:
    """A number as a category of text would name it: 2.0 as "2"."""
    return str(int(value)) if value.is_integer() else repr(value)


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _string_for_number(row_number: int, feature: Feature, value: str) -> str:
    where = f"instances.{row_number}.{str(feature.name)[:64]}"
    if feature.type == "i":
        return f"{where}: the feature is boolean and {value[:32]!r} is a string; send true or false"
    return f"{where}: the feature is numeric and {value[:32]!r} is a string; send a JSON number"


def _boolean_category(row_number: int, column: int, features: Sequence[Feature]) -> str:
    feature = features[column]
    name = feature.name if feature.name is not None else str(column)
    if not feature.categories:
        takes = "the category's code"
    elif _is_text(feature):
        takes = f"one of its categories ({_show_categories(feature.categories)}) or its code"
    else:  # numeric categories are sent by value, not by code
        takes = f"one of its categories ({_show_categories(feature.categories)})"
    return (
        f"instances.{row_number}.{name}: a boolean, but the feature is categorical: send "
        f"{takes}, or null for a missing value"
    )


def _is_text(feature: Feature) -> bool:
    return bool(feature.categories) and isinstance((feature.categories or ("",))[0], str)


def _show_categories(categories: tuple[Category, ...]) -> str:
    shown = ", ".join(repr(category) for category in categories[:20])
    return shown + (f" and {len(categories) - 20} more" if len(categories) > 20 else "")
