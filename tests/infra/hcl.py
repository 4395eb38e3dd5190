"""``terraform/`` as python-hcl2 sees it, with the few look-ups the structure tests need.

Values keep HCL's spelling: a reference is the string ``"${aws_x.name.attr}"``, a block is
a list of dicts, string quotes are stripped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "terraform"

_OPTIONS = SerializationOptions(
    strip_string_quotes=True, with_comments=False, explicit_blocks=False
)
_REFERENCE = re.compile(r"^\$\{([^{}]+)\}$")

Body = dict[str, Any]


@dataclass
class Module:
    resources: dict[str, Body] = field(default_factory=dict)  # "aws_x.name" -> body
    data: dict[str, Body] = field(default_factory=dict)  # "aws_x.name" -> body
    variables: dict[str, Body] = field(default_factory=dict)
    outputs: dict[str, Body] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    moved: dict[str, str] = field(default_factory=dict)  # from -> to, as written

    def resources_of(self, type_name: str) -> dict[str, Body]:
        prefix = f"{type_name}."
        return {
            address: body for address, body in self.resources.items() if address.startswith(prefix)
        }

    def local(self, name: str) -> Any:
        """A local's value, following ``${local.x}`` chains."""
        value = self.locals[name]
        target = reference(value)
        while isinstance(target, str) and target.startswith("local."):
            value = self.locals[target.removeprefix("local.")]
            target = reference(value)
        return value

    def instances(self, for_each: str) -> dict[str, Body]:
        """The entries of a ``for_each`` over a local map, or over a ``for`` expression that
        filters one (``{ for k, v in local.m : k => v if ... }``): every entry it may keep."""
        value = self.resolve(for_each)
        if isinstance(value, str):
            source = re.match(r"^\$\{\{\s*for \w+, \w+ in local\.(\w+)\s*:", value)
            assert source, f"not a for_each over a local map: {for_each}"
            value = self.local(source.group(1))
        assert isinstance(value, dict), for_each
        return value

    def resolve(self, value: Any) -> Any:
        """``value`` with every whole-string ``${local.x}`` replaced by the local's value."""
        target = reference(value)
        if target is not None and re.fullmatch(r"local\.\w+", target):
            return self.resolve(self.locals[target.removeprefix("local.")])
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value


def reference(value: Any) -> str | None:
    """``"aws_x.name.attr"`` for the value ``"${aws_x.name.attr}"``, else None."""
    if not isinstance(value, str):
        return None
    match = _REFERENCE.match(value)
    return match.group(1) if match else None


def unwrap(value: str) -> str:
    """``aws_x.name["key"]`` for the value ``"${aws_x.name["key"]}"``, else the value."""
    return reference(value) or value


def for_each_instance(value: Any, key: str, each_value: Any) -> Any:
    """``value``, a part of a ``for_each`` body, as instance ``key`` sees it: ``each.key``
    becomes ``"key"``, and ``each.value`` (or ``each.value.x``) the entry's value (its
    attribute ``x``): a plain string where it is the whole value, else its expression."""
    if isinstance(value, dict):
        return {name: for_each_instance(item, key, each_value) for name, item in value.items()}
    if isinstance(value, list):
        return [for_each_instance(item, key, each_value) for item in value]
    if not isinstance(value, str):
        return value

    def expression(found: Any) -> str:
        if isinstance(found, str):
            return reference(found) or f'"{found}"'
        return repr(found)

    def attribute(match: re.Match[str]) -> str:
        return expression(each_value[match.group(1)])

    if value == "${each.value}":
        return each_value
    value = re.sub(r"\beach\.value\.(\w+)", attribute, value)
    value = re.sub(r"\beach\.value\b", lambda _: expression(each_value), value)
    return re.sub(r"\beach\.key\b", f'"{key}"', value)


_DOCUMENT = re.compile(
    r'^(?:one\()?data\.aws_iam_policy_document\.(\w+)(?:\[(?:"(\w+)"|\*|0)\])?\.json\)?$'
)


def document_statements(module: Module, expression: str) -> list[Body]:
    """The statements of the policy the expression renders (``data.aws_iam_policy_document.
    x.json``, ``...x["key"].json``, ``one(...x[*].json)``, or a ``local.m["key"]`` naming one),
    merged as the provider merges them: ``source_policy_documents`` first, then the
    document's own statements (replacing a source's of the same sid), then
    ``override_policy_documents`` (replacing or appending)."""
    local = re.fullmatch(r'local\.(\w+)\["(\w+)"\]', expression)
    if local:
        expression = unwrap(module.locals[local.group(1)][local.group(2)])
    match = _DOCUMENT.fullmatch(expression)
    assert match, f"not a policy document: {expression}"
    name, key = match.groups()
    document = module.data[f"aws_iam_policy_document.{name}"]
    if key is not None:
        assert document.get("for_each"), f"{name} is not a for_each document"
        each = module.instances(document["for_each"])
        document = for_each_instance(document, key, each[key])

    merged: dict[str, Body] = {}
    unnamed: list[Body] = []

    def add(found: list[Body]) -> None:
        for statement in found:
            if statement.get("sid"):
                merged[statement["sid"]] = statement
            else:
                unnamed.append(statement)

    for source in document.get("source_policy_documents", []):
        add(document_statements(module, unwrap(source)))
    add(statements(document))
    for override in document.get("override_policy_documents", []):
        add(document_statements(module, unwrap(override)))
    return [*merged.values(), *unnamed]


def role_statements(module: Module, key: str) -> list[Body]:
    """Every statement of the inline policies on the execution role of function ``key``
    (an entry of ``local.functions``)."""
    found = []
    for policy in module.resources_of("aws_iam_role_policy").values():
        if "for_each" in policy:
            each = module.instances(policy["for_each"])
            if key not in each:
                continue
            policy = for_each_instance(policy, key, each[key])
        if policy["role"] == f'${{aws_iam_role.function["{key}"].id}}':
            found.extend(document_statements(module, unwrap(policy["policy"])))
    assert found, f"no role policy on the {key} role"
    return found


def block(body: Body, name: str) -> Body:
    """The one nested block ``name`` of ``body``."""
    blocks = body.get(name)
    assert isinstance(blocks, list), f"no {name} block"
    assert len(blocks) == 1, f"{len(blocks)} {name} blocks"
    result: Body = blocks[0]
    return result


def statements(document: Body) -> list[Body]:
    """The statements of an ``aws_iam_policy_document`` data source."""
    found: list[Body] = document.get("statement", [])
    return found


def load_module(folder: Path = MODULE) -> Module:
    module = Module()
    for path in sorted(folder.glob("*.tf")):
        with path.open(encoding="utf-8") as file:
            parsed = hcl2.load(file, serialization_options=_OPTIONS)
        for kind, target in (("resource", module.resources), ("data", module.data)):
            for entry in parsed.get(kind, []):
                for type_name, named in entry.items():
                    for name, body in named.items():
                        target[f"{type_name}.{name}"] = body
        for entry in parsed.get("variable", []):
            module.variables.update(entry)
        for entry in parsed.get("output", []):
            module.outputs.update(entry)
        for entry in parsed.get("locals", []):
            module.locals.update(entry)
        for entry in parsed.get("moved", []):
            module.moved[unwrap(entry["from"])] = unwrap(entry["to"])
    return module
