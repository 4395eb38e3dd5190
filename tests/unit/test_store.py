from __future__ import annotations

import hashlib
import os
import select
import threading
import time
from typing import TYPE_CHECKING

import pytest

from router import content_hash
from router.errors import InvalidModelName, ModelNotFound, ModelOutsideRoot, StoreUnavailable
from router.publish.local import ModelFolder
from router.publish.validate import validate_model
from router.store import FileRefused, FileTooLarge, ModelStore, validate_name
from tests.modelkit import model_bytes, replace_file, train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("name", ["a", "iris", "breast-cancer", "m.v2", "A_1", "9" * 128])
def test_valid_names_pass(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", ".hidden", "..", "../etc", "a/b", "a\\b", "-a", "_a", "a b", "a" * 129, "é", "a\x00"],
)
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidModelName):
        validate_name(name)


def test_resolves_both_layouts(model_root: Path) -> None:
    booster = train_booster()
    write_model(model_root, "flat", booster, layout="file")
    write_model(model_root, "nested", booster, layout="directory", metadata={"task": "regression"})
    store = ModelStore(model_root)

    flat, nested = store.resolve("flat"), store.resolve("nested")

    assert (flat.layout, flat.format, flat.metadata_path) == ("file", "ubj", None)
    assert nested.layout == "directory"
    assert nested.metadata_path == model_root / "nested" / "metadata.json"
    assert store.names() == ["flat", "nested"]


def test_directory_wins_over_flat_file_and_ubj_over_json(model_root: Path) -> None:
    booster = train_booster()
    write_model(model_root, "m", booster, layout="file", fmt="ubj")
    write_model(model_root, "m", booster, layout="directory", fmt="json")
    write_model(model_root, "m", booster, layout="directory", fmt="ubj")

    ref = ModelStore(model_root).resolve("m")

    assert ref.path == model_root / "m" / "model.ubj"


def test_listing_skips_hidden_temp_files_and_non_models(model_root: Path) -> None:
    booster = train_booster()
    write_model(model_root, "good", booster, layout="file")
    (model_root / ".good.ubj.tmp").write_bytes(b"half")
    (model_root / ".partial.ubj").write_bytes(b"half")
    (model_root / "notes.txt").write_text("hello")
    (model_root / "empty-dir").mkdir()
    (model_root / "bad name.ubj").write_bytes(b"x")

    assert ModelStore(model_root).names() == ["good"]


def test_unknown_model_is_not_found(model_root: Path) -> None:
    with pytest.raises(ModelNotFound):
        ModelStore(model_root).resolve("missing")


def test_missing_root_is_unavailable(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "not-mounted")
    with pytest.raises(StoreUnavailable):
        store.names()
    with pytest.raises(StoreUnavailable):
        store.resolve("anything")


def test_a_root_swapped_or_gone_is_seen_by_a_store_that_has_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The root's real path is kept while the root is the folder it was found for: reads
    # do not resolve it again, and yet a root repointed, or unmounted, is seen at once.
    first = write_model(tmp_path / "first", "m", train_booster(), layout="file").parent
    second = write_model(tmp_path / "second", "m", train_booster(seed=1), layout="file").parent
    root = tmp_path / "root"
    root.symlink_to(first)
    store = ModelStore(root)
    resolved: list[object] = []
    resolve_for_real = os.path.realpath

    def counted(path: object, *, strict: bool = False) -> str:
        if path == root:  # not the model files' own paths, resolved on every resolve
            resolved.append(path)
        return resolve_for_real(path, strict=strict)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(os.path, "realpath", counted)

    assert store.read_named("m").data == (first / "m.ubj").read_bytes()
    assert store.read_named("m").data == (first / "m.ubj").read_bytes()
    assert resolved == [root]
    swapped = tmp_path / "swapped"
    swapped.symlink_to(second)
    swapped.replace(root)
    assert store.read_named("m").data == (second / "m.ubj").read_bytes()
    assert resolved == [root, root]
    root.unlink()
    with pytest.raises(StoreUnavailable):
        store.read_named("m")


def test_symlink_inside_root_is_served(model_root: Path) -> None:
    write_model(model_root, "v2", train_booster(), layout="file")
    (model_root / "current.ubj").symlink_to(model_root / "v2.ubj")

    assert ModelStore(model_root).resolve("current").path == model_root / "current.ubj"


def test_file_symlink_leaving_root_is_refused(model_root: Path, tmp_path: Path) -> None:
    outside = write_model(tmp_path / "elsewhere", "secret", train_booster(), layout="file")
    (model_root / "escape.ubj").symlink_to(outside)
    store = ModelStore(model_root)

    with pytest.raises(ModelOutsideRoot):
        store.resolve("escape")
    assert store.names() == []


