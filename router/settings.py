"""Settings from ``ROUTER_*`` environment variables, with budgets derived from Lambda's.

Every budget is explicit: a memory budget for the model cache and time budgets for reload
checks and for waiting on a load. Defaults follow the environment the process runs in.

A plain pydantic model that reads the environment itself, as pydantic-settings would with
this configuration (prefix, names in any case, arguments over the environment): every value
is one string, which pydantic's lax mode converts. pydantic-settings and python-dotenv
would be imported on every cold start for that alone (docs/benchmarks.md). Annotations are
real objects, not ``from __future__`` strings, which pydantic would compile and evaluate one
by one at import.
"""

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Self, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from router.counts import parse_count

MIB = 1024 * 1024
GIB = 1024 * MIB
# What a Lambda function's process needs before any model: the interpreter, numpy, XGBoost,
# the app or step and its S3 client, through a first request, part or upload (the router's
# handler peaks at the figure docs/benchmarks.md records; tests/packaging holds each of the
# three functions under this), with room for Lambda's runtime client. The batch function,
# with its S3 client and a full part, needs the most. The budgets below share out only what
# is left, so that at the smallest memory Terraform allows a full cache still leaves room
# for the process.
LAMBDA_PROCESS_RESERVE_MIB = 144
# Share of what is left that the model cache may hold. The rest is for XGBoost's
# prediction buffers and request bodies.
LAMBDA_CACHE_FRACTION = 0.5
LAMBDA_MOUNT_PATH = Path("/mnt/models")
LOCAL_MODEL_ROOT = Path("model-store")
ENV_PREFIX = "ROUTER_"
# How the model cache picks what to keep (router.registry.cache).
CachePolicy: TypeAlias = Literal["tinylfu", "lru"]


def running_on_lambda() -> bool:
    return "AWS_LAMBDA_FUNCTION_NAME" in os.environ


def default_model_root() -> Path:
    return LAMBDA_MOUNT_PATH if running_on_lambda() else LOCAL_MODEL_ROOT


def default_cache_max_bytes() -> int:
    """On Lambda, half of the function's memory beyond the process's own; else 1 GiB."""
    spare_mib = _lambda_spare_mib()
    if spare_mib is not None:
        return int(spare_mib * MIB * LAMBDA_CACHE_FRACTION)
    return GIB


def default_inbox_max_bytes() -> int:
    """On Lambda, a quarter of the function's memory beyond the process's own; else 1 GiB:
    validating an upload holds it once in memory, XGBoost's copy of it, and the booster
    parsed from it."""
    spare_mib = _lambda_spare_mib()
    if spare_mib is not None:
        return spare_mib * MIB // 4
    return GIB


