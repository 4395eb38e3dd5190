"""aws_schema.json, the stand-in provider's schema, covers exactly what terraform/ uses."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tests.infra.conftest import HERE

if TYPE_CHECKING:
    from tests.infra.hcl import Module

PROVIDER = "registry.terraform.io/hashicorp/aws"


def load_schema() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((HERE / "aws_schema.json").read_text())
    return document


def test_schema_covers_exactly_the_types_the_module_uses(module: Module) -> None:
    schemas = load_schema()["provider_schemas"][PROVIDER]

    def types(addresses: dict[str, Any]) -> set[str]:
        return {address.split(".")[0] for address in addresses}

    assert set(schemas["resource_schemas"]) == types(module.resources), (
        "run scripts/derive_aws_schema.py after changing the module's resource types"
    )
    assert set(schemas["data_source_schemas"]) == types(module.data)


def test_schema_comes_from_the_pinned_provider_release() -> None:
    origin = load_schema()["derived_from"]

    assert origin["npm_package"] == "@cdktn/provider-aws"
    assert origin["provider_versions"] == ["6.66.0"]
