"""One part of a job: raw rows in, predictions and refused rows out.

A row is a mapping from column name to value, numbered from 1 in input order (the CSV header
is not a row). CSV rows hold strings, as both ``csv.DictReader`` and Step Functions' CSV item
reader give them; JSON Lines rows hold JSON values. Rows that cannot be predicted are
refused one by one, with the reason, and never fail the part.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Literal

import numpy as np

from router.csv_cells import BOOLEAN_TEXTS, MISSING_TEXTS, is_number
from router.errors import InvalidInstances
from router.xgb.limits import FLOAT32_MAX

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from router.xgb.loader import LoadedModel
    from router.xgb.outputs import Output

InputFormat = Literal["csv", "jsonl"]
_ROW_IN_BODY = re.compile(r"^instances\.\d+(?:\.[^:]*)?: ")
RawRow = tuple[int, "Mapping[str | None, object]"]
_MISSING_FIELDS = np.array(["", *sorted(MISSING_TEXTS)])
_TRUE_FIELDS = np.array([text for text, value in BOOLEAN_TEXTS.items() if value])
_FALSE_FIELDS = np.array([text for text, value in BOOLEAN_TEXTS.items() if not value])
REASON_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Refused:
    row: int
    reason: str
    fields: Mapping[str | None, object]


@dataclass(slots=True)
class PartResult:
    """Accepted rows in input order with one array per output, aligned with them."""

    accepted: list[RawRow] = field(default_factory=list)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    refused: list[Refused] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return len(self.accepted) + len(self.refused)


class RowRefused(ValueError):
    """Why one row cannot be predicted."""


def parse_csv_value(name: str, value: object) -> float:
    if value is None:  # csv.DictReader's filler for a short row
        raise RowRefused("the row has fewer fields than the header")
    if not isinstance(value, str):
        raise RowRefused(f"feature {name!r}: expected text from a CSV file")
    text = value.strip()
    if not text or text in MISSING_TEXTS:
        return math.nan  # an empty field is a missing value, as pandas writes NaN
    boolean = BOOLEAN_TEXTS.get(text)
    if boolean is not None:
        return boolean
    try:
        number = float(text)
    except ValueError:
        raise RowRefused(f"feature {name!r}: {text[:40]!r} is not a number") from None
    if math.isinf(number):
        raise RowRefused(f"feature {name!r}: {text[:40]!r} is not a finite number")
    if abs(number) > FLOAT32_MAX:
        raise RowRefused(f"feature {name!r}: {text[:40]!r} does not fit a 32-bit float")
    return number


def parse_json_value(name: str, value: object) -> float:
    if value is None:
        return math.nan
    # true and false are 1 and 0 (a bool is an int), as in the API's rows; the API refuses
    # "1.5", and so does batch.
    if not isinstance(value, int | float):
        kind = "a string" if isinstance(value, str) else type(value).__name__
        raise RowRefused(f"feature {name!r}: {kind} is not a JSON number")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits, as Python's json keeps one
        number = math.inf
    if math.isinf(number) or abs(number) > FLOAT32_MAX:
        raise RowRefused(f"feature {name!r}: {repr(value)[:40]} does not fit a 32-bit float")
    return number


class PartPredictor:
    """Predicts parts for one loaded model version, for a fixed set of outputs."""

    def __init__(
        self,
        model: LoadedModel,
        fmt: InputFormat,
        outputs: Sequence[Output],
        *,
        reserved: frozenset[str] = frozenset(),
    ) -> None:
        if model.feature_names is None:
            raise InvalidInstances(
                f"model {model.name!r} has no feature names: batch input names its columns, "
                "so publish the model with feature_names in its metadata"
            )
        self.model = model
        self.features = list(model.feature_names)
        self.outputs = list(outputs)
        labels = model.metadata.class_labels
        self._labels = np.array(labels, dtype=object) if labels else None
        self._parse = parse_csv_value if fmt == "csv" else parse_json_value
        self._csv = fmt == "csv"
        # JSON Lines keys vary by row: one named like a prediction column is refused.
        self._reserved = reserved
        # Categorical features whose model stores text categories: a category by value
        # ("pro") becomes its code, as the API's object rows encode it.
        self._text_codes: dict[str, dict[str, int]] = {
            feature.name: {str(c): code for code, c in enumerate(feature.categories)}
            for feature in model.predictor.features
            if feature.name is not None
            and feature.categories
            and all(isinstance(c, str) for c in feature.categories)
        }
        # Each categorical feature's column: as in the API, a boolean is no category (read
        # as 1 or 0, it would be a code), nor a number a category is named by.
        self._categorical_columns = {
            self.features[i]: i
            for i, feature in enumerate(model.predictor.features)
            if feature.categorical
        }
        names = self.features
        self._texts_of = itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)

    def predict(self, rows: Sequence[RawRow]) -> PartResult:
        result = PartResult()
        matrix = self._csv_matrix(rows) if self._csv else None
        if matrix is not None:
            result.accepted = list(rows)
        else:
            values: list[list[float]] = []
            for number, fields in rows:
                try:
                    values.append(self._row_values(fields))
                except RowRefused as exc:
                    result.refused.append(Refused(number, str(exc)[:REASON_LIMIT], fields))
                    continue
                result.accepted.append((number, fields))
            if not values:
                return result
            matrix = np.array(values, dtype=self.model.predictor.matrix_dtype)
        try:
            result.predictions = self._predict(matrix)
        except InvalidInstances:
            # XGBoost refused the part as a whole (e.g. a category outside a categorical
            # feature's range): find the rows it refuses, one at a time.
            return self._predict_row_by_row(result, matrix)
        return result

    def _csv_matrix(self, rows: Sequence[RawRow]) -> np.ndarray | None:
        """The part's matrix in one numpy conversion, when every row is well formed; None
        sends the part through the row-by-row path, which finds and explains the bad rows.
        Both paths give the same numbers: text to float64 (as ``float()``), then float32
        (after numeric categories are encoded, where they need float64).
        Not for a model with text categories: a field that reads as a number there may be a
        category's name (a zip code), which only the row-by-row path looks up."""
        if not rows or self._text_codes:
            return None
        texts_of = self._texts_of
        try:
            texts = np.array([texts_of(fields) for _, fields in rows], dtype=np.str_)
            # An empty field is a missing value, and so is what other tools write for one.
            texts[np.isin(texts, _MISSING_FIELDS)] = "nan"
            true, false = np.isin(texts, _TRUE_FIELDS), np.isin(texts, _FALSE_FIELDS)
            categorical = list(self._categorical_columns.values())
            if categorical and (true | false)[:, categorical].any():
                return None
            texts[true], texts[false] = "1", "0"
            matrix = texts.astype(np.float64)
        except (KeyError, ValueError, TypeError):
            return None  # a short row (None), a word, an absent column: explain row by row
        # Beyond float32's range (1e39) as well as infinite: the row path refuses both.
        if (np.abs(matrix) > FLOAT32_MAX).any() or any(None in fields for _, fields in rows):
            return None
        return matrix.astype(self.model.predictor.matrix_dtype)

    def _row_values(self, fields: Mapping[str | None, object]) -> list[float]:
        if None in fields:
            if self._csv:  # csv.DictReader's key for surplus fields
                raise RowRefused("the row has more fields than the header")
            raise RowRefused(str(fields[None]))  # a line that is not a JSON object
        if not self._csv and not self._reserved.isdisjoint(fields):
            clash = sorted(name for name in fields if name in self._reserved)[0]
            raise RowRefused(f"key {clash!r} has the name of a prediction column")
        if not self._csv and not any(name in fields for name in self.features):
            # {} or only pass-through keys: a bug upstream, as the API's {} row is.
            raise RowRefused(
                "the row names none of the model's features (one sent as null is a missing "
                "value, as is one left out of a row that has others)"
            )
        parse = self._parse
        if not self._categorical_columns:
            return [parse(name, fields.get(name)) for name in self.features]
        return [self._category_or(parse, name, fields.get(name)) for name in self.features]

    def _category_or(
        self, parse: Callable[[str, object], float], name: str, value: object
    ) -> float:
        """A category of ``name`` by value as its code; anything else as ``parse`` reads it
        (a number is a code, as in the API), but a boolean is no category's."""
        codes = self._text_codes.get(name)
        if codes is None or not isinstance(value, str):
            if name in self._categorical_columns and self._is_boolean(value):
                raise RowRefused(
                    f"feature {name!r}: a boolean, but the feature is categorical: send one "
                    "of its categories or its code"
                )
            return self._code_or_number(parse, name, value)
        text = value.strip() if self._csv else value
        code = codes.get(text)
        if code is not None:
            return float(code)
        if self._csv and (not text or text in MISSING_TEXTS or is_number(text)):
            return self._code_or_number(parse, name, value)
        known = ", ".join(list(codes)[:20])
        raise RowRefused(
            f"feature {name!r}: the model has no category {text[:40]!r}; it knows {known}"
        )

    def _code_or_number(
        self, parse: Callable[[str, object], float], name: str, value: object
    ) -> float:
        """``value`` as ``parse`` reads it; for a categorical feature a number is a code,
        refused as the API refuses it where a category is named by that number too."""
        number = parse(name, value)
        column = self._categorical_columns.get(name)
        if column is not None and not math.isnan(number):
            refusal = self.model.predictor.ambiguous_number(column, number)
            if refusal is not None:
                raise RowRefused(f"feature {name!r}: {refusal}")
        return number

    def _is_boolean(self, value: object) -> bool:
        if self._csv:
            return isinstance(value, str) and value.strip() in BOOLEAN_TEXTS
        return type(value) is bool

    def _predict(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        predictor = self.model.predictor
        if predictor.has_column_checks:
            # As the API's rows: numeric categories by value, only codes the model has and
            # only 1, 0 or missing for a boolean (XGBoost answers any number). On a copy:
            # when a row is refused, the part is predicted again row by row from the same
            # matrix.
            matrix = predictor.check_columns(matrix.copy())
        results: dict[str, np.ndarray] = {
            output: predictor.predict(matrix, output) for output in self.outputs
        }
        if "label" in results and self._labels is not None:
            # The model layer answers class indices; the API names them, and so does batch.
            results["label"] = self._labels[results["label"]]
        return results

    def _predict_row_by_row(self, result: PartResult, matrix: np.ndarray) -> PartResult:
        kept: list[RawRow] = []
        arrays: dict[str, list[np.ndarray]] = {output: [] for output in self.outputs}
        for index, (number, fields) in enumerate(result.accepted):
            try:
                one = self._predict(matrix[index : index + 1])
            except InvalidInstances as exc:
                # The API's words name the row in the body (always 0 here): the file's row
                # number is the reject's own column.
                reason = _ROW_IN_BODY.sub("", exc.detail, count=1)
                result.refused.append(Refused(number, reason[:REASON_LIMIT], fields))
                continue
            kept.append((number, fields))
            for output, array in one.items():
                arrays[output].append(array)
        result.refused.sort(key=lambda refused: refused.row)
        result.accepted = kept
        result.predictions = (
            {output: np.concatenate(parts) for output, parts in arrays.items()} if kept else {}
        )
        return result
