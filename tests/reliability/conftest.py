"""The reliability suite's budget and its figures.

``make test`` runs it small (seconds); ``make reliability`` sets ``RELIABILITY_SCALE=large``
for the issue's counts. With ``RELIABILITY_REPORT=<file>`` every test adds its figures to
that JSON-lines file, which docs/reliability.md is written from.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class Budget:
    name: str
    hot_swap_requests: int
    hot_swap_replacements: int
    churn_models: int
    churn_cache_models: int
    churn_requests: int
    race_seconds: float
    random_cuts: int


SMALL = Budget("small", 600, 12, 16, 4, 400, 1.0, 20)
LARGE = Budget("large", 10_000, 100, 100, 10, 20_000, 15.0, 20)


@pytest.fixture(scope="session")
def budget() -> Budget:
    return LARGE if os.environ.get("RELIABILITY_SCALE") == "large" else SMALL


@pytest.fixture(scope="session")
def report(budget: Budget) -> Any:
    """``report(suite, **figures)``: record one result line (when a report file is set)."""
    target = os.environ.get("RELIABILITY_REPORT")

    def write(suite: str, **figures: object) -> None:
        if target is None:
            return
        line = {"suite": suite, "budget": budget.name, **figures}
        with Path(target).open("a") as handle:
            handle.write(json.dumps(line, sort_keys=True) + "\n")

    return write
