"""What a model's name and a version's id look like: rules every layer checks against (the
store before it builds a path, the API before it answers, the publishers before they write),
kept apart from all of them so that checking a name reaches none of their machinery."""

from __future__ import annotations

import re

from router.errors import InvalidModelName

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# A version is the start of its bytes' SHA-256 (router.history).
VERSION_LENGTH = 12
VERSION_PATTERN = re.compile(f"[0-9a-f]{{{VERSION_LENGTH}}}")


def validate_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidModelName(
            f"{name[:64]!r} is not a model name: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name
