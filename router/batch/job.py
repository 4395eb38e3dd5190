"""A batch job over a local file (or any mounted folder): stream, predict, write, account.

Memory is bounded by the part size, not the file: the input is read one part at a time, at
most ``2 * parallelism`` parts are in flight, and each is written out, in input order, as
soon as it and every part before it are done. Output, rejects and manifest are written to
hidden temporary files and renamed into place at the end, so a reader never sees half a
result under the final names.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from router.atomic import temp_path, write_atomically
from router.batch import formats
from router.batch.errors import BatchError, BatchInputInvalid
from router.batch.manifest import Manifest
from router.batch.part import PartPredictor, PartResult
from router.batch.pin import pinned_model
from router.errors import RouterError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from concurrent.futures import Future
    from pathlib import Path

    from router.batch.part import InputFormat, RawRow
    from router.registry.registry import ModelRegistry
    from router.settings import Settings
    from router.xgb.loader import LoadedModel
    from router.xgb.outputs import Output

DEFAULT_OUTPUTS: tuple[Output, ...] = ("value", "margin")


@dataclass(frozen=True, slots=True)
class JobLimits:
    """How a job splits its input and how many parts it predicts at once."""

    rows_per_part: int
    bytes_per_part: int
    parallelism: int

    @classmethod
    def from_settings(cls, settings: Settings) -> JobLimits:
        return cls(
            settings.batch_rows_per_part,
            settings.batch_bytes_per_part,
            settings.batch_parallelism,
        )


@dataclass(frozen=True, slots=True)
class JobPaths:
    predictions: Path
    rejects: Path
    manifest: Path

    @classmethod
    def beside(cls, output: Path) -> JobPaths:
        """``out.csv`` → ``out.rejects.csv`` and ``out.manifest.json`` in the same folder."""
        return cls(
            output,
            output.with_name(f"{output.stem}.rejects{output.suffix}"),
            output.with_name(f"{output.stem}.manifest.json"),
        )


class _HashingReader(io.RawIOBase):
    """Counts and hashes the bytes read through it: the manifest's checksum of the input."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.sha256.update(data)
        self.bytes_read += len(data)
        return len(data)


def run_job(
    input_path: Path,
    output_path: Path,
    model_name: str,
    registry: ModelRegistry,
    limits: JobLimits,
    *,
    outputs: Sequence[Output] = DEFAULT_OUTPUTS,
    progress: Callable[[int, int], None] | None = None,
) -> Manifest:
    """Predict every row of ``input_path`` into ``output_path``; returns the manifest.

    ``progress`` is called after each part with the rows done and the input bytes read.

    Raises ``BatchError`` (after writing a failed manifest) when the job cannot run or no row
    could be predicted.
    """
    started = time.perf_counter()
    paths = JobPaths.beside(output_path)
    manifest = Manifest(model=model_name, input={"path": str(input_path)}, outputs=list(outputs))
    try:
        fmt = manifest.input["format"] = check_job_files(input_path, output_path)
        model = pinned_model(registry, model_name)  # the job's one version, held to the end
        manifest.version = model.version
        _predict_file(input_path, fmt, paths, model, limits, outputs, manifest, progress)
    except RouterError as exc:
        manifest.fail(exc.detail)
    manifest.finish(time.perf_counter() - started)
    write_atomically(paths.manifest, manifest.to_json())
    if manifest.status == "failed":
        raise BatchError(f"{manifest.error}; manifest: {paths.manifest}")
    return manifest


def check_job_files(input_path: Path, output_path: Path) -> InputFormat:
    """The input's format, when a job can write ``output_path`` from ``input_path``: the
    same format, and no file it writes is the input. Raises ``BatchInputInvalid``."""
    fmt = formats.format_of(input_path.name)
    if formats.format_of(output_path.name) != fmt:
        raise BatchInputInvalid(f"the output must be {fmt} like the input: {output_path.name}")
    paths = JobPaths.beside(output_path)
    for written in (paths.predictions, paths.rejects):
        if _same_file(written, input_path):
            raise BatchInputInvalid(
                f"the output {written.name} is the input file: writing it would replace "
                "the rows being read; choose another --output"
            )
    return fmt


def _same_file(path: Path, other: Path) -> bool:
    try:
        return path.resolve() == other.resolve() or path.samefile(other)
    except OSError:  # the output does not exist yet: not the input, which does
        return False


