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
    return module