def _lambda_spare_mib() -> int | None:
    """The function's memory less the process's reserve (at least 1 MiB); None off Lambda
    or when the size is unreadable."""
    memory_mib = parse_count(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
    if not memory_mib:
        return None
    return max(memory_mib - LAMBDA_PROCESS_RESERVE_MIB, 1)


def environment_values(fields: set[str]) -> dict[str, str]:
    """The ``ROUTER_<FIELD>`` variables that name one of ``fields``, by field; the name's
    case does not matter."""
    found: dict[str, str] = {}
    for key, value in os.environ.items():
        name = key.lower()
        if name.startswith(ENV_PREFIX.lower()) and name[len(ENV_PREFIX) :] in fields:
            found[name[len(ENV_PREFIX) :]] = value
    return found


class Settings(BaseModel):
    """Router configuration; each field is read from ``ROUTER_<FIELD>``, unless given."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model_root: Path = Field(
        default_factory=default_model_root,
        description="Folder of models (the EFS mount on Lambda).",
    )
    cache_max_models: int = Field(default=32, ge=1, description="Most models kept loaded at once.")
    cache_max_bytes: int = Field(
        default_factory=default_cache_max_bytes,
        ge=MIB,
        description="Memory budget of loaded models, in bytes.",
    )
    cache_policy: CachePolicy = Field(
        default="tinylfu",
        description="Which models the cache keeps: tinylfu (LRU with TinyLFU admission) or lru.",
    )
    reload_interval_s: float = Field(
        default=2.0,
        ge=0,
        description="Seconds between checks of a loaded model's file; 0 checks on every request.",
    )
    settle_s: float = Field(
        # Longer than the pauses of a writer copying in place (rsync --inplace, dd
        # conv=notrunc), short enough that a hand-copied file is served within seconds.
        default=5.0,
        ge=0,
        description=(
            "Seconds a model file changed in place must stay unchanged before it is served; "
            "published and renamed-in files are served at once."
        ),
    )
    preload: tuple[str, ...] = Field(
        default=(), description="Comma-separated models to load at start-up."
    )
    max_rows: int = Field(default=10_000, ge=1, description="Most rows in one request.")
    max_body_bytes: int = Field(
        # Locally the bound of one body held in memory. On Lambda the whole event (the body
        # escaped or base64-encoded, plus headers) must fit the 6 MB invocation limit first,
        # so the largest body that arrives there is smaller (README, configuration table).
        default=6 * MIB,
        ge=1024,
        description="Largest request body, in bytes.",
    )
    load_wait_s: float = Field(
        # API Gateway gives up after 30 s; a request waiting longer for a load is wasted.
        default=25.0,
        gt=0,
        description="Longest a request waits for a model to load before a 503.",
    )
    nthread: int = Field(
        # One OpenMP thread: small batches gain nothing from more, and on 2 cores an idle
        # OpenMP worker spins at ~100% of a core.
        default=1,
        ge=1,
        description="XGBoost threads per prediction.",
    )
    log_level: str = Field(default="INFO", description="Log level.")
    request_log_sample: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Share of successful predictions that get a log line; failures always do.",
    )
    metrics_namespace: str = Field(
        default="ModelRouter", description="CloudWatch namespace for EMF metrics."
    )
    body_timeout_s: float = Field(
        # Long enough for the largest body over a slow link; a client that stops sending
        # half way then frees its connection and buffer (uvicorn has no body timeout).
        default=30.0,
        gt=0,
        description="Longest a request body may take to arrive before a 408.",
    )
    docs: bool = Field(
        # On Lambda every route is behind SigV4 or a token, which a browser's docs page
        # cannot send; the API Gateway routes for /docs are opt-in as well.
        default_factory=lambda: not running_on_lambda(),
        description="Serve /docs and /openapi.json (default: on locally, off on Lambda).",
    )
    inbox_max_bytes: int = Field(
        default_factory=default_inbox_max_bytes,
        ge=MIB,
        description="Largest model object the inbox function downloads; larger ones are rejected.",
    )
    history_limit: int = Field(
        default=5, ge=0, description="Earlier versions kept per model by `publish` to a folder."
    )
    batch_rows_per_part: int = Field(
        default=10_000, ge=1, description="Most rows in one part of a local batch job."
    )
    batch_bytes_per_part: int = Field(
        default=8 * MIB, ge=1024, description="Most input bytes in one part of a local batch job."
    )
    batch_parallelism: int = Field(
        default=1, ge=1, le=64, description="Parts of a local batch job predicted at once."
    )
    batch_state_machine_arn: str | None = Field(
        default=None,
        description="State machine that `model-router batch s3://...` starts (Terraform output).",
    )

    @model_validator(mode="before")
    @classmethod
    def _read_environment(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {**environment_values(set(cls.model_fields)), **data}
        return data

    @field_validator("preload", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @model_validator(mode="after")
    def _check_preload_fits(self) -> Self:
        if len(self.preload) > self.cache_max_models:
            raise ValueError(
                f"ROUTER_PRELOAD names {len(self.preload)} models but "
                f"ROUTER_CACHE_MAX_MODELS is {self.cache_max_models}"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once; tests build ``Settings(...)`` directly instead."""
    return Settings()
