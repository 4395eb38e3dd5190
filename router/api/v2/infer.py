"""An inference request of the Open Inference Protocol, mapped onto the router's predictor.

Inputs take one of two forms, both onto the same feature matrix as ``/models`` rows:

- one 2-D numeric tensor ``[rows, features]`` in the model's feature order (any name: what
  tritonclient users and MLServer's NumPy codec send), like array rows;
- one 1-D tensor (``[rows]`` or ``[rows, 1]``) per feature, named by feature name (what
  MLServer's pandas codec sends for a DataFrame), like object rows: an absent feature is a
  missing value, an unknown one is refused.

A BOOL tensor is numbers, true 1 and false 0, as XGBoost reads a pandas bool column.

Outputs are the predictor's outputs by name (``OUTPUT_NAMES``: whatever
``router.xgb.outputs`` lists, so a new kind of output is served here by its name without a
change); the default is ``value``, the prediction. ``label`` is the class label (BYTES for text,
INT64 for whole numbers) when the model's class labels are known, else the class index, as
in ``/models``. The request's
``parameters.rounds`` is the ``rounds`` of ``/models`` (``best`` or ``all``).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast, get_args

import numpy as np
import orjson

from router.api.body import loads_with_nan
from router.api.v2.tensors import (
    BOOL,
    InputTensor,
    binary_data,
    datatype_of,
    decode_inputs,
    json_data,
    parameters_of,
)
from router.counts import parse_count
from router.errors import InvalidInstances, MalformedRequest
from router.xgb.metadata import RoundsChoice
from router.xgb.outputs import OUTPUTS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from router.xgb.loader import LoadedModel
    from router.xgb.predictor import Predictor, Row

OUTPUT_NAMES: tuple[str, ...] = OUTPUTS
ROUNDS: tuple[str, ...] = get_args(RoundsChoice)
DEFAULT_OUTPUT = "value"
HEADER_LENGTH = "inference-header-content-length"
# The types of values that hold strings, or may: a container without them holds none.
_MAY_HOLD_STRINGS = frozenset({str, dict, list})


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    name: str
    binary: bool


@dataclass(frozen=True, slots=True)
class InferRequest:
    id: str | None
    inputs: list[InputTensor]
    outputs: list[RequestedOutput]
    rounds: RoundsChoice | None = None


def encode_request(
    matrix: np.ndarray, *, binary: bool, outputs: tuple[str, ...] = (DEFAULT_OUTPUT,)
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of an infer request for the float32 rows ``matrix``, as tritonclient
    sends one: JSON tensors, or (``binary``) raw bytes after the JSON header with binary
    outputs asked for. For benchmarks and examples; the server never calls it."""
    rows = np.ascontiguousarray(matrix, dtype=np.float32)
    tensor: dict[str, Any] = {"name": "input", "shape": list(rows.shape), "datatype": "FP32"}
    if binary:
        tensor["parameters"] = {"binary_data_size": rows.nbytes}
    else:
        tensor["data"] = rows.ravel()
    wanted = [{"name": name, "parameters": {"binary_data": binary}} for name in outputs]
    header = orjson.dumps(
        {"inputs": [tensor], "outputs": wanted}, option=orjson.OPT_SERIALIZE_NUMPY
    )
    if not binary:
        return header, {"Content-Type": "application/json"}
    return header + rows.tobytes(), {"Inference-Header-Content-Length": str(len(header))}


