"""Derive the AWS provider schema subset that `tests/infra` validates `terraform/` against.

The source is the npm package ``@cdktn/provider-aws``, generated from hashicorp/aws 6.66.0:
each ``lib/<type>/index.js`` names the Terraform attributes of one resource or data source,
with comments ``// <name> - computed: <bool>, optional: <bool>, required: <bool>``, typed
getters, and ``*ToHclTerraform`` functions that say which attributes are nested blocks and
how they nest. This script reads those for exactly the resource and data source types that
``terraform/*.tf`` uses, plus the provider's own configuration block, and writes them in
the shape of ``terraform providers schema -json``.

Regenerate after adding a resource type to ``terraform/``::

    npm install --prefix /tmp/cdktn --no-save --ignore-scripts --legacy-peer-deps \\
        @cdktn/provider-aws@25.7.0
    python scripts/derive_aws_schema.py --package /tmp/cdktn/node_modules/@cdktn/provider-aws

Only the standard library is needed, so the script runs without the project's venv.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODULE = REPO / "terraform"
DEFAULT_OUTPUT = REPO / "tests" / "infra" / "aws_schema.json"
PROVIDER_ADDRESS = "registry.terraform.io/hashicorp/aws"

# `resource "aws_x" "name" {` and `data "aws_x" "name" {` at the start of a line.
BLOCK_TYPE_RE = re.compile(r'^(resource|data)\s+"(aws_[a-z0-9_]+)"\s+"[^"]+"', re.MULTILINE)
CLASS_RE = re.compile(r"^class (\w+) extends cdktn\.(\w+) \{$", re.MULTILINE)
FLAGS_RE = re.compile(
    r"^ {4}// (\w+) - computed: (true|false), optional: (true|false), required: (true|false)$",
    re.MULTILINE,
)
GETTER_RE = re.compile(r"get \w+\(\) \{\n\s+return (.+?);\n", re.DOTALL)
HCL_ENTRY_RE = re.compile(
    r"(\w+): \{\s+value: .+?,\s+isBlock: (true|false),\s+"
    r'type: "(\w+)",\s+storageClassType: "(\w+)",\s+\}',
    re.DOTALL,
)
VERSION_RE = re.compile(r"providerVersion: '([0-9.]+)'")

Type = str | list[Any]

# storageClassType of a plain (non-block) attribute -> its element type and nesting.
STORAGE_TYPES: dict[str, Type] = {
    "string": "string",
    "number": "number",
    "boolean": "bool",
    "any": "dynamic",
    "stringMap": ["map", "string"],
    "numberMap": ["map", "number"],
    "booleanMap": ["map", "bool"],
    "stringMapMap": ["map", ["map", "string"]],
    "stringListMap": ["map", ["list", "string"]],
}
LIST_ELEMENT_TYPES: dict[str, Type] = {
    "stringList": "string",
    "numberList": "number",
    "booleanList": "bool",
    "stringMapList": ["map", "string"],
    "stringListList": ["list", "string"],
}


class SchemaError(Exception):
    """The generated JavaScript does not look the way this script expects."""


@dataclass(frozen=True)
class Flags:
    computed: bool
    optional: bool
    required: bool

    @property
    def configurable(self) -> bool:
        return self.optional or self.required


@dataclass(frozen=True)
class HclEntry:
    is_block: bool
    kind: str  # simple, list, set, map or struct
    storage: str


@dataclass(frozen=True)
class Member:
    """One attribute or block of a class, as its comment and getter describe it."""

    name: str
    flags: Flags
    getter: str
    segment: str


class JsModule:
    """The generated ``index.js`` of one resource, data source or the provider."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_text(encoding="utf-8")
        self.classes: dict[str, tuple[str, str]] = {}
        for match in CLASS_RE.finditer(self.text):
            end = self.text.find("\n}\n", match.end())
            self.classes[match.group(1)] = (match.group(2), self.text[match.end() : end])

    def main_class(self) -> str:
        for name, (base, _) in self.classes.items():
            if base in {"TerraformResource", "TerraformDataSource", "TerraformProvider"}:
                return name
        raise SchemaError(f"{self.path}: no resource, data source or provider class")

    def provider_version(self) -> str:
        match = VERSION_RE.search(self.text)
        if match is None:
            raise SchemaError(f"{self.path}: no providerVersion")
        return match.group(1)

    def members(self, class_name: str) -> list[Member]:
        try:
            _, body = self.classes[class_name]
        except KeyError:
            raise SchemaError(f"{self.path}: no class {class_name}") from None
        flags = list(FLAGS_RE.finditer(body))
        members = []
        for index, match in enumerate(flags):
            end = flags[index + 1].start() if index + 1 < len(flags) else len(body)
            segment = body[match.end() : end]
            getter = GETTER_RE.search(segment)
            members.append(
                Member(
                    name=match.group(1),
                    flags=Flags(*(value == "true" for value in match.group(2, 3, 4))),
                    getter=getter.group(1) if getter else "",
                    segment=segment,
                )
            )
        return members

    def hcl_entries(self, function_or_method: str) -> dict[str, HclEntry]:
        """The entries of ``const attrs = {...}`` in a ``*ToHclTerraform`` function or in
        ``synthesizeHclAttributes()`` of ``class_name``."""
        start = self.text.find(function_or_method)
        if start < 0:
            raise SchemaError(f"{self.path}: no {function_or_method}")
        end = self.text.find("// remove undefined attributes", start)
        return {
            m.group(1): HclEntry(m.group(2) == "true", m.group(3), m.group(4))
            for m in HCL_ENTRY_RE.finditer(self.text, start, end)
        }

    def class_body(self, class_name: str) -> str:
        return self.classes[class_name][1]


def lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def plain_type(entry: HclEntry) -> Type:
    if entry.storage in STORAGE_TYPES:
        return STORAGE_TYPES[entry.storage]
    if entry.storage in LIST_ELEMENT_TYPES and entry.kind in {"list", "set"}:
        return [entry.kind, LIST_ELEMENT_TYPES[entry.storage]]
    raise SchemaError(f"unknown attribute storage {entry.kind}/{entry.storage}")


# Computed-only maps are kept in fields such as `_tagsAll = new cdktn.StringMap(this, ...)`.
CDKTN_MAP_TYPES: dict[str, Type] = {
    "StringMap": ["map", "string"],
    "NumberMap": ["map", "number"],
    "BooleanMap": ["map", "bool"],
}


def getter_type(getter: str, body: str = "") -> Type:
    """The type of a computed attribute from its getter's return expression."""
    field = re.fullmatch(r"this\.(_\w+)", getter.strip())
    if field is not None:
        declaration = re.search(rf"{re.escape(field.group(1))} = new cdktn\.(\w+)\(", body)
        if declaration is not None and declaration.group(1) in CDKTN_MAP_TYPES:
            return CDKTN_MAP_TYPES[declaration.group(1)]
    wrapped_in_set = "Fn.tolist(" in getter
    for call, element in (
        ("getNumberListAttribute", "number"),
        ("getListAttribute", "string"),
    ):
        if call in getter:
            return ["set" if wrapped_in_set else "list", element]
    for call, value in (
        ("getStringMapAttribute", ["map", "string"]),
        ("getNumberMapAttribute", ["map", "number"]),
        ("getBooleanMapAttribute", ["map", "bool"]),
        ("getStringAttribute", "string"),
        ("getNumberAttribute", "number"),
        ("getBooleanAttribute", "bool"),
        ("interpolationForAttribute", "dynamic"),
    ):
        if call in getter:
            return value
    raise SchemaError(f"cannot type getter `{getter}`")


@dataclass(frozen=True)
class Nested:
    """A member whose getter returns a ``new <Struct>OutputReference|List|Map(...)``."""

    struct: str  # the struct's class name without its suffix
    collection: str  # single, list, set or map


