"""The Open Inference Protocol's REST bodies, as pydantic models: they document ``/v2`` in
the OpenAPI document and shape the metadata responses. Inference requests are parsed by
hand (``router.api.v2.infer``): their binary form is no JSON document."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Parameters = dict[str, bool | int | float | str]


class _Body(BaseModel):
    # Validators and serializers built on first use, not at import: no /models request,
    # and so no cold start, uses these.
    model_config = ConfigDict(defer_build=True)


class ErrorResponse(_Body):
    error: str


class ServerLive(_Body):
    live: bool


class ServerReady(_Body):
    ready: bool


class ModelReady(_Body):
    name: str
    ready: bool


class ServerMetadata(_Body):
    name: str
    version: str
    extensions: list[str]


class MetadataTensor(_Body):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 stands for any number of rows.")


class ModelMetadata(_Body):
    name: str
    versions: list[str] = Field(description="Versions that can be pinned, newest first.")
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]
    parameters: dict[str, Any] | None = None


class RequestInput(_Body):
    name: str = Field(description="Any name for a [rows, features] tensor; else a feature.")
    shape: list[int]
    datatype: str = Field(examples=["FP32"])
    parameters: Parameters | None = Field(
        default=None, description='{"binary_data_size": n}: the data follows the JSON header.'
    )
    data: list[Any] | None = Field(default=None, description="Row-major, flat or nested.")


class RequestOutput(_Body):
    name: str
    parameters: Parameters | None = Field(
        default=None, description='{"binary_data": true}: returned as raw bytes.'
    )


class InferenceRequest(_Body):
    id: str | None = None
    parameters: Parameters | None = Field(
        default=None, description='{"binary_data_output": true}: every output as raw bytes.'
    )
    inputs: list[RequestInput]
    outputs: list[RequestOutput] | None = Field(
        default=None, description="Default: value, the prediction."
    )


class ResponseOutput(_Body):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[Any] | None = None


class InferenceResponse(_Body):
    model_config = ConfigDict(protected_namespaces=())  # the protocol's own field names

    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[ResponseOutput]
