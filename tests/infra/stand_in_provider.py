"""A schema-only stand-in for the hashicorp/aws Terraform provider.

Terraform loads it through a CLI config ``provider_installation { dev_overrides { ... } }``
(see ``conftest.py``), so ``terraform validate`` runs offline. It speaks the plugin
protocol through the PyPI package ``tf``, answers ``GetProviderSchema`` from the JSON in
``aws_schema.json`` (derived from the real provider by ``scripts/derive_aws_schema.py``)
and accepts every configuration: unknown or missing arguments, wrong types and bad
references are all reported by Terraform itself, against that schema. It cannot plan or
apply anything.

Run as ``python stand_in_provider.py``; ``STAND_IN_SCHEMA`` may name another schema file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tf.gen import tfplugin_pb2 as pb
from tf.iface import Provider
from tf.runner import run_provider

if TYPE_CHECKING:
    from tf.utils import Diagnostics

SCHEMA_PATH = Path(os.environ.get("STAND_IN_SCHEMA", Path(__file__).with_name("aws_schema.json")))
PROVIDER_ADDRESS = "registry.terraform.io/hashicorp/aws"
NESTING = {
    "single": pb.Schema.NestedBlock.NestingMode.SINGLE,
    "list": pb.Schema.NestedBlock.NestingMode.LIST,
    "set": pb.Schema.NestedBlock.NestingMode.SET,
    "map": pb.Schema.NestedBlock.NestingMode.MAP,
    "group": pb.Schema.NestedBlock.NestingMode.GROUP,
}


def block_pb(block: dict[str, Any]) -> Any:
    """A ``pb.Schema.Block`` from the JSON of ``terraform providers schema -json``."""
    return pb.Schema.Block(
        attributes=[
            pb.Schema.Attribute(
                name=name,
                type=json.dumps(attribute["type"]).encode(),
                required=attribute.get("required", False),
                optional=attribute.get("optional", False),
                computed=attribute.get("computed", False),
                sensitive=attribute.get("sensitive", False),
                description_kind=pb.StringKind.PLAIN,
            )
            for name, attribute in sorted(block.get("attributes", {}).items())
        ],
        block_types=[
            pb.Schema.NestedBlock(
                type_name=name,
                block=block_pb(nested["block"]),
                nesting=NESTING[nested["nesting_mode"]],
                min_items=nested.get("min_items", 0),
                max_items=nested.get("max_items", 0),
            )
            for name, nested in sorted(block.get("block_types", {}).items())
        ],
        description_kind=pb.StringKind.PLAIN,
    )


class JsonSchema:
    """What ``tf`` expects of a schema: an object with ``to_pb()``."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema

    def to_pb(self) -> Any:
        version = self.schema.get("version", 0)
        return pb.Schema(version=version, block=block_pb(self.schema["block"]))


class _AcceptAll:
    """Resource and data source behaviour: validation is Terraform's, against the schema."""

    schema: dict[str, Any]
    type_name: str

    def __init__(self, provider: StandInProvider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return cls.type_name.removeprefix("aws_")

    @classmethod
    def get_schema(cls) -> JsonSchema:
        return JsonSchema(cls.schema)

    def validate(self, diags: Diagnostics, type_name: str, config: dict[str, Any]) -> None:
        """Accept: Terraform has already checked the config against the schema."""


def _kind(type_name: str, schema: dict[str, Any]) -> type[_AcceptAll]:
    # tf's Resource and DataSource protocols also demand CRUD methods that validation never
    # calls; tf only needs get_name, get_schema and validate, so duck typing is enough.
    return type(f"StandIn_{type_name}", (_AcceptAll,), {"type_name": type_name, "schema": schema})


class StandInProvider(Provider):  # type: ignore[misc]  # tf ships no type hints
    def __init__(self, schema_path: Path = SCHEMA_PATH) -> None:
        document = json.loads(schema_path.read_text(encoding="utf-8"))
        self.schemas: dict[str, Any] = document["provider_schemas"][PROVIDER_ADDRESS]

    def get_model_prefix(self) -> str:
        return "aws_"

    def full_name(self) -> str:
        return PROVIDER_ADDRESS

    def get_provider_schema(self, diags: Diagnostics) -> JsonSchema:
        return JsonSchema(self.schemas["provider"])

    def validate_config(self, diags: Diagnostics, config: dict[str, Any]) -> None:
        """Accept any provider configuration that matches the schema."""

    def configure_provider(self, diags: Diagnostics, config: dict[str, Any]) -> None:
        diags.add_error(
            "Schema-only stand-in",
            "This provider only answers schema requests for `terraform validate`; "
            "it cannot plan or apply.",
        )

    def get_resources(self) -> list[type[_AcceptAll]]:
        return [
            _kind(name, schema) for name, schema in sorted(self.schemas["resource_schemas"].items())
        ]

    def get_data_sources(self) -> list[type[_AcceptAll]]:
        return [
            _kind(name, schema)
            for name, schema in sorted(self.schemas["data_source_schemas"].items())
        ]


def main() -> None:
    run_provider(StandInProvider(), sys.argv)


if __name__ == "__main__":
    main()
