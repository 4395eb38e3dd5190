"""Publishing into a model root: atomic replacement, history, rollback, locks, leftovers."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from router.errors import ModelOutsideRoot, StoreUnavailable
from router.history import history
from router.publish.errors import (
    FolderUnusable,
    NothingToRollBack,
    VersionDamaged,
    VersionNotFound,
)
from router.publish.local import (
    TEMP_PREFIX,
    ModelFolder,
    list_versions,
    rollback,
)
from router.publish.validate import validate_model
from router.store import ModelStore
from router.xgb.loader import load_model
from tests.modelkit import model_bytes, train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path


def published(seed: int, task: str = "binary") -> bytes:
    return validate_model(model_bytes(train_booster(task, seed=seed))).data


def folder(root: Path, name: str = "churn", history_limit: int = 5) -> ModelFolder:
    return ModelFolder(root, name, history_limit=history_limit)


def test_publish_writes_model_ubj_and_a_history_entry_of_its_own(model_root: Path) -> None:
    data = published(1)

    with folder(model_root) as f:
        result = f.publish(data)

    live = model_root / "churn" / "model.ubj"
    assert live.read_bytes() == data == result.version.path.read_bytes()
    assert result.changed and result.version.number == 1 and result.version.live
    # A copy, not a hard link: a write into model.ubj in place must not reach the entry.
    assert not live.samefile(result.version.path)
    assert ModelStore(model_root).names() == ["churn"]
    assert load_model(ModelStore(model_root).read_named("churn"), nthread=1).file_bytes == len(data)


def test_republishing_the_live_content_writes_nothing(model_root: Path) -> None:
    data = published(1)
    with folder(model_root) as f:
        f.publish(data)
        before = f.live_path.stat()
        again = f.publish(data)

    assert not again.changed and again.version.number == 1
    assert (model_root / "churn" / "model.ubj").stat().st_ino == before.st_ino


def test_history_keeps_the_live_version_and_history_limit_earlier_ones(model_root: Path) -> None:
    with folder(model_root, history_limit=2) as f:
        for seed in range(1, 6):
            f.publish(published(seed))

    versions = list_versions(model_root, "churn")
    assert [v.number for v in versions] == [5, 4, 3]
    assert [v.live for v in versions] == [True, False, False]
    assert versions[0].sha256 == hashlib.sha256(published(5)).hexdigest()


def test_history_limit_zero_keeps_only_the_live_version(model_root: Path) -> None:
    with folder(model_root, history_limit=0) as f:
        f.publish(published(1))
        f.publish(published(2))

    assert [v.number for v in list_versions(model_root, "churn")] == [2]


def test_only_model_ubj_is_visible_to_the_router(model_root: Path) -> None:
    with folder(model_root) as f:
        f.publish(published(1))
        with f.staging_file() as (staged, handle):
            handle.write(b"half a model")
            assert staged.name.startswith(".")
            assert ModelStore(model_root).names() == ["churn"]
            assert ModelStore(model_root).resolve("churn").path.name == "model.ubj"

    hidden = {p.name for p in (model_root / "churn").iterdir()} - {"model.ubj"}
    assert all(name.startswith(".") for name in hidden)


def test_rollback_goes_to_the_previous_content_and_back(model_root: Path) -> None:
    first, second = published(1), published(2)
    with folder(model_root) as f:
        f.publish(first)
        f.publish(second)
        back = rollback(f)
        assert f.live_path.read_bytes() == first
        forth = rollback(f)
        assert f.live_path.read_bytes() == second

    assert (back.target.number, back.published.version.number) == (1, 3)
    assert (forth.target.number, forth.published.version.number) == (2, 4)


def test_rollback_to_a_numbered_version(model_root: Path) -> None:
    with folder(model_root) as f:
        for seed in (1, 2, 3):
            f.publish(published(seed))
        result = rollback(f, 1)
        assert f.live_path.read_bytes() == published(1)
        with pytest.raises(VersionNotFound, match="no version 9; the versions kept are: 4, 3"):
            rollback(f, 9)

    assert result.published.version.number == 4


def test_rollback_with_nothing_earlier_is_an_error(model_root: Path) -> None:
    with folder(model_root) as f:
        with pytest.raises(NothingToRollBack, match="no version has been published"):
            rollback(f)
        f.publish(published(1))
        with pytest.raises(NothingToRollBack, match="version 1 is live"):
            rollback(f)


def test_unpublish_keeps_history_and_rollback_restores(model_root: Path) -> None:
    data = published(1)
    with folder(model_root) as f:
        f.publish(data)
        assert f.unpublish()
        assert ModelStore(model_root).names() == []
        assert not f.unpublish()
        restored = rollback(f)

    assert restored.target.number == 1
    assert (model_root / "churn" / "model.ubj").read_bytes() == data


def test_unpublishing_a_hand_placed_model_keeps_it_in_history(model_root: Path) -> None:
    data = published(1)
    write_model(model_root, "churn", data)
    with folder(model_root) as f:
        f.unpublish()

    assert [v.size for v in list_versions(model_root, "churn")] == [len(data)]


def test_publish_takes_over_hand_made_layouts(model_root: Path) -> None:
    write_model(model_root, "churn", train_booster("binary"), layout="file")
    write_model(
        model_root, "churn", train_booster("binary"), fmt="json", metadata={"description": "x"}
    )
    data = published(7)

    with folder(model_root) as f:
        f.publish(data)
        f.unpublish()

    # Nothing stale comes back to life once the published model is gone.
    assert ModelStore(model_root).names() == []
    replaced = sorted(
        p.name.split("-", 1)[1] for p in f.history_path.joinpath("replaced").iterdir()
    )
    assert replaced == ["churn.ubj", "metadata.json", "model.json"]


# A publisher killed midway through writing its temporary file (what SIGKILL, OOM or a
# Lambda timeout does): it holds the model's lock and has written half of a model.
_KILLED_PUBLISHER = """
import os, signal, sys
from pathlib import Path
from router.publish.local import ModelFolder
root, data = Path(sys.argv[1]), Path(sys.argv[2]).read_bytes()
with ModelFolder(root, "churn", history_limit=5) as folder:
    with folder.staging_file() as (path, handle):
        handle.write(data[: len(data) // 2])
        handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_next_publish_removes_what_killed_publishers_left(
    model_root: Path, tmp_path: Path
) -> None:
    data = published(1)
    source = tmp_path / "model.ubj"
    source.write_bytes(data)
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, "-c", _KILLED_PUBLISHER, str(model_root), str(source)],
            timeout=60,
            check=False,
        )
        assert run.returncode == -signal.SIGKILL
    left = [p for p in (model_root / "churn").iterdir() if p.name.startswith(TEMP_PREFIX)]
    # The second killed publisher removed the first one's file on entering, seconds old.
    assert len(left) == 1
    assert ModelStore(model_root).names() == []  # and the router never took them for models

    with folder(model_root) as f:
        f.publish(data)

    names = {p.name for p in (model_root / "churn").iterdir()}
    assert names == {"model.ubj", ".history", ".lock"}
    assert ModelStore(model_root).names() == ["churn"]