def nested_of(module: JsModule, class_name: str, member: Member) -> Nested | None:
    field = re.fullmatch(r"this\.(_\w+)", member.getter.strip())
    if field is None:
        return None
    declaration = re.search(
        rf"{re.escape(field.group(1))} = new (\w+?)(OutputReference|List|Map)"
        rf'\(this, "{member.name}"(?:, (true|false))?\);',
        module.class_body(class_name),
    )
    if declaration is None:
        return None  # the provider class keeps plain values in its fields
    suffix, wraps_set = declaration.group(2), declaration.group(3) == "true"
    collection = {"OutputReference": "single", "Map": "map"}.get(suffix) or (
        "set" if wraps_set else "list"
    )
    return Nested(struct=declaration.group(1), collection=collection)


class Deriver:
    def __init__(self, module: JsModule) -> None:
        self.module = module

    def block(self, class_name: str, hcl_source: str | None) -> dict[str, Any]:
        """The schema block of a resource/data source class or of a nested struct."""
        hcl = self.module.hcl_entries(hcl_source) if hcl_source else {}
        attributes: dict[str, Any] = {}
        block_types: dict[str, Any] = {}
        for member in self.module.members(class_name):
            nested = nested_of(self.module, class_name, member)
            entry = hcl.get(member.name)
            if entry is not None and entry.is_block:
                if nested is None:
                    raise SchemaError(f"{self.module.path}: block {member.name} has no struct")
                if member.flags.computed:
                    # A block cannot be computed: this is an SDKv2 "attribute as blocks"
                    # (e.g. aws_security_group.ingress), a set or list of objects that
                    # HCL also accepts in block syntax.
                    attributes[member.name] = {
                        "type": self.object_type(nested, entry.kind),
                        **flag_fields(member.flags),
                    }
                    continue
                block_types[member.name] = self.nested_block(member, entry, nested)
            elif nested is not None:
                attributes[member.name] = {
                    "type": self.object_type(nested),
                    **flag_fields(member.flags),
                }
            else:
                kind = (
                    plain_type(entry)
                    if entry is not None
                    else getter_type(member.getter, self.module.class_body(class_name))
                )
                attributes[member.name] = {"type": kind, **flag_fields(member.flags)}
        block: dict[str, Any] = {"attributes": attributes}
        if block_types:
            block["block_types"] = block_types
        return block

    def nested_block(self, member: Member, entry: HclEntry, nested: Nested) -> dict[str, Any]:
        struct_class = f"{nested.struct}OutputReference"
        hcl_source = f"function {lower_first(nested.struct)}ToHclTerraform("
        result: dict[str, Any] = {
            "block": self.block(struct_class, hcl_source),
            "nesting_mode": {"struct": "single"}.get(entry.kind, entry.kind),
        }
        if entry.kind in {"list", "set"}:
            if nested.collection == "single":
                result["max_items"] = 1
            if member.flags.required:
                result["min_items"] = 1
        return result

    def object_type(self, nested: Nested, collection: str | None = None) -> Type:
        """The type of a nested attribute: an object, or a collection of objects."""
        struct_class = f"{nested.struct}OutputReference"
        hcl_source = f"function {lower_first(nested.struct)}ToHclTerraform("
        hcl = self.module.hcl_entries(hcl_source) if hcl_source in self.module.text else {}
        fields: dict[str, Type] = {}
        for member in self.module.members(struct_class):
            inner = nested_of(self.module, struct_class, member)
            entry = hcl.get(member.name)
            if inner is not None:
                fields[member.name] = self.object_type(inner, entry.kind if entry else None)
            elif entry is not None:
                fields[member.name] = plain_type(entry)
            else:
                body = self.module.class_body(struct_class)
                fields[member.name] = getter_type(member.getter, body)
        element: Type = ["object", fields]
        collection = collection or nested.collection
        return element if collection == "single" else [collection, element]