def parse_infer_request(
    body: bytes, header_length: str | None, *, max_rows: int, content_type: str | None = None
) -> InferRequest:
    """Split the body at ``Inference-Header-Content-Length`` (binary tensor data extension),
    whatever the Content-Type, and decode the JSON header and the tensors."""
    binary: memoryview | None = None
    header = body
    if header_length is not None:
        split = parse_count(header_length)
        if split is None or split > len(body):
            raise MalformedRequest(
                f"Inference-Header-Content-Length {header_length[:32]!r} must be a byte count "
                f"no larger than the body ({len(body)} bytes)"
            )
        header, binary = body[:split], memoryview(body)[split:]
    if not header:
        raise MalformedRequest('the body is empty: send {"inputs": [...]}')
    try:
        document = orjson.loads(header)
    except orjson.JSONDecodeError as exc:
        # tritonclient sends a NumPy NaN of JSON data as NaN (Python's json.dumps): read as
        # null, a missing value, as the native body reads it.
        try:
            document = loads_with_nan(header, exc, integers_as_floats=False)
        except MalformedRequest:
            raise _not_json(header, exc, header_length, content_type) from exc
    if not isinstance(document, dict):
        raise InvalidInstances('the inference request must be a JSON object: {"inputs": [...]}')
    _refuse_duplicate_keys(header, document)
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise MalformedRequest("id must be a string")
    inputs = decode_inputs(document.get("inputs"), binary, max_rows=max_rows)
    rounds = parameters_of(document, "the request").get("rounds")
    if rounds is not None and rounds not in ROUNDS:
        raise InvalidInstances(f"parameters.rounds must be one of {', '.join(ROUNDS)}")
    return InferRequest(request_id, inputs, _requested_outputs(document), rounds)


def _not_json(
    header: bytes,
    error: orjson.JSONDecodeError,
    header_length: str | None,
    content_type: str | None,
) -> MalformedRequest:
    """Why the JSON header is no JSON, in the words of the mistake: a binary request sent
    without Inference-Header-Content-Length is JSON followed by tensor bytes, which orjson
    calls "str is not valid UTF-8: surrogates not allowed" or "unexpected content"."""
    if header_length is not None:
        return MalformedRequest(
            f"the JSON header (its first {len(header)} bytes, as "
            f"Inference-Header-Content-Length says) is not valid JSON: {error}"
        )
    if _is_octet_stream(content_type) or _json_then_more(header, error):
        return MalformedRequest(
            "the body is not JSON, and the request has no Inference-Header-Content-Length "
            "header: a binary request (the binary tensor data extension) needs it, the length "
            "in bytes of the JSON before the tensors' bytes"
        )
    return MalformedRequest(f"the inference request is not valid JSON: {error}")


def _is_octet_stream(content_type: str | None) -> bool:
    media_type = (content_type or "").partition(";")[0].strip().lower()
    return media_type == "application/octet-stream"


