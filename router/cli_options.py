"""Options shared by ``model-router``'s commands, declared once."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

from router.counts import parse_count

if TYPE_CHECKING:
    from collections.abc import Callable

MODEL_ROOT_HELP = "a model folder or mounted EFS (default: $ROUTER_MODEL_ROOT, else ./model-store)"


def add_model_root(parser: argparse._ActionsContainer, *, note: str | None = None) -> None:
    """``--model-root DIR``: the folder of models a command reads or writes."""
    help_text = f"{MODEL_ROOT_HELP}; {note}" if note else MODEL_ROOT_HELP
    parser.add_argument("--model-root", type=Path, metavar="DIR", help=help_text)


# S3's rules for a general purpose bucket's name: 3 to 63 lowercase letters, digits, dots
# and hyphens, a letter or digit at each end, no two dots in a row.
_BUCKET_NAME: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]|\.(?!\.)){1,61}[a-z0-9]")
# How much of a refused value an error shows: enough to recognise it, on one line.
_SHOWN: Final = 40


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")


def bucket_name(value: str) -> str:
    """An S3 bucket name, refused before any request or work when it cannot be one: a
    ``$(terraform output -raw inbox_bucket)`` run before ``terraform apply`` gives the
    warning terraform prints instead, colours and all."""
    if _BUCKET_NAME.fullmatch(value):
        return value
    raise argparse.ArgumentTypeError(
        f"{_shown(value)} is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and "
        "hyphens); if it came from `terraform output`, has the stack been applied? "
        "(`make outputs`)"
    )


def add_bucket(parser: argparse._ActionsContainer, help_text: str) -> None:
    """``--bucket NAME``: an S3 bucket, its name checked against S3's rules."""
    parser.add_argument("--bucket", type=bucket_name, metavar="NAME", help=help_text)


def count(
    low: int, high: int | None = None, *, what: str = "a whole number"
) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high`` (no upper bound when
    None), so that one out of range is a usage error before any work, not a server that
    cannot bind or a setting's error naming an environment variable nobody set."""
    span = f"{low} to {high}" if high is not None else f"{low} or more"

    def convert(text: str) -> int:
        value = parse_count(text)
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not {what}, {span}")
        return value

    return convert


MAX_PORT: Final = 65_535
port = count(1, MAX_PORT, what="a TCP port")


# Longer than any wait makes sense, and short enough for time.sleep and socket timeouts,
# which raise OverflowError on 1e300.
MAX_SECONDS: Final = 366 * 24 * 3600


def seconds(*, zero: bool) -> Callable[[str], float]:
    """An argparse ``type``: a number of seconds, more than 0 (or 0 too when ``zero``), at
    most a year; ``float`` alone takes -5, nan and 1e999 (inf)."""
    span = f"0 to {MAX_SECONDS:,}" if zero else f"more than 0, at most {MAX_SECONDS:,}"

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0 <= value <= MAX_SECONDS or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number of seconds, {span}")
        return value

    return convert
