"""Ready-to-paste ``curl`` calls for the models in a store (printed by ``serve`` and ``demo``)."""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from router.store import ModelStore


def predict_call(base_url: str, name: str, row: Sequence[float]) -> str:
    body = json.dumps({"instances": [list(row)]})
    return (
        f"curl -s -X POST {base_url}/models/{name}/predict "
        f"-H 'content-type: application/json' -d {shlex.quote(body)}"
    )


# A store may hold thousands of models: the calls printed at start-up name a few.
MAX_MODELS_SHOWN = 8


def example_calls(store: ModelStore, base_url: str) -> list[str]:
    """List and health calls, then for each of the first models a describe call, and a
    predict call where its ``metadata.json`` carries an ``example`` row (a flat file has
    none: its description lists the features a row needs)."""
    calls = [f"curl -s {base_url}/models", f"curl -s {base_url}/health"]
    for ref in store.list()[:MAX_MODELS_SHOWN]:
        calls.append(f"curl -s {base_url}/models/{ref.name}")
        if ref.metadata_path is None:
            continue
        try:
            example = json.loads(ref.metadata_path.read_bytes()).get("example")
        except (OSError, ValueError):
            continue
        if isinstance(example, list) and example:
            calls.append(predict_call(base_url, ref.name, example))
    return calls
