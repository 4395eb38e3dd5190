"""Models and writers for hot-swap and race tests: two versions of one model with the same
size and structure (so a file rewritten in place from one to the other passes every
structural check midway), and the ways people replace a file."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import orjson
import xgboost as xgb

from tests.modelkit import model_bytes, train_booster

if TYPE_CHECKING:
    from pathlib import Path

CHUNK_BYTES = 16 * 1024


def twin_models(trees: int = 20, seed: int = 1) -> tuple[bytes, bytes]:
    """UBJ model A and model B, B being A with every leaf negated: the same structure and
    byte size, other predictions."""
    booster = train_booster("regression", trees=trees, seed=seed)
    document = orjson.loads(bytes(booster.save_raw("json")))
    for tree in document["learner"]["gradient_booster"]["model"]["trees"]:
        for i, left in enumerate(tree["left_children"]):
            if left == -1:
                tree["split_conditions"][i] = -tree["split_conditions"][i]
                tree["base_weights"][i] = -tree["base_weights"][i]
    negated = xgb.Booster(model_file=bytearray(orjson.dumps(document)))
    a, b = model_bytes(booster), model_bytes(negated)
    assert len(a) == len(b) and a != b
    return a, b


def write_in_place(
    path: Path, data: bytes, *, chunk: int = CHUNK_BYTES, pause_s: float = 0.0
) -> None:
    """How ``rsync --inplace`` or ``dd conv=notrunc`` write: the same inode, chunk by chunk."""
    with path.open("r+b") as handle:
        for offset in range(0, len(data), chunk):
            handle.seek(offset)
            handle.write(data[offset : offset + chunk])
            handle.flush()
            if pause_s:
                time.sleep(pause_s)
        handle.truncate(len(data))


def copy_over(path: Path, data: bytes, *, chunk: int = CHUNK_BYTES) -> None:
    """How ``cp new old`` writes: truncate the same inode, then write."""
    with path.open("wb") as handle:
        for offset in range(0, len(data), chunk):
            handle.write(data[offset : offset + chunk])
            handle.flush()


def rename_into_place(path: Path, data: bytes) -> None:
    """A hidden temporary file in the same folder, renamed over the old one."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_bytes(data)
    temp.replace(path)