def flag_fields(flags: Flags) -> dict[str, bool]:
    return {name: True for name in ("required", "optional", "computed") if getattr(flags, name)}


def provider_block(module: JsModule) -> dict[str, Any]:
    """The provider's configuration: no getters for nested structs, so every attribute and
    block comes from ``synthesizeHclAttributes`` and the struct functions."""
    hcl = module.hcl_entries("synthesizeHclAttributes() {")
    flags = {member.name: member.flags for member in module.members(module.main_class())}
    attributes: dict[str, Any] = {}
    block_types: dict[str, Any] = {}
    for name, entry in hcl.items():
        if name not in flags or name == "alias":
            continue  # `alias` is a meta-argument, not part of the schema
        if entry.is_block:
            struct = entry.storage.removesuffix("List")
            nested = module.hcl_entries(f"function {lower_first(struct)}ToHclTerraform(")
            block_types[name] = {
                "block": {
                    "attributes": {
                        inner: {"type": plain_type(value), "optional": True}
                        for inner, value in nested.items()
                        if not value.is_block
                    }
                },
                "nesting_mode": entry.kind,
            }
        else:
            attributes[name] = {"type": plain_type(entry), **flag_fields(flags[name])}
    return {"attributes": attributes, "block_types": block_types}


def module_types(module_dir: Path) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {"resource": set(), "data": set()}
    for path in sorted(module_dir.glob("*.tf")):
        for kind, type_name in BLOCK_TYPE_RE.findall(path.read_text(encoding="utf-8")):
            used[kind].add(type_name)
    return used


def js_path(package: Path, kind: str, type_name: str) -> Path:
    folder = type_name.removeprefix("aws_").replace("_", "-")
    if kind == "data":
        folder = f"data-aws-{folder}"
    path = package / "lib" / folder / "index.js"
    if not path.is_file():
        raise SchemaError(f"{type_name}: no {path.relative_to(package)} in the package")
    return path


def derive(package: Path, module_dir: Path) -> dict[str, Any]:
    used = module_types(module_dir)
    provider = JsModule(package / "lib" / "provider" / "index.js")
    schemas: dict[str, dict[str, Any]] = {"resource": {}, "data": {}}
    versions = set()
    for kind, type_names in used.items():
        for type_name in sorted(type_names):
            module = JsModule(js_path(package, kind, type_name))
            main = module.main_class()
            if f'tfResourceType = "{type_name}"' not in module.class_body(main):
                raise SchemaError(f"{module.path} does not describe {type_name}")
            versions.add(module.provider_version())
            block = Deriver(module).block(main, "synthesizeHclAttributes() {")
            schemas[kind][type_name] = {"block": block, "version": 0}
    return {
        "format_version": "1.0",
        "derived_from": {
            "npm_package": "@cdktn/provider-aws",
            "npm_version": json.loads((package / "package.json").read_text())["version"],
            "provider_versions": sorted(versions),
            "script": "scripts/derive_aws_schema.py",
        },
        "provider_schemas": {
            PROVIDER_ADDRESS: {
                "provider": {"block": provider_block(provider), "version": 0},
                "resource_schemas": schemas["resource"],
                "data_source_schemas": schemas["data"],
            }
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--package", type=Path, required=True, help="folder of the npm package @cdktn/provider-aws"
    )
    parser.add_argument("--module", type=Path, default=DEFAULT_MODULE, help="Terraform folder")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to write")
    args = parser.parse_args(argv)
    try:
        schema = derive(args.package, args.module)
    except SchemaError as error:
        print(f"derive_aws_schema: {error}", file=sys.stderr)
        return 1
    args.output.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    provider = schema["provider_schemas"][PROVIDER_ADDRESS]
    print(
        f"wrote {args.output}: {len(provider['resource_schemas'])} resources, "
        f"{len(provider['data_source_schemas'])} data sources"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
