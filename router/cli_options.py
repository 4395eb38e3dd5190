"""Options shared by ``model-router``'s commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

MODEL_ROOT_HELP = "a model folder or mounted EFS (default: $ROUTER_MODEL_ROOT, else ./model-store)"


def add_model_root(parser: argparse._ActionsContainer, *, note: str | None = None) -> None:
    """``--model-root DIR``: the folder of models a command reads or writes."""
    help_text = f"{MODEL_ROOT_HELP}; {note}" if note else MODEL_ROOT_HELP
    parser.add_argument("--model-root", type=Path, metavar="DIR", help=help_text)
