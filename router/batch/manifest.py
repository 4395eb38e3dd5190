"""The manifest: what a job read, with which model version, and what became of every row.

Written next to the predictions when a job ends, and also when it fails before predicting
anything (no such model, an unusable header, an input deleted since its event), so a job
always says what happened.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Literal

import orjson

from router.batch.part import REASON_LIMIT, Refused

# The manifest lists refused rows up to this many; the rejects file holds all of them.
LISTED_REFUSALS = 1000
Status = Literal["succeeded", "failed"]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Manifest:
    model: str
    input: dict[str, object]
    status: Status = "succeeded"
    version: str | None = None
    outputs: list[str] = field(default_factory=list)
    predictions: str | None = None
    rejects: str | None = None
    rows_in: int = 0
    rows_out: int = 0
    rows_refused: int = 0
    refused: list[dict[str, object]] = field(default_factory=list)
    parts: int = 0
    error: str | None = None
    started_at: str = field(default_factory=utc_now)
    finished_at: str | None = None
    seconds: float | None = None
    rows_per_second: float | None = None

    def count(self, rows_in: int, rows_out: int, refused: list[Refused]) -> None:
        self.parts += 1
        self.rows_in += rows_in
        self.rows_out += rows_out
        self.rows_refused += len(refused)
        room = LISTED_REFUSALS - len(self.refused)
        self.refused.extend({"row": r.row, "reason": r.reason} for r in refused[: max(room, 0)])

    def add_refusals(self, listed: list[dict[str, object]]) -> None:
        room = LISTED_REFUSALS - len(self.refused)
        self.refused.extend(
            {"row": item["row"], "reason": str(item["reason"])[:REASON_LIMIT]}
            for item in listed[: max(room, 0)]
        )

    def fail(self, error: str) -> Manifest:
        self.status = "failed"
        self.error = error
        return self

    def finish(self, seconds: float) -> Manifest:
        if self.status == "succeeded" and self.rows_out == 0:
            self.fail(
                "every row was refused (see the rejects file)"
                if self.rows_in
                else "the input has no rows"
            )
        self.finished_at = utc_now()
        self.seconds = round(seconds, 3)
        if seconds > 0 and self.rows_in:
            self.rows_per_second = round(self.rows_in / seconds, 1)
        return self

    def to_json(self) -> bytes:
        document = asdict(self)
        document["refused_listed"] = len(self.refused)
        return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
