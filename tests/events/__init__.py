"""Recorded-shape AWS events, loaded by name: every test builds events from these files.

``http_api_event`` (the recorded HTTP API event re-aimed at one request) is defined with the
benchmark's helpers in ``scripts.lambda_inputs``, which sends the handler the same event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scripts.lambda_inputs import http_api_event

__all__ = ["EVENTS", "http_api_event", "load_event"]

EVENTS = Path(__file__).parent


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``tests/events/<name>.json``."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event
