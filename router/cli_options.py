"""Options shared by ``model-router``'s commands, declared once."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Final

MODEL_ROOT_HELP = "a model folder or mounted EFS (default: $ROUTER_MODEL_ROOT, else ./model-store)"


def add_model_root(parser: argparse._ActionsContainer, *, note: str | None = None) -> None:
    """``--model-root DIR``: the folder of models a command reads or writes."""
    help_text = f"{MODEL_ROOT_HELP}; {note}" if note else MODEL_ROOT_HELP
    parser.add_argument("--model-root", type=Path, metavar="DIR", help=help_text)


# S3's rules for a general purpose bucket's name: 3 to 63 lowercase letters, digits, dots
# and hyphens, a letter or digit at each end, no two dots in a row.
_BUCKET_NAME: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]|\.(?!\.)){1,61}[a-z0-9]")
_SHOWN_BUCKET: Final = 40


def bucket_name(value: str) -> str:
    """An S3 bucket name, refused before any request or work when it cannot be one: a
    ``$(terraform output -raw inbox_bucket)`` run before ``terraform apply`` gives the
    warning terraform prints instead, colours and all."""
    if _BUCKET_NAME.fullmatch(value):
        return value
    shown = value if len(value) <= _SHOWN_BUCKET else value[:_SHOWN_BUCKET] + "..."
    raise argparse.ArgumentTypeError(
        f"{shown!r} is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and "
        "hyphens); if it came from `terraform output`, has the stack been applied? "
        "(`make outputs`)"
    )


def add_bucket(parser: argparse._ActionsContainer, help_text: str) -> None:
    """``--bucket NAME``: an S3 bucket, its name checked against S3's rules."""
    parser.add_argument("--bucket", type=bucket_name, metavar="NAME", help=help_text)
