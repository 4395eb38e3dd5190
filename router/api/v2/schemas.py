"""The Open Inference Protocol's REST bodies, as pydantic models: they document ``/v2`` in
the OpenAPI document and shape the metadata responses. Inference requests are parsed by
hand (``router.api.v2.infer``): their binary form is no JSON document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Parameters = dict[str, bool | int | float | str]


class ErrorResponse(BaseModel):
    error: str


class ServerLive(BaseModel):
    live: bool


class ServerReady(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class MetadataTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 stands for any number of rows.")


class ModelMetadata(BaseModel):
    name: str
    versions: list[str] = Field(description="Versions that can be pinned, newest first.")
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]
    parameters: dict[str, Any] | None = None


class RequestInput(BaseModel):
    name: str = Field(description="Any name for a [rows, features] tensor; else a feature.")
    shape: list[int]
    datatype: str = Field(examples=["FP32"])
    parameters: Parameters | None = Field(
        default=None, description='{"binary_data_size": n}: the data follows the JSON header.'
    )
    data: list[Any] | None = Field(default=None, description="Row-major, flat or nested.")


class RequestOutput(BaseModel):
    name: str
    parameters: Parameters | None = Field(
        default=None, description='{"binary_data": true}: returned as raw bytes.'
    )


class InferenceRequest(BaseModel):
    id: str | None = None
    parameters: Parameters | None = Field(
        default=None, description='{"binary_data_output": true}: every output as raw bytes.'
    )
    inputs: list[RequestInput]
    outputs: list[RequestOutput] | None = Field(
        default=None, description="Default: value, the prediction."
    )


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[Any] | None = None


class InferenceResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())  # the protocol's own field names

    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[ResponseOutput]