def test_a_missing_root_is_an_error_not_a_new_folder(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="not available"), folder(tmp_path / "absent"):
        pass
    assert not (tmp_path / "absent").exists()


def test_a_model_folder_linking_outside_the_root_is_refused(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (root / "churn").symlink_to(elsewhere)

    with pytest.raises(ModelOutsideRoot), folder(root):
        pass


def test_a_history_folder_linking_elsewhere_is_neither_written_nor_trusted(
    tmp_path: Path,
) -> None:
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    with folder(root) as f:
        f.publish(published(1))
    # Someone moves the history out and links it back; its entries still name the live bytes.
    (root / "churn" / ".history").rename(elsewhere / ".history")
    (root / "churn" / ".history").symlink_to(elsewhere / ".history")

    with pytest.raises(FolderUnusable, match="is a link"), folder(root):
        pass
    assert any((elsewhere / ".history").iterdir())  # the record that is not trusted
    store = ModelStore(root)
    # The live bytes were published, but by a record outside the folder: checked in full.
    assert not store.read(store.resolve("churn")).published


def test_writes_outside_with_are_refused(model_root: Path) -> None:
    with pytest.raises(RuntimeError, match="inside `with`"):
        folder(model_root).publish(published(1))


def test_one_publisher_per_model_different_models_in_parallel(
    model_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While one publisher holds `churn`: another model's opens at once, `churn`'s waits."""
    entered = {name: threading.Event() for name in ("other", "churn")}

    def enter(name: str) -> None:
        with folder(model_root, name):
            entered[name].set()

    threads = [threading.Thread(target=enter, args=(name,), daemon=True) for name in entered]
    with folder(model_root, "churn"):
        for thread in threads:
            thread.start()
        assert entered["other"].wait(10), "`other` waited for the lock on `churn`"
        # Only a bounded wait can show that something waits: the one timed wait here.
        assert not entered["churn"].wait(0.3), "a second `churn` publisher did not wait"
        # And it says so, once: a publish behind another, or a stuck one, is not silence.
        said: list[str] = []
        deadline = time.monotonic() + 10
        while not said and time.monotonic() < deadline:
            said = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
            time.sleep(0.01)
        assert said == ["waiting for another publish of 'churn' to finish (churn/.lock is locked)"]
    assert entered["churn"].wait(10)
    for thread in threads:
        thread.join(10)


def test_a_history_name_whose_stamp_is_no_time_is_not_an_entry(model_root: Path) -> None:
    # Month 13, second 99: digits where the publisher writes a time, by no publisher.
    with folder(model_root) as f:
        f.publish(published(1))
    stray = published(2)
    sha = hashlib.sha256(stray).hexdigest()
    history_dir = model_root / "churn" / ".history"
    (history_dir / f"000099-20261399T999999Z-{sha}.ubj").write_bytes(stray)

    assert [version.number for version in list_versions(model_root, "churn")] == [1]
    assert [entry.number for entry in history(ModelStore(model_root), "churn")] == [1]


def test_a_copy_over_the_live_file_leaves_every_published_version_as_it_was(
    model_root: Path,
) -> None:
    # What a user does first: `cp new.ubj store/churn/model.ubj`, which truncates model.ubj
    # and writes into it. When the entry was a hard link of model.ubj, version 2 was lost.
    with folder(model_root) as f:
        f.publish(published(1))
        f.publish(published(2))
        f.live_path.write_bytes(published(3))

        assert [(v.number, v.live) for v in f.versions()] == [(2, False), (1, False)]
        rollback(f, 2)
        assert f.live_path.read_bytes() == published(2)


def test_rollback_refuses_a_version_whose_bytes_changed_in_the_history(model_root: Path) -> None:
    with folder(model_root) as f:
        f.publish(published(1))
        f.publish(published(2))
        (entry,) = [v.path for v in f.versions() if v.number == 1]
        entry.write_bytes(published(3))  # bit rot, or a hand edit of .history/
        with pytest.raises(VersionDamaged, match="version 1's bytes are not the ones published"):
            rollback(f, 1)
        assert f.live_path.read_bytes() == published(2)


def test_publishing_the_live_version_again_repairs_a_live_file_written_over(
    model_root: Path,
) -> None:
    # The router's advice for a damaged live file is "publish it again": that must write.
    with folder(model_root) as f:
        f.publish(published(1))
        f.live_path.write_bytes(published(2))  # cp other.ubj store/churn/model.ubj
        result = f.publish(published(1))
        assert result.changed
        assert f.live_path.read_bytes() == published(1)
        assert f.publish(published(1)).changed is False  # and now it is live indeed


def test_publishing_over_a_hand_made_model_keeps_it_as_a_version_to_roll_back_to(
    model_root: Path,
) -> None:
    # The demo's models (and any model put here by hand) have no history: the first publish
    # used to rename over model.ubj and lose it, and rollback had nothing to go back to.
    hand_made = train_booster("multiclass", seed=21)
    write_model(model_root, "churn", hand_made)  # <root>/churn/model.ubj
    (model_root / "churn" / "metadata.json").write_text('{"class_labels": ["a", "b", "c"]}')
    with folder(model_root) as f:
        f.publish(published(22, "multiclass"))

        assert [(v.number, v.live) for v in f.versions()] == [(2, True), (1, False)]
        rollback(f)
    model = load_model(ModelStore(model_root).read_named("churn"), nthread=1)
    rows = np.random.default_rng(0).normal(size=(3, model.num_features)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(rows.tolist()), hand_made.inplace_predict(rows))
    assert model.metadata.class_labels == ["a", "b", "c"]  # its metadata.json came along


def test_a_hand_made_file_that_does_not_validate_is_kept_aside_not_as_a_version(
    model_root: Path,
) -> None:
    # History entries are trusted by the router (their checks are skipped): only bytes that
    # pass them may become one.
    (model_root / "churn").mkdir()
    (model_root / "churn" / "model.ubj").write_bytes(b"{garbage")
    with folder(model_root) as f:
        f.publish(published(1))
        assert [v.number for v in f.versions()] == [1]
    (kept,) = (model_root / "churn" / ".history" / "replaced").glob("*-model.ubj")
    assert kept.read_bytes() == b"{garbage"


def test_unpublishing_a_hand_made_model_keeps_it_only_once_validated(model_root: Path) -> None:
    write_model(model_root, "churn", train_booster(seed=3))
    with folder(model_root) as f:
        assert f.unpublish()
        assert [v.number for v in f.versions()] == [1]
        rollback(f)
        assert f.live_path.is_file()


def test_a_publish_reads_the_live_file_at_most_once(
    model_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Entries are copies, so the live file is matched to its entry by content; a publish
    # lists the versions several times, and each read of a 100 MB model on EFS costs.
    from pathlib import Path as RealPath

    with folder(model_root) as f:
        f.publish(published(1))
        f.publish(published(2))
    reads: list[str] = []
    read_bytes, open_path = RealPath.read_bytes, RealPath.open

    def counted_read(path: RealPath) -> bytes:
        if path.name == "model.ubj":
            reads.append(str(path))
        return read_bytes(path)

    def counted_open(path: RealPath, *args: Any, **kwargs: Any) -> Any:
        if path.name == "model.ubj":
            reads.append(str(path))
        return open_path(path, *args, **kwargs)

    monkeypatch.setattr(RealPath, "read_bytes", counted_read)
    monkeypatch.setattr(RealPath, "open", counted_open)
    with folder(model_root) as f:
        f.publish(published(3))

    assert len(reads) <= 1


@pytest.mark.parametrize("why", ["over the size to validate", "no history kept"])
def test_a_hand_made_model_not_validated_is_kept_aside_as_it_is(model_root: Path, why: str) -> None:
    # The inbox validates within its memory budget, and an entry pruned at once is no
    # version: either way the bytes are kept, streamed, in .history/replaced/.
    hand_made = model_bytes(train_booster(seed=8))
    write_model(model_root, "churn", hand_made)
    limit, up_to = (5, len(hand_made) - 1) if why == "over the size to validate" else (0, None)
    with ModelFolder(model_root, "churn", history_limit=limit, validate_up_to=up_to) as f:
        f.publish(published(1))
        assert [v.number for v in f.versions()] == [1]
    (kept,) = (model_root / "churn" / ".history" / "replaced").glob("*-model.ubj")
    assert kept.read_bytes() == hand_made
