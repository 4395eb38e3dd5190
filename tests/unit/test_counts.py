from __future__ import annotations

import pytest

from router.counts import parse_count


@pytest.mark.parametrize(
    ("text", "count"),
    [("0", 0), ("42", 42), (" 42\t", 42), ("007", 7), ("9" * 18, 10**18 - 1)],
)
def test_ascii_digits_are_a_count(text: str, count: int) -> None:
    assert parse_count(text) == count


# Each of the first three passes str.isdigit() and makes int() raise.
@pytest.mark.parametrize(
    "text",
    ["\u00b2", "1\u00b9", "1" * 5000, "\u0661\u0662", "", " ", "-1", "+1", "1.0", "1e3", "0x10",
     "1_000", None],
)  # fmt: skip
def test_anything_else_is_no_count(text: str | None) -> None:
    assert parse_count(text) is None
