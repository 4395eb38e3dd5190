"""Counts written as text by someone else: header values, environment variables, model
attributes, command-line arguments.

``str.isdigit`` is not the test for them: it is true of superscripts and other digits that
``int`` refuses ("²"), and ``int`` also refuses more than 4,300 digits. Either way a value
that passed the test raised ``ValueError`` where nothing expected one (a 500).
"""

from __future__ import annotations

# More digits than any byte count, row count or memory size; int() of them is instant.
MAX_DIGITS = 18


def parse_count(text: str | None) -> int | None:
    """``text`` as a non-negative integer in ASCII decimal digits (surrounding white space
    allowed, as ``int`` allows it), else ``None``."""
    if text is None:
        return None
    text = text.strip()
    if not (0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()):
        return None
    return int(text)
