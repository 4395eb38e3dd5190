"""docs/batch.md's table of prediction columns names what the job really writes."""

from __future__ import annotations

import re
from pathlib import Path

from router.batch.outputs import OUTPUT_COLUMNS

DOC = Path(__file__).parents[2] / "docs" / "batch.md"


def _documented_keys() -> dict[str, str]:
    """Output -> its JSON Lines key, from the table's rows (`output` | CSV | `key`...)."""
    keys = {}
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3:
            continue
        output, key = re.match(r"`(\w+)`", cells[0]), re.match(r"`(\w+)`", cells[2])
        if output and key and output.group(1) in OUTPUT_COLUMNS:
            keys[output.group(1)] = key.group(1)
    return keys


def test_json_lines_keys_in_the_docs_are_the_ones_written() -> None:
    assert _documented_keys() == OUTPUT_COLUMNS