def test_directory_symlink_leaving_root_is_refused(model_root: Path, tmp_path: Path) -> None:
    write_model(tmp_path / "elsewhere", "secret", train_booster(), layout="directory")
    (model_root / "escape").symlink_to(tmp_path / "elsewhere" / "secret")

    with pytest.raises(ModelOutsideRoot):
        ModelStore(model_root).resolve("escape")


def test_fingerprint_changes_on_atomic_replace_even_with_same_size_and_mtime(
    model_root: Path,
) -> None:
    path = write_model(model_root, "m", train_booster(seed=1), layout="file")
    store = ModelStore(model_root)
    before = store.resolve("m").fingerprint
    stat = path.stat()

    replace_file(path, path.read_bytes())  # same bytes, new inode
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    after = store.resolve("m").fingerprint
    assert (after.size, after.mtime_ns) == (before.size, before.mtime_ns)
    assert after != before


# -- reading: everything from the open descriptor -----------------------------------------


def test_read_describes_what_it_opened_not_what_was_stat_ed(model_root: Path) -> None:
    path = write_model(model_root, "m", train_booster(seed=1), layout="file")
    store = ModelStore(model_root)
    ref = store.resolve("m")
    newer = model_bytes(train_booster(seed=2))
    replace_file(path, newer)  # another writer, between the stat and the read

    files = store.read(ref)

    assert files.data == newer
    assert files.ref.fingerprint == store.resolve("m").fingerprint != ref.fingerprint
    assert files.sha256 == hashlib.sha256(newer).hexdigest()


