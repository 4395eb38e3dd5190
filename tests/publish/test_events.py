"""S3 notification parsing, inbox keys and sequencer order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from router.publish.events import (
    InboxKey,
    MalformedRecord,
    NotAnInboxKey,
    NotAnS3Notification,
    newer_sequencer,
    parse_inbox_key,
    s3_records,
)
from router.publish.local import ModelFolder
from router.publish.state import COPIES_KEPT, STATE_FILE, HeldCopy, InboxState, LiveObject
from tests.events import load_event

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def test_the_recorded_created_event_parses() -> None:
    [record] = s3_records(load_event("s3_object_created"))

    assert record.kind == "created"
    assert record.bucket == "model-router-inbox-20261123141958401400000002"
    assert record.key == "models/iris/model.ubj"
    assert record.version_id == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
    assert record.sequencer == "0067419C5D4E8F3A21"
    assert record.size == 6607


def test_the_recorded_removed_event_parses() -> None:
    [record] = s3_records(load_event("s3_object_removed"))

    assert record.kind == "removed" and record.created_delete_marker
    assert record.size is None


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("models/iris/model+v2.ubj", "models/iris/model v2.ubj"),
        ("models/iris/model%2Bv2.ubj", "models/iris/model+v2.ubj"),
        ("models%2Firis%2Fmodel.ubj", "models/iris/model.ubj"),  # as moto encodes
        ("models/iris/mod%C3%A8le.json", "models/iris/modèle.json"),
    ],
)
def test_keys_are_url_decoded(encoded: str, decoded: str) -> None:
    event = load_event("s3_object_created")
    event["Records"][0]["s3"]["object"]["key"] = encoded

    assert s3_records(event)[0].key == decoded


def test_unversioned_buckets_and_odd_sequencers() -> None:
    event = load_event("s3_object_created")
    obj = event["Records"][0]["s3"]["object"]
    del obj["versionId"]
    obj["sequencer"] = "not hex"

    [record] = s3_records(event)

    assert record.version_id is None and record.sequencer is None


def test_s3_test_event_has_no_records_and_garbage_is_refused() -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}

    assert s3_records(test_event) == []
    with pytest.raises(NotAnS3Notification):
        s3_records({"hello": "world"})


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda r: r.pop("eventName"), "the record has no eventName"),
        (lambda r: r["s3"]["bucket"].pop("name"), "the record has no s3.bucket.name"),
        (lambda r: r["s3"].update(object=[]), "the record's s3.object is not an object"),
        (lambda r: r["s3"]["object"].update(key=7), "the record's s3.object.key is not a"),
        (lambda r: r["s3"]["object"].update(size="big"), "the record's s3.object.size is not"),
    ],
    ids=["no-event-name", "no-bucket", "object-not-an-object", "key-not-text", "size-not-int"],
)
def test_each_record_is_parsed_on_its_own(damage: Callable[[Any], object], reason: str) -> None:
    """One malformed record stands in its place; the records around it parse."""
    event = load_event("s3_object_created")
    good = event["Records"][0]
    bad = json.loads(json.dumps(good))
    damage(bad)
    event["Records"] = [good, bad, good, "not a record"]

    first, malformed, third, fourth = s3_records(event)

    assert first == third and first.key == "models/iris/model.ubj"
    assert isinstance(malformed, MalformedRecord) and malformed.index == 1
    assert malformed.reason.startswith(reason)
    assert fourth == MalformedRecord(3, "the record has no s3.object")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("models/iris/model.ubj", InboxKey("iris", "model.ubj")),
        ("models/iris/iris-v3.json", InboxKey("iris", "iris-v3.json")),
        ("models/iris/metadata.json", InboxKey("iris", "metadata.json")),
    ],
)
def test_inbox_keys(key: str, expected: InboxKey) -> None:
    assert parse_inbox_key(key) == expected
    assert parse_inbox_key(key).key == key


@pytest.mark.parametrize(
    "key",
    [
        "other/iris/model.ubj",
        "models/iris.ubj",
        "models/iris/sub/model.ubj",
        "models/../model.ubj",
        "models/-iris/model.ubj",
        "models/iris/.model.ubj",
        "models/iris/notes.txt",
        "models/iris/",
    ],
)
def test_other_keys_are_not_inbox_keys(key: str) -> None:
    with pytest.raises(NotAnInboxKey):
        parse_inbox_key(key)


@pytest.mark.parametrize(
    ("candidate", "than", "newer"),
    [
        ("0067419C5D4E8F3A22", "0067419C5D4E8F3A21", True),
        ("0067419C5D4E8F3A21", "0067419C5D4E8F3A21", False),
        ("67419C5D4E8F3A22", "0067419C5D4E8F3A21", True),  # shorter, padded: still newer
        ("0067419C5D4E8F3A20", "67419C5D4E8F3A21", False),
        ("100", "FF", True),  # a plain string comparison would say otherwise
        ("ff", "FE", True),
    ],
)
def test_sequencers_compare_as_aws_documents(candidate: str, than: str, newer: bool) -> None:
    assert newer_sequencer(candidate, than) is newer


def test_state_skips_duplicates_and_older_events_per_key() -> None:
    state = InboxState()
    state.record("models/a/model.ubj", "0A")

    assert state.is_stale("models/a/model.ubj", "0A")  # a duplicate
    assert state.is_stale("models/a/model.ubj", "09")  # older
    assert not state.is_stale("models/a/model.ubj", "0B")
    assert not state.is_stale("models/a/metadata.json", "01")  # other keys are not ordered
    assert not state.is_stale("models/a/model.ubj", None)

    state.record("models/a/model.ubj", "05")  # never moves backwards
    assert state.sequencers["models/a/model.ubj"] == "0A"


def upload(key: str, version: str, minute: int) -> LiveObject:
    return LiveObject(key, version, datetime(2026, 11, 23, 14, minute, tzinfo=UTC))


def test_copies_of_the_live_version_are_kept_newest_first_and_take_its_place() -> None:
    original = upload("models/a/model.ubj", "v1", 0)
    live = original.superseded_by(upload("models/a/copy.ubj", "c1", 1))
    live = live.superseded_by(upload("models/a/model.ubj", "v2", 2))

    assert live.version == ("models/a/model.ubj", "v2")
    assert [(c.key, c.version_id) for c in live.copies] == [
        ("models/a/copy.ubj", "c1"),
        ("models/a/model.ubj", "v1"),
    ]
    # v2 removed for good: v1 is current again, but the newer copy takes the live place.
    after = live.without("models/a/model.ubj", "v2")
    assert after is not None and after.version == ("models/a/copy.ubj", "c1")
    # A delete marker on model.ubj hides v1 and v2 alike.
    hidden = live.without("models/a/model.ubj", None)
    assert hidden is not None and (hidden.version, hidden.copies) == (
        ("models/a/copy.ubj", "c1"),
        (),
    )
    assert hidden.without("models/a/copy.ubj", None) is None
    assert live.without("models/a/other.ubj", None) == live


def test_copies_are_bounded() -> None:
    live = upload("models/a/model.ubj", "v0", 0)
    for n in range(1, COPIES_KEPT + 10):
        live = live.superseded_by(upload("models/a/model.ubj", f"v{n}", n))

    assert len(live.copies) == COPIES_KEPT
    assert live.copies[0].version_id == f"v{COPIES_KEPT + 8}"  # the oldest were forgotten


def test_the_state_file_keeps_copies_and_an_older_one_without_them_still_loads(
    tmp_path: Path,
) -> None:
    copy = HeldCopy("models/a/model.ubj", "v1", datetime(2026, 11, 23, tzinfo=UTC))
    live = LiveObject(
        "models/a/copy.ubj", "c1", copy.last_modified + timedelta(minutes=1), copies=(copy,)
    )
    with ModelFolder(tmp_path, "a", history_limit=1) as folder:
        InboxState(live=live).save(folder)
        assert InboxState.load(folder).live == live
        older = json.loads((folder.path / STATE_FILE).read_text())
        del older["live"]["copies"]
        (folder.path / STATE_FILE).write_text(json.dumps(older))
        loaded = InboxState.load(folder).live
    assert loaded is not None and (loaded.version, loaded.copies) == (live.version, ())