def _predict_file(
    input_path: Path,
    fmt: InputFormat,
    paths: JobPaths,
    model: LoadedModel,
    limits: JobLimits,
    outputs: Sequence[Output],
    manifest: Manifest,
    progress: Callable[[int, int], None] | None,
) -> None:
    layout = formats.OutputLayout(model, outputs)
    predictor = PartPredictor(
        model, fmt, outputs, reserved=frozenset(layout.keys | set(layout.csv_columns))
    )
    features = set(predictor.features)
    try:
        raw = input_path.open("rb")
    except OSError as exc:
        raise BatchInputInvalid(f"cannot read {input_path.name}: {exc.strerror}") from exc
    with raw, _Outputs(paths) as sink:
        hashing = _HashingReader(raw)
        buffered = io.BufferedReader(hashing, buffer_size=1024 * 1024)
        if fmt == "csv":
            text = io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="")
            header, parts = formats.csv_parts(
                text,
                rows_per_part=limits.rows_per_part,
                bytes_per_part=limits.bytes_per_part,
                position=lambda: hashing.bytes_read,
            )
            passed = layout.check_csv_header(header, predictor.features)
            sink.predictions.write(formats.csv_header([*passed, *layout.csv_columns]).encode())
            sink.rejects.write(formats.csv_header([*formats.REJECT_COLUMNS, *header]).encode())

            def write(result: PartResult) -> None:
                sink.predictions.write(formats.render_csv(result, layout, passed).encode())
                sink.rejects.write(formats.render_csv_rejects(result.refused, header).encode())

        else:
            parts = formats.jsonl_parts(
                iter(buffered),
                rows_per_part=limits.rows_per_part,
                bytes_per_part=limits.bytes_per_part,
            )

            def write(result: PartResult) -> None:
                sink.predictions.write(formats.render_jsonl(result, layout, features))
                sink.rejects.write(formats.render_jsonl_rejects(result.refused))

        for result in _in_order(predictor.predict, parts, limits.parallelism):
            write(result)
            manifest.count(result.rows_in, len(result.accepted), result.refused)
            if progress is not None:
                progress(manifest.rows_in, hashing.bytes_read)
        # Hash what the readers left unread (a trailing newline, say): the whole file.
        while buffered.read(1024 * 1024):
            pass
        manifest.input["sha256"] = hashing.sha256.hexdigest()
        manifest.input["bytes"] = hashing.bytes_read
        sink.commit(keep=manifest.rows_out > 0)
    manifest.predictions = str(paths.predictions)
    manifest.rejects = str(paths.rejects)


def _in_order(
    predict: Callable[[list[RawRow]], PartResult],
    parts: Iterator[list[RawRow]],
    parallelism: int,
) -> Iterator[PartResult]:
    """Results of ``predict`` over ``parts`` in input order, at most 2 * parallelism parts
    held at once. With parallelism 1 everything runs in this thread."""
    if parallelism <= 1:
        yield from map(predict, parts)
        return
    with ThreadPoolExecutor(parallelism, thread_name_prefix="batch") as pool:
        pending: deque[Future[PartResult]] = deque()
        for part in parts:
            pending.append(pool.submit(predict, part))
            if len(pending) >= 2 * parallelism:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class _Outputs:
    """The predictions and rejects files, written under hidden names until ``commit``."""

    def __init__(self, paths: JobPaths) -> None:
        self.paths = paths
        self._temps = [temp_path(paths.predictions.parent), temp_path(paths.rejects.parent)]
        self._committed = False

    def __enter__(self) -> _Outputs:
        self.paths.predictions.parent.mkdir(parents=True, exist_ok=True)
        self.predictions = self._temps[0].open("wb")
        self.rejects = self._temps[1].open("wb")
        return self

    def commit(self, *, keep: bool) -> None:
        """Rename into place; without predictions (every row refused) only the rejects."""
        self.predictions.close()
        self.rejects.close()
        if keep:
            self._temps[0].replace(self.paths.predictions)
        self._temps[1].replace(self.paths.rejects)
        self._committed = True

    def __exit__(self, *exc_info: object) -> None:
        self.predictions.close()
        self.rejects.close()
        for temp in self._temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