def test_a_read_cut_short_is_continued_to_the_whole_file(
    model_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # NFS (EFS) may answer a large read with fewer bytes than asked for.
    path = write_model(model_root, "m", train_booster(), layout="file")
    real_read = os.read
    monkeypatch.setattr("router.store.os.read", lambda fd, n: real_read(fd, min(n, 1000)))

    files = ModelStore(model_root).read(ModelStore(model_root).resolve("m"))

    assert files.data == path.read_bytes()


def test_a_sibling_folder_whose_name_starts_like_the_root_is_outside_it(
    model_root: Path,
) -> None:
    path = write_model(model_root, "m", train_booster(seed=1), layout="file")
    store = ModelStore(model_root)
    ref = store.resolve("m")
    sibling = write_model(model_root.with_name("models-evil"), "m", train_booster(seed=2),
                          layout="file")  # fmt: skip
    path.unlink()
    path.symlink_to(sibling)  # swapped in between the resolve and the read

    with pytest.raises(ModelOutsideRoot):
        store.read(ref)


def test_a_fifo_in_place_of_the_file_is_refused_at_once(model_root: Path) -> None:
    path = write_model(model_root, "m", train_booster(), layout="file")
    store = ModelStore(model_root)
    ref = store.resolve("m")
    path.unlink()
    os.mkfifo(path)  # no writer: a blocking open would wait forever

    started = time.monotonic()
    with pytest.raises(FileRefused, match="not a regular file") as refused:
        store.read(ref)

    assert time.monotonic() - started < 1
    assert refused.value.version_key[0] != ref.fingerprint  # the FIFO's, not the file's


def test_a_file_over_the_size_limit_is_refused_before_reading(model_root: Path) -> None:
    write_model(model_root, "m", train_booster(), layout="file")
    store = ModelStore(model_root)

    with pytest.raises(FileTooLarge, match="ROUTER_CACHE_MAX_BYTES"):
        store.read(store.resolve("m"), size_limit=lambda fmt: 100)


def test_published_bytes_are_known_by_their_hash_hand_placed_ones_are_not(
    model_root: Path,
) -> None:
    data = validate_model(model_bytes(train_booster())).data
    with ModelFolder(model_root, "published", history_limit=1) as folder:
        folder.publish(data)
    write_model(model_root, "by-hand", data, layout="directory")
    store = ModelStore(model_root)

    assert store.read_named("published").published
    assert not store.read_named("by-hand").published


def test_bytes_no_publisher_recorded_are_hashed_beside_the_load_published_ones_first(
    model_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whether bytes are published takes their hash, in the reader's thread, wherever a
    # publisher recorded a version; elsewhere only the version id needs it, after the checks
    # and the parse, so a large file is hashed in a thread beside them.
    hashed_in: list[str] = []
    hash_for_real = content_hash._sha256

    def spy(data: bytes) -> str:
        hashed_in.append(threading.current_thread().name)
        return hash_for_real(data)

    monkeypatch.setattr(content_hash, "_sha256", spy)
    data = validate_model(model_bytes(train_booster())).data
    for name in ("published", "replaced"):
        with ModelFolder(model_root, name, history_limit=1) as folder:
            folder.publish(data)
    replace_file(model_root / "replaced" / "model.ubj", model_bytes(train_booster(seed=1)))
    write_model(model_root, "by-hand", data, layout="directory")
    write_model(model_root, "flat", data, layout="file")
    store = ModelStore(model_root)

    def read(name: str) -> tuple[bool, str, list[str]]:
        hashed_in.clear()
        files = store.read_named(name)
        return files.published, files.sha256, [*hashed_in]

    caller = threading.current_thread().name
    sha256 = hashlib.sha256(data).hexdigest()
    # A model of a few trees is hashed where it is read: a thread would cost it more.
    assert read("flat") == (False, sha256, [caller])
    monkeypatch.setattr(content_hash, "BACKGROUND_MIN_BYTES", 1)
    assert read("published") == (True, sha256, [caller])
    published, _, threads = read("replaced")
    assert (published, threads) == (False, [caller])
    for name in ("by-hand", "flat"):
        published, digest, (thread,) = read(name)
        assert (published, digest) == (False, sha256)
        assert thread != caller
        assert thread.startswith("router-sha256")


def test_a_store_lists_a_history_again_only_once_it_has_changed(
    model_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store that has read a published version keeps the history's listing while the
    # folder is unchanged; a new version published, or the live file written in place
    # (which changes no folder), is still known at once.
    first, second = (validate_model(model_bytes(train_booster(seed=s))).data for s in (0, 1))
    listings: list[object] = []
    list_for_real = os.scandir

    def counted(path: object) -> object:
        listings.append(path)
        return list_for_real(path)  # type: ignore[call-overload]

    with ModelFolder(model_root, "m", history_limit=3) as folder:
        folder.publish(first)
    store = ModelStore(model_root)
    monkeypatch.setattr(os, "scandir", counted)

    assert store.read_named("m").published
    assert store.read_named("m").published
    assert len(listings) == 1
    with ModelFolder(model_root, "m", history_limit=3) as folder:
        folder.publish(second)  # the publisher lists the history too
    listings.clear()
    files = store.read_named("m")
    assert (files.published, files.data) == (True, second)
    assert len(listings) == 1
    live = model_root / "m" / "model.ubj"
    with live.open("r+b") as handle:
        handle.seek(len(second) // 2)
        handle.write(bytes([second[len(second) // 2] ^ 0x10]))
    assert store.read_named("m").published is False


def test_a_published_live_file_written_in_place_is_no_longer_published(model_root: Path) -> None:
    # cp other.ubj model.ubj: bytes no publisher recorded, so every check runs on them (and
    # the registry serves them only once they have settled); the history keeps its own.
    data = validate_model(model_bytes(train_booster())).data
    other = validate_model(model_bytes(train_booster(seed=9))).data
    with ModelFolder(model_root, "m", history_limit=1) as folder:
        folder.publish(data)
    (model_root / "m" / "model.ubj").write_bytes(other)

    files = ModelStore(model_root).read_named("m")

    assert (files.published, files.data) == (False, other)
    (entry,) = (model_root / "m" / ".history").glob("*.ubj")
    assert entry.read_bytes() == data


def test_scan_lists_an_unreadable_model_as_an_error_beside_the_others(
    model_root: Path, locked_model_folder: str
) -> None:
    listing = ModelStore(model_root).scan()

    assert [ref.name for ref in listing.refs] == ["good"]
    assert list(listing.errors) == ["locked"]
    assert isinstance(listing.errors["locked"], StoreUnavailable)


def test_a_path_not_below_the_root_is_never_taken_for_one_inside_it(tmp_path: Path) -> None:
    from router.store import _no_link_below

    inside = write_model(tmp_path / "root", "m", train_booster(), layout="directory")

    assert _no_link_below(inside, tmp_path / "root")
    # Walking up from elsewhere reaches the file system's root, not this one: no hang.
    assert not _no_link_below(inside, tmp_path / "other-root")


def test_a_forked_child_hashes_in_threads_of_its_own(
    model_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parent's hashing threads do not exist in a child: one it inherited would never
    # answer, and the child's first background hash would wait forever.
    monkeypatch.setattr(content_hash, "BACKGROUND_MIN_BYTES", 1)
    data = model_bytes(train_booster())
    write_model(model_root, "m", data, layout="file")
    store = ModelStore(model_root)
    assert store.read_named("m").sha256 == hashlib.sha256(data).hexdigest()  # made here

    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(writer, store.read_named("m").sha256.encode())
        finally:
            os._exit(0)
    os.close(writer)
    answered, _, _ = select.select([reader], [], [], 10)
    os.waitpid(child, 0) if answered else os.kill(child, 9)
    assert answered, "the child's hash never finished"
    assert os.read(reader, 64).decode() == hashlib.sha256(data).hexdigest()
    os.close(reader)


def test_a_file_named_like_the_history_is_no_history_not_an_unavailable_store(
    model_root: Path,
) -> None:
    # A 503 store-unavailable says "retry"; a file named .history is no history at all.
    data = model_bytes(train_booster())
    path = write_model(model_root, "m", data)
    (path.parent / ".history").write_text("notes")
    store = ModelStore(model_root)

    files = store.read(store.resolve("m"))

    assert files.data == data
    assert not files.published
