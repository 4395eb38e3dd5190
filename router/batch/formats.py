"""Files in and out: CSV with a header row, or JSON Lines (one object per line).

Reading streams parts of bounded rows and bytes, so a file of any size needs the memory of
one part. Writing renders a part's predictions in the input's own format: the input's
columns that are not features pass through (an id, a label), then the prediction columns,
then the version of the model that made them.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import TYPE_CHECKING

import numpy as np
import orjson

from router.batch.errors import BatchInputInvalid
from router.batch.outputs import OUTPUT_COLUMNS, VERSION_COLUMN
from router.csv_cells import is_number

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from router.batch.part import InputFormat, PartResult, RawRow, Refused
    from router.xgb.loader import LoadedModel
    from router.xgb.outputs import Output

SUFFIXES: dict[str, InputFormat] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
REJECT_COLUMNS = ("row", "reason")
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def format_of(name: str) -> InputFormat:
    """The format of a file or S3 key, from its suffix."""
    lowered = name.lower()
    for suffix, fmt in SUFFIXES.items():
        if lowered.endswith(suffix):
            return fmt
    raise BatchInputInvalid(
        f"{name.rsplit('/', 1)[-1][:80]!r} is neither .csv nor .jsonl: name the input "
        "file by its format"
    )


# -- reading -------------------------------------------------------------------------------


def csv_parts(
    text: Iterator[str], *, rows_per_part: int, bytes_per_part: int, position: Callable[[], int]
) -> tuple[list[str], Iterator[list[RawRow]]]:
    """The header and the parts of a CSV file opened with ``newline=""``. ``position`` says
    how many bytes of the file have been read (read-ahead included): a part ends once it
    spans ``bytes_per_part`` of them."""
    reader = csv.DictReader(text)
    header = list(reader.fieldnames or [])
    if not header:
        raise BatchInputInvalid("the CSV file is empty: it needs a header row")

    def parts() -> Iterator[list[RawRow]]:
        part: list[RawRow] = []
        start = position()
        for number, row in enumerate(reader, start=1):
            part.append((number, row))
            if len(part) >= rows_per_part or position() - start >= bytes_per_part:
                yield part
                part, start = [], position()
        if part:
            yield part

    return header, parts()


def jsonl_parts(
    lines: Iterator[bytes], *, rows_per_part: int, bytes_per_part: int
) -> Iterator[list[RawRow]]:
    """Parts of a JSON Lines file; blank lines are skipped and not counted as rows."""
    part: list[RawRow] = []
    size = 0
    number = 0
    for line in lines:
        if not line.strip():
            continue
        number += 1
        part.append((number, json_row(line)))
        size += len(line)
        if len(part) >= rows_per_part or size >= bytes_per_part:
            yield part
            part, size = [], 0
    if part:
        yield part


# A line that is not a JSON object becomes a row that PartPredictor refuses, with the line.
UNPARSED_KEY = None


def json_row(line: bytes) -> dict[str | None, object]:
    reason = "the line is not a JSON object"
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        try:
            value = _with_nan(line)
        except _NotANumber as refused:
            return {UNPARSED_KEY: str(refused), "line": line[:1000].decode(errors="replace")}
        except ValueError:  # not JSON even so (UnicodeDecodeError is one)
            reason, value = f"not valid JSON ({exc.msg})", None
    if isinstance(value, dict):
        return value
    return {UNPARSED_KEY: reason, "line": line[:1000].decode(errors="replace")}


class _NotANumber(ValueError):
    pass


def _with_nan(line: bytes) -> object:
    """A line orjson refused, read as the API reads such a body: Python's ``json.dumps``
    writes ``NaN`` for a missing float (``json.dumps(row)`` of a pandas row does), which is
    a missing value; ``Infinity`` is no number a model can use."""

    def constant(name: str) -> None:
        if name == "NaN":
            return None
        raise _NotANumber(f"{name} is not a number a model can use; null is a missing value")

    def integer(text: str) -> int | float:
        # orjson writes rows back (rejects echo them) and holds 64 bits: beyond that an
        # integer is its float, infinite past a double's range, which rows refuse.
        value = int(text)
        return value if -(1 << 63) <= value < 1 << 64 else float(text)

    return json.loads(line, parse_constant=constant, parse_int=integer)


# -- columns -------------------------------------------------------------------------------


class OutputLayout:
    """The prediction columns of one model version and set of outputs.

    Their number is found by predicting one row of missing values: that covers every
    objective, class count and output without a table of XGBoost's shapes.
    """

    def __init__(self, model: LoadedModel, outputs: Sequence[Output]) -> None:
        self.version = model.version
        self.outputs = list(outputs)
        features = list(model.feature_names or [])
        probe = np.full((1, model.num_features), np.nan, dtype=np.float32)
        labels = model.metadata.class_labels
        self.columns: dict[str, list[str]] = {}
        for output in self.outputs:
            shape = model.predictor.predict(probe, output).shape[1:]
            self.columns[output] = _column_names(OUTPUT_COLUMNS[output], shape, labels, features)
        self.keys = {OUTPUT_COLUMNS[output] for output in self.outputs} | {VERSION_COLUMN}
        self.csv_columns = [name for names in self.columns.values() for name in names]
        self.csv_columns.append(VERSION_COLUMN)

    def check_csv_header(self, header: Sequence[str], features: Sequence[str]) -> list[str]:
        """The pass-through columns of a CSV header; refuses a header the job cannot use."""
        missing = [name for name in features if name not in header]
        if missing:
            shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
            raise BatchInputInvalid(
                f"the CSV header lacks {len(missing)} of the model's features: {shown}"
                + _header_hint(header, missing)
            )
        feature_set = set(features)
        passed = [name for name in header if name not in feature_set]
        clash = sorted(set(passed) & (set(self.csv_columns) | self.keys))
        if clash:
            raise BatchInputInvalid(
                f"input column {clash[0]!r} has the name of a prediction column; rename it"
            )
        if len(set(header)) != len(header):
            raise BatchInputInvalid("the CSV header names a column twice")
        return passed


def _header_hint(header: Sequence[str], missing: Sequence[str]) -> str:
    """What most likely went wrong with a header that lacks features: another separator
    (a European Excel's ';'), no header at all, or names spelt otherwise ('Age', ' age')."""
    if len(header) == 1 and any(mark in header[0] for mark in ";\t|"):
        return "; the header is one column: is the file separated by commas?"
    if header and all(is_number(column) for column in header):
        return "; the first line holds numbers: the file needs a header of feature names"
    spelt = {column.strip().casefold(): column for column in header}
    near = [
        f"{spelt[name.casefold()]!r} for {name!r}" for name in missing if name.casefold() in spelt
    ]
    if near:
        return f"; spelt otherwise in the header: {', '.join(near[:5])}"
    return ""


def _column_names(
    prefix: str, shape: tuple[int, ...], labels: list[str] | list[int] | None, features: list[str]
) -> list[str]:
    if not shape:
        return [prefix]
    if prefix == OUTPUT_COLUMNS["contributions"]:
        per_class = [*features, "bias"]
        if len(shape) == 1:
            return [f"{prefix}_{name}" for name in per_class]
        classes = _labels(shape[0], labels)
        return [f"{prefix}_{label}_{name}" for label in classes for name in per_class]
    return [f"{prefix}_{label}" for label in _labels(shape[-1], labels)]


def _labels(count: int, labels: list[str] | list[int] | None) -> list[str]:
    if labels and len(labels) == count:
        return [str(label) for label in labels]
    return [str(i) for i in range(count)]


# -- writing -------------------------------------------------------------------------------


def float_columns(array: np.ndarray) -> list[list[str]]:
    """The array's columns as text, the same shortest float32 text as the API's JSON."""
    rows = array.shape[0]
    if array.dtype.kind not in "fiub":  # text outputs (labels) are written as they are
        table = array.reshape(rows, -1)
        return [[str(value) for value in table[:, column]] for column in range(table.shape[1])]
    flat = orjson.dumps(np.ascontiguousarray(array).reshape(-1), option=_NUMPY)[1:-1]
    texts = flat.decode().replace("null", "").split(",") if rows else []
    width = len(texts) // rows if rows else 0
    return [texts[column::width] for column in range(width)]


def render_csv(result: PartResult, layout: OutputLayout, passed: Sequence[str]) -> str:
    """Data lines of a CSV part (the header is written once, by the job)."""
    if not result.accepted:
        return ""
    rows = [fields for _, fields in result.accepted]
    columns: list[Sequence[object]] = [[row.get(name, "") for row in rows] for name in passed]
    for output in layout.outputs:
        columns.extend(float_columns(result.predictions[output]))
    columns.append([layout.version] * len(rows))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(zip(*columns, strict=True))
    return buffer.getvalue()


def render_jsonl(result: PartResult, layout: OutputLayout, features: set[str]) -> bytes:
    if not result.accepted:
        return b""
    lines = []
    keys = [(output, OUTPUT_COLUMNS[output]) for output in layout.outputs]
    for index, (_, fields) in enumerate(result.accepted):
        record: dict[str, object] = {
            key: value for key, value in fields.items() if key is not None and key not in features
        }
        for output, key in keys:
            record[key] = result.predictions[output][index]
        record[VERSION_COLUMN] = layout.version
        lines.append(orjson.dumps(record, option=_NUMPY))
    return b"\n".join(lines) + b"\n" if lines else b""


def csv_header(columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(columns)
    return buffer.getvalue()


def render_csv_rejects(refused: Sequence[Refused], header: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in refused:
        writer.writerow([row.row, row.reason, *(_text(row.fields.get(name)) for name in header)])
    return buffer.getvalue()


def render_jsonl_rejects(refused: Sequence[Refused]) -> bytes:
    lines = [
        orjson.dumps(
            {
                "row": row.row,
                "reason": row.reason,
                "input": {key: value for key, value in row.fields.items() if key is not None},
            }
        )
        for row in refused
    ]
    return b"\n".join(lines) + b"\n" if lines else b""


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value)
