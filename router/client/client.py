"""``RouterClient``: predictions from a router, local or behind API Gateway, as typed results."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import orjson

import router
from router.client.auth import Auth, NoAuth
from router.client.errors import ClientError, RequestFailed
from router.client.rows import predict_body
from router.client.transport import RetryPolicy, Transport, retry_after_s

if TYPE_CHECKING:
    from collections.abc import Callable

    from router.client.transport import HttpResponse
    from router.xgb.outputs import Output

Rounds = Literal["best", "all"]
DEFAULT_TIMEOUT_S = 30.0  # API Gateway's HTTP API gives up on an integration after 30 s


@dataclass(frozen=True, slots=True)
class Prediction:
    """The answer of ``POST /models/{name}/predict``: one prediction per row, in order."""

    model: str
    version: str  # the first 12 hex digits of the model file's SHA-256
    output: str
    predictions: list[Any]
    classes: tuple[str | int, ...] | None = None
    # The boosting rounds that answered (best_iteration + 1 after early stopping); None
    # from a router that does not say.
    rounds: int | None = None

    def to_numpy(self) -> np.ndarray:
        """The predictions as float32, the precision XGBoost computed them in; for
        ``label``, the labels (text or whole numbers, as the model's metadata gives them; class
        indices when it has none)."""
        if self.output == "label":
            return np.asarray(self.predictions)
        return np.asarray(self.predictions, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """One entry of ``GET /models``."""

    name: str
    loaded: bool
    version: str | None
    last_error: str | None
    stale: bool = False  # the file on disk is not the loaded version (an older router: False)


@dataclass(frozen=True, slots=True)
class Feature:
    """One input feature of a model, as ``GET /models/{name}`` lists it."""

    name: str | None
    type: str  # XGBoost's: float, int, i (a boolean), c (categorical), q
    categories: tuple[str | float, ...] | None = None  # a categorical feature's, in order


class RouterClient:
    """A client of one router: ``RouterClient("https://<api>.execute-api.<region>.amazonaws.com",
    auth=SigV4())``, or a local ``http://127.0.0.1:8000`` without auth.

    Safe to share between threads (each keeps its own connection); ``close`` or a ``with``
    block closes the calling thread's.
    """

    def __init__(
        self,
        url: str,
        *,
        auth: Auth | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``sleep`` waits between retries (tests pass one that records)."""
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._transport = Transport(
            url,
            auth or NoAuth(),
            timeout_s,
            retry or RetryPolicy(),
            user_agent=f"model-router-client/{router.__version__}",
            sleep=sleep,
        )

    @property
    def url(self) -> str:
        return self._transport.base_url

    def predict(
        self,
        name: str,
        instances: object,
        *,
        output: Output = "value",
        rounds: Rounds | None = None,
    ) -> Prediction:
        """Predict with model ``name`` on ``instances``: a 2-D numpy array, a DataFrame, or
        a list of rows (lists of numbers, or mappings of feature name to number or, for a
        categorical feature, to its category). ``output`` and ``rounds`` are the API's
        (see README "API"); ``rounds=None`` leaves the model's default."""
        body = predict_body(instances, output, rounds)
        document = self._json(
            self._transport.request(
                "POST", f"/models/{_path_name(name)}/predict", body, "application/json"
            )
        )
        try:
            classes = document.get("classes")
            return Prediction(
                model=document["model"],
                version=document["version"],
                output=document["output"],
                predictions=document["predictions"],
                classes=tuple(classes) if classes is not None else None,
                rounds=document.get("rounds"),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ClientError(f"not a prediction from a router: {sorted(document)}") from exc

    def models(self) -> list[ModelSummary]:
        """Every model in the router's store, loaded or not."""
        document = self._json(self._transport.request("GET", "/models"))
        try:
            return [
                ModelSummary(
                    m["name"],
                    m["loaded"],
                    m.get("version"),
                    m.get("last_error"),
                    bool(m.get("stale", False)),
                )
                for m in document["models"]
            ]
        except (KeyError, TypeError) as exc:
            raise ClientError("not a model list from a router") from exc

    def features(self, name: str) -> list[Feature]:
        """Model ``name``'s input features, in order (the router loads it if needed)."""
        document = self._json(self._transport.request("GET", f"/models/{_path_name(name)}"))
        if document.get("features") is None and "last_error" in document:
            # The model is listed but no version of it loads: the detail says why.
            raise ClientError(f"model {name!r} did not load: {document.get('last_error')}")
        try:
            return [
                Feature(
                    f.get("name"),
                    f["type"],
                    tuple(f["categories"]) if f.get("categories") is not None else None,
                )
                for f in document["features"]
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ClientError(f"not a model's detail from a router: {sorted(document)}") from exc

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> RouterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _json(self, response: HttpResponse) -> dict[str, Any]:
        if response.status >= 400:
            raise _failure(response, self._transport.clock())
        try:
            document = orjson.loads(response.body)
        except orjson.JSONDecodeError as exc:
            raise ClientError(
                f"the answer ({response.status}) is not JSON: {response.body[:200]!r}"
            ) from exc
        if not isinstance(document, dict):
            raise ClientError(f"the answer ({response.status}) is not a JSON object")
        return document


def _path_name(name: str) -> str:
    from urllib.parse import quote

    if not name:
        raise ValueError("the model name is empty")
    return quote(name, safe="")


def _failure(response: HttpResponse, now: float) -> RequestFailed:
    """A ``RequestFailed`` from an error response: the router's problem+json, API Gateway's
    ``{"message": ...}``, or only the status."""
    from http import HTTPStatus

    try:
        phrase = HTTPStatus(response.status).phrase
    except ValueError:
        phrase = "Error"
    title, detail, problem_type = phrase, phrase, None
    try:
        document = orjson.loads(response.body) if response.body else None
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, dict):
        if isinstance(document.get("detail"), str):  # RFC 9457, as the router answers
            title = str(document.get("title") or phrase)
            detail = document["detail"]
            problem_type = document.get("type")
        elif isinstance(document.get("message"), str):  # API Gateway's own refusals
            detail = document["message"]
    return RequestFailed(
        response.status,
        title,
        detail,
        type=problem_type if isinstance(problem_type, str) else None,
        request_id=response.headers.get("apigw-requestid"),
        retry_after_s=retry_after_s(response.headers.get("retry-after"), now),
    )