def _json_then_more(body: bytes, error: orjson.JSONDecodeError) -> bool:
    """Whether the body is bytes that are no text, or a JSON document with more after it:
    tensor bytes after a JSON header. Only for a body orjson refused."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return True
    if not 0 < error.pos < len(text):
        return False
    try:
        orjson.loads(text[: error.pos])  # the position counts characters, not bytes
    except orjson.JSONDecodeError:
        return False
    return True


def _refuse_duplicate_keys(header: bytes, document: dict[str, Any]) -> None:
    """Refuse a key twice in one object (``{"inputs": [...], "inputs": [...]}``): orjson
    keeps the last one silently, and parsers disagree on which wins, so a proxy or gateway
    that checked the request may have read another one.

    As ``/models`` does it (``router.api.body``): every string of the text is a key or a
    value of the parse, except the key and the strings of a pair a repeated key overwrote.
    So the text holds more strings than the parse exactly when a key was repeated. A string
    is two unescaped quotes: drop escaped backslashes (pairs, left to right), then every
    ``\\"`` left is an escaped quote. A few scans of the header, and one walk of the parse.
    """
    quotes = header.count(b'"')
    if b"\\" in header:  # one byte, found as fast as memchr; most headers hold none
        text = header.replace(b"\\\\", b"")
        quotes = text.count(b'"') - text.count(b'\\"')
    if quotes != 2 * _strings_in(document):
        raise MalformedRequest(
            "a key appears twice in one object of the inference request; send each key once"
        )


def _strings_in(document: dict[str, Any]) -> int:
    """The strings a parsed document holds, keys included. A container's values are looked
    at by type, in C: tensor data is long lists of numbers, which only the first look sees."""
    count = 0
    pending: list[dict[str, Any] | list[Any]] = [document]
    while pending:
        item = pending.pop()
        values = list(item.values()) if isinstance(item, dict) else item
        if isinstance(item, dict):
            count += len(item)
        if _MAY_HOLD_STRINGS.isdisjoint(map(type, values)):
            continue
        types = Counter(map(type, values))
        count += types[str]
        if types[dict] or types[list]:
            pending.extend(value for value in values if type(value) in (dict, list))
    return count


def _requested_outputs(document: dict[str, Any]) -> list[RequestedOutput]:
    binary_default = parameters_of(document, "the request").get("binary_data_output", False)
    if not isinstance(binary_default, bool):
        raise MalformedRequest("parameters.binary_data_output must be true or false")
    requested = document.get("outputs")
    if requested is None:
        return [RequestedOutput(DEFAULT_OUTPUT, binary_default)]
    if not isinstance(requested, list) or not requested:
        raise InvalidInstances('"outputs" must be a non-empty array of {"name": ...}')
    outputs: list[RequestedOutput] = []
    for position, output in enumerate(requested):
        name = output.get("name") if isinstance(output, dict) else None
        if not isinstance(name, str):
            raise InvalidInstances(f"outputs.{position} must be an object with a name")
        if name not in OUTPUT_NAMES:
            raise InvalidInstances(
                f"unknown output {name[:64]!r}; the outputs are {', '.join(OUTPUT_NAMES)}"
            )
        if any(requested.name == name for requested in outputs):
            raise MalformedRequest(f"output {name!r} is requested twice")
        parameters = parameters_of(output, f"output {name!r}")
        if "classification" in parameters or any(k.startswith("shared_memory") for k in parameters):
            raise MalformedRequest(
                f"output {name!r}: the classification and shared memory extensions are not "
                "supported; request the outputs by name"
            )
        binary = parameters.get("binary_data", binary_default)
        if not isinstance(binary, bool):
            raise MalformedRequest(f"output {name!r}: binary_data must be true or false")
        outputs.append(RequestedOutput(name, binary))
    return outputs


def input_matrix(inputs: list[InputTensor], predictor: Predictor) -> np.ndarray:
    """The predictor's float32 feature matrix (NaN is a missing value), built by the same
    ``Predictor.matrix`` as ``/models`` rows: array rows for one [rows, features] tensor,
    object rows for tensors named by feature."""
    names = predictor.feature_names or []
    by_feature = all(tensor.name in names and _is_column(tensor) for tensor in inputs)
    if any(tensor.datatype == BOOL for tensor in inputs):
        _refuse_boolean_categories(inputs, predictor, by_feature=by_feature)
    if by_feature:
        rows = _object_rows(inputs, predictor)
    elif names and _meant_by_feature(inputs, predictor):
        raise InvalidInstances(_unknown_features(inputs, names))
    elif len(inputs) == 1:
        rows = _array_rows(inputs[0], predictor)
    else:
        raise InvalidInstances(
            f"{len(inputs)} inputs: send one [rows, {predictor.num_features}] tensor, or one "
            "1-D tensor per feature named by the feature"
            + (f" ({', '.join(names[:10])}{', ...' if len(names) > 10 else ''})" if names else "")
        )
    try:
        matrix = predictor.matrix(rows)
    except InvalidInstances as exc:
        raise _in_tensor_words(exc, None if by_feature else inputs[0].name) from exc
    if np.isinf(matrix).any():
        raise InvalidInstances("a value is infinite, or too large for the model's float32 features")
    return matrix


def _meant_by_feature(inputs: list[InputTensor], predictor: Predictor) -> bool:
    """1-D tensors meant one per feature: several of them, or one named almost as a
    feature is (a single one named otherwise is a [rows, features] tensor of a wrong shape,
    which the shape's own message explains)."""
    names = predictor.feature_names or []
    if not all(_is_column(tensor) for tensor in inputs):
        return False
    if len(inputs) > 1:
        return True
    return predictor.num_features > 1 and _likely_feature(inputs[0].name, names) is not None


def _likely_feature(name: str, names: list[str]) -> str | None:
    """The feature ``name`` most likely meant: the same but for case (a DataFrame column
    spelt ``Age`` for ``age``), else the closest spelling."""
    folded = {feature.casefold(): feature for feature in names}
    return folded.get(name.casefold()) or next(
        iter(difflib.get_close_matches(name, names, n=1)), None
    )


def _unknown_features(inputs: list[InputTensor], names: list[str]) -> str:
    """Which input names are no feature, each with the feature it most likely meant."""
    unknown = [tensor.name for tensor in inputs if tensor.name not in names]
    described = []
    for name in unknown[:5]:
        guess = _likely_feature(name, names)
        described.append(f"{name[:64]!r}" + (f" (did you mean {guess!r}?)" if guess else ""))
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    subject = "inputs" if len(unknown) > 1 else "input"
    verb = "name" if len(unknown) > 1 else "names"
    return (
        f"{subject} {', '.join(described)} {verb} no feature of the model: send one 1-D "
        f"tensor per feature, named by the feature ({shown})"
    )


# Where the predictor's refusals point, in the words of /models bodies: a row of
# "instances", and a feature of it (router.xgb words them; V2 rewords them, here only).
_ROW_PREFIX = re.compile(r"instances\.(\d+)(?:\.(.+?))?: ")
_TENSOR_WORDS = (
    ("a category by value in object rows", "a category by value in a BYTES tensor named by "
     "the feature"),
    ("or its code where rows are arrays", "or its code in a numeric tensor"),
    ("; send a JSON number", "; send numbers"),
)  # fmt: skip


def _in_tensor_words(error: InvalidInstances, tensor: str | None) -> InvalidInstances:
    """The predictor's refusal, ``instances.3.plan: ...``, as ``input 'plan', row 3: ...``
    for tensors named by feature (``tensor`` None), or ``input 'x', row 3, feature 'plan':
    ...`` for the one [rows, features] tensor ``x``."""
    detail = error.detail
    match = _ROW_PREFIX.match(detail)
    if match is not None:
        row, feature = match.groups()
        if tensor is not None:
            where = f"input {tensor[:64]!r}, row {row}"
            where += f", feature {feature!r}" if feature is not None else ""
        else:
            where = f"input {feature!r}, row {row}" if feature is not None else f"row {row}"
        detail = f"{where}: {detail[match.end() :]}"
    for models_words, tensor_words in _TENSOR_WORDS:
        detail = detail.replace(models_words, tensor_words)
    return InvalidInstances(detail)


def _refuse_boolean_categories(
    inputs: list[InputTensor], predictor: Predictor, *, by_feature: bool
) -> None:
    """A BOOL tensor is numbers 1 and 0 by the time the predictor sees it, which in a
    categorical column are codes: refused, as ``/models`` rows refuse a boolean category.
    Tensors named by feature each cover their feature; a [rows, features] tensor covers
    every feature, whatever its name."""
    categorical = [str(f.name) for f in predictor.features if f.categorical]
    for tensor in inputs:
        if tensor.datatype != BOOL or not categorical:
            continue
        covered = [tensor.name] if by_feature else categorical
        hit = next((name for name in covered if name in categorical), None)
        if hit is not None:
            raise InvalidInstances(
                f"input {tensor.name[:64]!r} is BOOL, but feature {hit[:64]!r} is "
                "categorical: send its categories as BYTES or its codes as numbers"
            )


def _is_column(tensor: InputTensor) -> bool:
    return len(tensor.shape) == 1 or (len(tensor.shape) == 2 and tensor.shape[1] == 1)


def _numbers(values: np.ndarray, predictor: Predictor) -> np.ndarray:
    """A tensor's numbers as the predictor reads rows: float32, or float64 where a numeric
    category needs it (a product id of 100000001 is 100000000 in float32)."""
    with np.errstate(over="ignore"):  # overflow becomes inf, which input_matrix refuses
        return values.astype(predictor.matrix_dtype)


def _array_rows(tensor: InputTensor, predictor: Predictor) -> Sequence[Row]:
    """A [rows, features] tensor as array rows: views, one a row, which the predictor
    stacks in one copy."""
    num_features = predictor.num_features
    if tensor.datatype == "BYTES":
        raise InvalidInstances(
            f"input {tensor.name[:64]!r} is BYTES: category values go in one 1-D tensor per "
            "feature named by the feature; a [rows, features] tensor holds numbers"
        )
    if len(tensor.shape) != 2 or tensor.shape[1] != num_features:
        raise InvalidInstances(
            f"input {tensor.name[:64]!r} has shape {list(tensor.shape)}; the model expects "
            f"[rows, {num_features}], or one 1-D tensor per feature named by the feature"
        )
    if tensor.shape[0] == 0:
        raise InvalidInstances("the inputs hold no rows: send at least one")
    return cast("Sequence[Row]", list(_numbers(tensor.values, predictor).reshape(tensor.shape)))


def _object_rows(inputs: list[InputTensor], predictor: Predictor) -> Sequence[Row]:
    """Tensors named by feature as object rows: an absent feature is a missing value, as in
    ``/models`` object rows."""
    lengths = {tensor.shape[0] for tensor in inputs}
    if len(lengths) != 1:
        raise InvalidInstances(f"the feature tensors have different lengths: {sorted(lengths)}")
    if lengths == {0}:
        raise InvalidInstances("the inputs hold no rows: send at least one")
    names = [tensor.name for tensor in inputs]
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise InvalidInstances(f"feature {twice[:64]!r} is sent twice")
    # BYTES columns keep their strings: the predictor encodes category values by name
    # exactly as for ``/models`` object rows ("plan": "pro").
    columns = [
        _category_values(tensor.values.tolist(), tensor.name, predictor)
        if tensor.datatype == "BYTES"
        else _numbers(tensor.values, predictor).tolist()
        for tensor in inputs
    ]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


# What a BYTES element holds for a missing value: tritonclient sends str() of an object
# array's None or NaN, pandas writes "" or <NA>, other tools NA or NULL.
_MISSING_BYTES = frozenset({"", "None", "nan", "NaN", "<NA>"})


def _category_values(values: list[str | None], name: str, predictor: Predictor) -> list[str | None]:
    """A categorical feature's BYTES column: a text that stands for a missing value (str()
    of None, NaN or pandas' NA, as tritonclient writes an object array, or an empty one) is
    missing, unless the model has a category of that name. Other features' columns are as
    they came: the predictor refuses text for a number, saying so."""
    column = predictor.column_of(name)
    if column is None or not predictor.features[column].categorical:
        return values
    return [
        None if value in _MISSING_BYTES and predictor.category_code(name, value) is None else value
        for value in values
    ]


def compute_outputs(
    model: LoadedModel, matrix: np.ndarray, request: InferRequest
) -> list[np.ndarray]:
    """Each requested output, computed by the model's predictor from one matrix."""
    predictor = model.predictor
    labels = model.metadata.class_labels
    results = []
    for output in request.outputs:
        # The names were checked against OUTPUT_NAMES, the Output literal's values.
        result = predictor.predict(matrix, output.name, request.rounds)  # type: ignore[arg-type]
        if output.name == "label" and labels:  # class indices, as LoadedModel.predict maps them
            # Text labels are a BYTES tensor, whole numbers an INT64 one.
            kind = object if isinstance(labels[0], str) else np.int64
            result = np.asarray(labels, dtype=kind)[result]
        results.append(result)
    return results


def infer_response(
    name: str, model: LoadedModel, request: InferRequest, results: list[np.ndarray]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it."""
    described: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for output, result in zip(request.outputs, results, strict=True):
        tensor: dict[str, Any] = {
            "name": output.name,
            "datatype": datatype_of(result),
            "shape": list(result.shape),
        }
        if output.binary:
            raw = binary_data(result)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = json_data(result)
        described.append(tensor)
    document: dict[str, Any] = {"model_name": name, "model_version": model.version}
    if request.id is not None:
        document["id"] = request.id
    document["outputs"] = described
    header = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)
