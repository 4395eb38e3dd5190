"""The inbox function: the real ``router.publish.lambda_handler.handler`` with recorded-shape S3
events, against a moto bucket and a folder standing in for EFS."""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import threading
import time
import tracemalloc
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

import router.publish.lambda_handler
from router.publish.apply import Inbox
from router.publish.errors import FolderUnusable, ObjectTooLarge
from router.publish.events import s3_records
from router.publish.local import list_versions
from router.publish.s3 import METADATA_MAX_BYTES, download_metadata, read_status
from router.publish.state import STATE_FILE
from router.publish.validate import validate_model
from router.store import ModelStore
from router.xgb.loader import load_model
from tests.events import load_event
from tests.modelkit import model_bytes, train_booster

from .conftest import key_of, s3_event, version_of

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

    from .conftest import InboxRun

KEY = "models/iris/model.ubj"
METADATA_KEY = "models/iris/metadata.json"


def model(seed: int = 0, *, n_features: int = 4, fmt: str = "ubj") -> bytes:
    return model_bytes(train_booster("binary", seed=seed, n_features=n_features), fmt)


def live_bytes(efs: Path, name: str = "iris") -> bytes | None:
    path = efs / name / "model.ubj"
    return path.read_bytes() if path.exists() else None


def served(efs: Path, name: str = "iris") -> Any:
    return load_model(ModelStore(efs).read_named(name), nthread=1)


def test_an_upload_is_published(inbox: InboxRun, efs: Path) -> None:
    data = model(1)
    event = inbox.put(KEY, data)

    outcome = inbox.deliver(event)

    assert outcome["status"] == "published" and outcome["live_version"] == 1
    assert live_bytes(efs) == data  # a UBJ model goes live byte for byte
    assert inbox.status(event) == ("published", None)
    assert served(efs).objective == "binary:logistic"


def test_a_new_upload_replaces_the_live_one(inbox: InboxRun, efs: Path) -> None:
    first = inbox.put(KEY, model(1))
    inbox.deliver(first)
    second = inbox.put(KEY, model(2))

    outcome = inbox.deliver(second)

    assert outcome["status"] == "published" and outcome["live_version"] == 2
    assert live_bytes(efs) == model(2)
    assert inbox.status(first) == ("replaced", None)
    assert inbox.status(second) == ("published", None)
    assert [v.live for v in list_versions(efs, "iris")] == [True, False]


def test_a_duplicate_event_changes_nothing(inbox: InboxRun, efs: Path) -> None:
    event = inbox.put(KEY, model(1))
    inbox.deliver(event)
    inode = (efs / "iris" / "model.ubj").stat().st_ino

    outcome = inbox.deliver(event)

    assert outcome["status"] == "skipped"
    assert (efs / "iris" / "model.ubj").stat().st_ino == inode
    assert len(list_versions(efs, "iris")) == 1


def test_an_older_event_arriving_late_never_overwrites_a_newer_version(
    inbox: InboxRun, efs: Path
) -> None:
    older = inbox.put(KEY, model(1))
    newer = inbox.put(KEY, model(2))

    assert inbox.deliver(newer)["status"] == "published"
    assert inbox.deliver(older)["status"] == "skipped"

    assert live_bytes(efs) == model(2)
    assert inbox.status(older) == (None, None)  # never published, never tagged


def test_a_removal_delivered_before_its_upload_leaves_nothing_live(
    inbox: InboxRun, efs: Path
) -> None:
    upload = inbox.put(KEY, model(1))
    removal = inbox.delete(KEY)

    assert inbox.deliver(removal)["status"] == "ignored"  # nothing was live yet
    assert inbox.deliver(upload)["status"] == "skipped"

    assert live_bytes(efs) is None


def test_concurrent_events_for_one_model_end_with_the_newest(inbox: InboxRun, efs: Path) -> None:
    events = [inbox.put(KEY, model(seed)) for seed in (1, 2, 3)]
    threads = [threading.Thread(target=inbox.deliver, args=(e,)) for e in reversed(events)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert live_bytes(efs) == model(3)


def test_different_models_are_published_concurrently(inbox: InboxRun, efs: Path) -> None:
    names = [f"model-{i}" for i in range(4)]
    events = [inbox.put(f"models/{name}/model.ubj", model(i)) for i, name in enumerate(names)]
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda e=e: results.append(inbox.deliver(e))) for e in events
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r["status"] for r in results) == ["published"] * 4
    assert ModelStore(efs).names() == names


def test_a_corrupt_model_is_rejected_and_tagged_and_the_live_one_stays(
    inbox: InboxRun, efs: Path
) -> None:
    good = model(1)
    inbox.deliver(inbox.put(KEY, good))
    corrupt = inbox.put(KEY, good[: len(good) // 2])

    outcome = inbox.deliver(corrupt)

    assert outcome["status"] == "rejected"
    assert outcome["reason"].startswith("not a valid XGBoost UBJ model: ")
    assert live_bytes(efs) == good
    status, reason = inbox.status(corrupt)
    assert status == "rejected"
    assert reason is not None and reason.startswith("not a valid XGBoost UBJ model: ")


def test_without_versions_only_the_content_an_event_names_is_published(
    s3: S3Client, efs: Path
) -> None:
    # An unversioned bucket (or an event of an object written while versioning was off):
    # the read gets the key's content now, which may be a later upload's, or a broken one.
    plain = "model-router-inbox-plain"
    s3.create_bucket(Bucket=plain, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    inbox = Inbox(efs, s3, history_limit=3, max_object_bytes=2**30)

    def upload(body: bytes, sequencer: str) -> Any:
        etag = s3.put_object(Bucket=plain, Key=KEY, Body=body)["ETag"]
        event = s3_event(plain, KEY, version_id=None, sequencer=sequencer, etag=etag)
        return s3_records(event)[0]

    first = upload(model(1), "0A")
    upload(b"{L", "0B")  # a broken upload over it, before the first event is handled

    outcome = inbox.apply(first)

    assert outcome.status == "skipped" and "written over" in (outcome.reason or "")
    assert live_bytes(efs) is None
    assert inbox.apply(upload(model(2), "0C")).status == "published"
    assert live_bytes(efs) == validate_model(model(2)).data


@pytest.mark.parametrize("made", ["a file", "a folder elsewhere", "a linked history"])
def test_a_model_folder_no_retry_can_use_is_a_verdict_not_a_retried_failure(
    inbox: InboxRun, efs: Path, tmp_path: Path, made: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # An operator's mistake on EFS: Lambda retried the event until the dead letter queue,
    # and the uploader's --wait never got a verdict.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if made == "a file":
        (efs / "iris").write_bytes(b"not a folder")
    elif made == "a folder elsewhere":
        (efs / "iris").symlink_to(elsewhere)
    else:
        (efs / "iris").mkdir()
        (efs / "iris" / ".history").symlink_to(elsewhere)
    upload = inbox.put(KEY, model(1))

    outcome = inbox.deliver(upload)

    assert outcome["status"] == "rejected"
    assert outcome["reason"].startswith("the model's folder on EFS cannot be published into: ")
    assert str(efs) not in outcome["reason"]
    status, reason = inbox.status(upload)
    assert status == "rejected" and reason is not None
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["message"] for line in lines if line["level"] == "ERROR"] == [
        "model folder unusable"
    ]


def test_verdicts_of_two_events_for_one_model_are_written_in_their_order(
    s3: S3Client, bucket: str, efs: Path
) -> None:
    # The first event's tag call is slow (a retried S3 call): the second event, handled
    # meanwhile, replaces its version, and the slow tag must not mark it published after.
    first_version = s3.put_object(Bucket=bucket, Key=KEY, Body=model(1))["VersionId"]
    second_version = s3.put_object(Bucket=bucket, Key=KEY, Body=model(2))["VersionId"]
    events = [
        s3_records(s3_event(bucket, KEY, version_id=version, sequencer=sequencer))[0]
        for version, sequencer in ((first_version, "0A"), (second_version, "0B"))
    ]
    first_tagging = threading.Event()

    def slow_first_tag(params: dict[str, Any], **_: Any) -> None:
        if params.get("VersionId") == first_version and not first_tagging.is_set():
            first_tagging.set()
            time.sleep(0.5)

    s3.meta.events.register("before-parameter-build.s3.PutObjectTagging", slow_first_tag)
    inbox = Inbox(efs, s3, history_limit=3, max_object_bytes=2**30)
    first = threading.Thread(target=inbox.apply, args=(events[0],))
    first.start()
    assert first_tagging.wait(10)
    inbox.apply(events[1])
    first.join(10)

    assert read_status(s3, bucket, KEY, first_version)[0] == "replaced"
    assert read_status(s3, bucket, KEY, second_version)[0] == "published"
    assert live_bytes(efs) == validate_model(model(2)).data


def test_a_removal_on_a_model_folder_no_publish_can_use_is_retried_not_consumed(
    inbox: InboxRun, efs: Path
) -> None:
    # Answered as rejected, the removal would be lost: once the folder is mended, the model
    # of a deleted object would stay live. It fails, for Lambda's retries and the DLQ.
    upload = inbox.put(KEY, model(1))
    inbox.deliver(upload)
    removal = inbox.delete(KEY)
    (efs / "iris" / ".history").rename(efs / "moved-history")
    (efs / "iris" / ".history").symlink_to(efs / "moved-history")

    with pytest.raises(FolderUnusable):
        inbox.deliver(removal)


def test_an_event_again_on_a_model_folder_no_publish_can_use_keeps_its_verdict(
    inbox: InboxRun, efs: Path
) -> None:
    # Without the folder's state a duplicate is not known as one: the live version's
    # "published" must not turn "rejected" (rollback reads these tags).
    upload = inbox.put(KEY, model(1))
    inbox.deliver(upload)
    (efs / "iris" / ".history").rename(efs / "moved-history")
    (efs / "iris" / ".history").symlink_to(efs / "moved-history")

    assert inbox.deliver(upload)["status"] == "rejected"
    assert inbox.status(upload) == ("published", None)


def test_a_rejection_is_one_structured_warning(
    s3: S3Client, bucket: str, efs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    version_id = s3.put_object(Bucket=bucket, Key=KEY, Body=b"{L")["VersionId"]
    event = s3_event(bucket, KEY, version_id=version_id, sequencer="0A")
    caplog.set_level(logging.INFO, logger="router")

    Inbox(efs, s3, history_limit=1, max_object_bytes=2**30).apply(s3_records(event)[0])

    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage() == "model rejected"
    fields = record.__dict__
    assert (fields["model"], fields["key"], fields["version_id"]) == ("iris", KEY, version_id)
    assert fields["outcome"] == "rejected" and fields["sequencer"] == "0A"
    assert fields["reason"].startswith("not a valid XGBoost UBJ model: file is truncated")


def test_not_a_model_at_all_is_rejected(inbox: InboxRun, efs: Path) -> None:
    event = inbox.put("models/iris/model.json", b'{"hello": "world"}')

    outcome = inbox.deliver(event)

    assert outcome["status"] == "rejected"
    reason = "not a valid XGBoost JSON model: the top-level object has no learner key"
    assert inbox.status(event) == ("rejected", f"{reason}: not an XGBoost model")
    assert live_bytes(efs) is None


def test_a_json_model_is_stored_as_ubj(inbox: InboxRun, efs: Path) -> None:
    inbox.deliver(inbox.put("models/iris/model.json", model(1, fmt="json")))

    ref = ModelStore(efs).resolve("iris")
    assert (ref.path.name, ref.format) == ("model.ubj", "ubj")
    assert not (efs / "iris" / "model.json").exists()


def test_removing_the_live_object_unpublishes_and_keeps_history(inbox: InboxRun, efs: Path) -> None:
    upload = inbox.put(KEY, model(1))
    inbox.deliver(upload)

    outcome = inbox.deliver(inbox.delete(KEY))

    assert outcome["status"] == "unpublished"
    assert ModelStore(efs).names() == []
    assert len(list_versions(efs, "iris")) == 1
    assert inbox.status(upload) == ("unpublished", None)


def test_a_permanent_delete_of_the_live_version_is_no_error(
    inbox: InboxRun, efs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Deleting a version for good leaves nothing to carry the verdict tag: not an ERROR.
    upload = inbox.put(KEY, model(1))
    inbox.deliver(upload)
    capsys.readouterr()

    outcome = inbox.deliver(inbox.delete(KEY, version_of(upload)))

    assert outcome["status"] == "unpublished" and live_bytes(efs) is None
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line for line in lines if line["level"] == "ERROR"] == []


def test_a_verdict_for_a_version_gone_meanwhile_is_an_info_line(
    s3: S3Client, bucket: str, efs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A replaced version deleted between the publish and its tag: nothing went wrong.
    from router.publish.apply import _Verdict

    version = s3.put_object(Bucket=bucket, Key=KEY, Body=model(1))["VersionId"]
    s3.delete_object(Bucket=bucket, Key=KEY, VersionId=version)
    caplog.set_level(logging.INFO, logger="router")

    Inbox(efs, s3, history_limit=1, max_object_bytes=2**30)._tag(
        bucket, _Verdict(KEY, version, "replaced")
    )

    [record] = [r for r in caplog.records if r.name.startswith("router.publish")]
    assert (record.levelno, record.getMessage()) == (
        logging.INFO,
        "no verdict tag: the object version is gone",
    )


def test_an_upload_of_what_an_operator_published_by_hand_is_the_live_object(
    inbox: InboxRun, efs: Path
) -> None:
    # The README lets an operator publish onto EFS directly; an upload of the same bytes is
    # then "unchanged", but the earlier upload no longer holds what is live.
    from router.publish.local import ModelFolder

    first = inbox.put(KEY, model(1))
    inbox.deliver(first)
    with ModelFolder(efs, "iris", history_limit=3) as folder:
        folder.publish(validate_model(model(2)).data)
    second = inbox.put(KEY, model(2))
    assert inbox.deliver(second)["status"] == "unchanged"
    assert inbox.status(first)[0] == "replaced"

    # Deleted for good, the second leaves nothing that holds the live bytes.
    assert inbox.deliver(inbox.delete(KEY, version_of(second)))["status"] == "unpublished"
    assert live_bytes(efs) is None


def test_a_state_file_edited_to_a_time_without_zone_starts_afresh(
    inbox: InboxRun, efs: Path
) -> None:
    # A hand edit that drops the zone made every later comparison with S3's times raise,
    # and Lambda retried the event until its dead letter queue.
    inbox.deliver(inbox.put(KEY, model(1)))
    state = efs / "iris" / STATE_FILE
    state.write_text(state.read_text().replace("+00:00", ""))

    outcome = inbox.deliver(inbox.put("models/iris/model.json", model(2, fmt="json")))
    assert outcome["status"] == "published"


def test_deleting_an_old_version_or_another_file_keeps_the_live_model(
    inbox: InboxRun, efs: Path
) -> None:
    old = inbox.put(KEY, model(1))
    inbox.deliver(old)
    inbox.deliver(inbox.put(KEY, model(2)))
    stray = inbox.put("models/iris/old.json", b"{}")

    assert inbox.deliver(inbox.delete(KEY, version_of(old)))["status"] == "ignored"
    assert inbox.deliver(inbox.delete(key_of(stray)))["status"] == "ignored"

    assert live_bytes(efs) == model(2)


def test_an_older_upload_delivered_after_a_metadata_publish_is_skipped(
    inbox: InboxRun, efs: Path
) -> None:
    # The metadata event publishes the key's newest upload, which had no event here yet:
    # the first upload's late event must not replace it.
    first = inbox.put(KEY, model(1))
    time.sleep(1.05)  # S3's upload times count whole seconds
    second = inbox.put(KEY, model(2))
    labels = {"class_labels": ["stays", "churns"]}
    assert inbox.deliver(inbox.put(METADATA_KEY, json.dumps(labels).encode()))["status"] == (
        "published"
    )

    late = inbox.deliver(first)

    assert late["status"] == "skipped" and "uploaded later" in late["reason"]
    assert served(efs).metadata.class_labels == ["stays", "churns"]
    assert inbox.deliver(second)["status"] == "unchanged"
    assert validate_model(model(2), metadata=json.dumps(labels).encode()).data == live_bytes(efs)


def test_a_newer_upload_of_one_key_wins_though_its_upload_time_is_older(
    inbox: InboxRun, efs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A multipart upload's LastModified is when it began: a large upload begun before a
    # small one and finished after it is the key's newer version (its sequencer says so).
    import router.publish.apply as apply_module

    small = inbox.put(KEY, model(1))
    large = inbox.put(KEY, model(2))
    real_download = apply_module.download_to

    def began_earlier(*args: Any, **kwargs: Any) -> Any:
        staged = real_download(*args, **kwargs)
        if staged is not None and staged.version_id == version_of(large):
            staged = dataclasses.replace(
                staged, last_modified=staged.last_modified - datetime.timedelta(minutes=1)
            )
        return staged

    monkeypatch.setattr(apply_module, "download_to", began_earlier)
    assert inbox.deliver(small)["status"] == "published"

    assert inbox.deliver(large)["status"] == "published"
    assert live_bytes(efs) == validate_model(model(2)).data


def test_model_then_metadata_embeds_the_metadata(inbox: InboxRun, efs: Path) -> None:
    inbox.deliver(inbox.put(KEY, model(1)))
    labels = {"class_labels": ["stays", "churns"], "feature_names": ["f0", "f1", "f2", "f3"]}
    metadata = inbox.put(METADATA_KEY, json.dumps(labels).encode())

    outcome = inbox.deliver(metadata)

    assert outcome["status"] == "published" and outcome["live_version"] == 2
    assert served(efs).metadata.class_labels == ["stays", "churns"]
    assert served(efs).feature_names == ["f0", "f1", "f2", "f3"]
    assert inbox.status(metadata) == ("published", None)
    assert not (efs / "iris" / "metadata.json").exists()  # inside the model file instead
    newer = inbox.put(METADATA_KEY, json.dumps({**labels, "description": "v2"}).encode())
    inbox.deliver(newer)
    assert inbox.status(metadata) == ("replaced", None)
    assert served(efs).metadata.description == "v2"


def test_metadata_then_model_waits_then_embeds(inbox: InboxRun, efs: Path) -> None:
    metadata = inbox.put(METADATA_KEY, b'{"description": "first metadata, then model"}')

    assert inbox.deliver(metadata)["status"] == "pending"
    assert inbox.status(metadata)[0] == "pending"
    upload = inbox.put(KEY, model(1))
    assert inbox.deliver(upload)["status"] == "published"

    assert served(efs).metadata.description == "first metadata, then model"
    assert inbox.status(metadata) == ("published", None)


def test_a_new_feature_set_converges_whatever_order_model_and_metadata_arrive(
    inbox: InboxRun, efs: Path
) -> None:
    four = {"feature_names": ["f0", "f1", "f2", "f3"]}
    inbox.deliver(inbox.put(METADATA_KEY, json.dumps(four).encode()))
    inbox.deliver(inbox.put(KEY, model(1)))
    five = {"feature_names": ["f0", "f1", "f2", "f3", "f4"]}

    # The new model goes first: the bucket still holds the old metadata, so it is refused...
    wider = inbox.put(KEY, model(2, n_features=5))
    outcome = inbox.deliver(wider)
    assert outcome["status"] == "rejected"
    assert "metadata.json lists 4 features but the model has 5" in outcome["reason"]
    assert served(efs).num_features == 4
    # ...until the matching metadata arrives and publishes it.
    assert inbox.deliver(inbox.put(METADATA_KEY, json.dumps(five).encode()))["status"] == (
        "published"
    )
    assert served(efs).feature_names == five["feature_names"]
    assert inbox.status(wider) == ("published", None)


def test_metadata_that_does_not_fit_is_rejected_and_tagged(inbox: InboxRun, efs: Path) -> None:
    inbox.deliver(inbox.put(KEY, model(1)))
    metadata = inbox.put(METADATA_KEY, b'{"feature_names": ["only-one"]}')

    outcome = inbox.deliver(metadata)

    assert outcome["status"] == "rejected"
    assert inbox.status(metadata) == (
        "rejected",
        "does not fit models/iris/model.ubj: metadata.json lists 1 features but the model has 4",
    )
    assert live_bytes(efs) == model(1)


def test_metadata_inside_an_uploaded_model_wins_over_the_buckets(
    inbox: InboxRun, efs: Path
) -> None:
    inbox.deliver(inbox.put(METADATA_KEY, b'{"description": "in the bucket"}'))
    own = validate_model(model(1), metadata=b'{"description": "in the file"}').data

    inbox.deliver(inbox.put(KEY, own))

    assert served(efs).metadata.description == "in the file"
    assert live_bytes(efs) == own


def test_removing_metadata_does_not_unpublish(inbox: InboxRun, efs: Path) -> None:
    inbox.deliver(inbox.put(METADATA_KEY, b'{"description": "kept"}'))
    inbox.deliver(inbox.put(KEY, model(1)))

    outcome = inbox.deliver(inbox.delete(METADATA_KEY))

    assert outcome["status"] == "ignored"
    assert served(efs).metadata.description == "kept"


def test_url_encoded_keys_are_decoded(inbox: InboxRun, efs: Path) -> None:
    event = inbox.put("models/iris/iris v2+final.ubj", model(1))
    assert event["Records"][0]["s3"]["object"]["key"] == "models/iris/iris+v2%2Bfinal.ubj"

    assert inbox.deliver(event)["status"] == "published"
    assert live_bytes(efs) == model(1)


def test_keys_outside_the_pattern_are_ignored(inbox: InboxRun, efs: Path) -> None:
    for key in ("models/iris/notes.txt", "models/iris.ubj", "elsewhere/iris/model.ubj"):
        assert inbox.deliver(inbox.put(key, model(1)))["status"] == "ignored"
    assert list(efs.iterdir()) == []


def test_temporary_files_of_a_crashed_run_are_cleaned_up(inbox: InboxRun, efs: Path) -> None:
    (efs / "iris").mkdir()
    crashed = efs / "iris" / ".tmp-41-0123456789ab"
    crashed.write_bytes(b"half of a model")  # just now: the next publish need not wait

    inbox.deliver(inbox.put(KEY, model(1)))

    assert not crashed.exists()
    leftovers = {p.name for p in (efs / "iris").iterdir()}
    assert leftovers == {"model.ubj", ".history", ".lock", STATE_FILE}


def test_s3_failures_raise_so_lambda_retries_and_the_retry_works(
    inbox: InboxRun, efs: Path
) -> None:
    event = inbox.put(KEY, model(1))
    inbox.s3.put_bucket_versioning(
        Bucket=inbox.bucket, VersioningConfiguration={"Status": "Suspended"}
    )
    broken = json.loads(json.dumps(event))
    broken["Records"][0]["s3"]["bucket"]["name"] = "no-such-inbox-bucket"

    with pytest.raises(ClientError, match="NoSuchBucket"):
        inbox.deliver(broken)
    assert live_bytes(efs) is None
    assert inbox.deliver(event)["status"] == "published"  # nothing was recorded as handled


def test_the_s3_test_event_is_acknowledged(inbox: InboxRun) -> None:
    event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": inbox.bucket}

    assert router.publish.lambda_handler.handler(event, inbox.context) == {
        "outcomes": [],
        "malformed": [],
    }


def test_an_upload_over_the_size_limit_is_rejected_from_the_events_size(
    inbox: InboxRun, efs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = model(1)
    inbox.deliver(inbox.put(KEY, good))
    monkeypatch.setenv("ROUTER_INBOX_MAX_BYTES", str(2**20))
    big = inbox.put(KEY, good + b"\0" * 2**20)  # over the limit by its size alone

    outcome = inbox.deliver(big)

    assert outcome["status"] == "rejected"
    assert "ROUTER_INBOX_MAX_BYTES" in outcome["reason"]
    status, reason = inbox.status(big)
    assert status == "rejected" and reason is not None and "MiB" in reason
    assert live_bytes(efs) == good
    assert sorted(p.name for p in (efs / "iris").iterdir()) == [
        ".history",
        STATE_FILE,
        ".lock",
        "model.ubj",
    ]


def test_an_event_without_a_size_is_refused_from_the_objects_length_before_reading(
    inbox: InboxRun, efs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_INBOX_MAX_BYTES", str(2**20))
    event = inbox.put(KEY, model(1) + b"\0" * 2**20)
    del event["Records"][0]["s3"]["object"]["size"]

    outcome = inbox.deliver(event)

    assert outcome["status"] == "rejected"
    assert "ROUTER_INBOX_MAX_BYTES" in outcome["reason"]
    assert live_bytes(efs) is None


def test_an_upload_is_held_in_memory_once_not_twice(inbox: InboxRun, efs: Path) -> None:
    booster = train_booster("binary", seed=1)
    booster.set_attr(padding="x" * 8 * 2**20)  # an 8 MiB model that trains in no time
    data = model_bytes(booster)
    event = inbox.put(KEY, data)

    tracemalloc.start()
    try:
        outcome = inbox.deliver(event)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert outcome["status"] == "published"
    # The staged file read back once, and XGBoost's copy of it: not the download as well.
    assert peak < 2.5 * len(data), f"peak {peak / 2**20:.1f} MiB for {len(data) / 2**20:.1f}"


def oversized_metadata() -> bytes:
    """Valid metadata, one byte over the cap."""
    document = b'{"description": "%s"}'
    return document % (b"x" * (METADATA_MAX_BYTES + 1 - len(document % b"")))


def reads_of(key: str) -> list[str]:
    """The GETs the handler's own S3 client will make of ``key``, recorded as they happen."""
    calls: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == key:
            calls.append(key)

    router.publish.lambda_handler.s3_client().meta.events.register(
        "before-call.s3.GetObject", record
    )
    return calls


def test_metadata_over_the_cap_is_rejected_without_being_downloaded(
    inbox: InboxRun, efs: Path
) -> None:
    inbox.deliver(inbox.put(KEY, model(1)))
    metadata = inbox.put(METADATA_KEY, oversized_metadata())
    reads = reads_of(METADATA_KEY)

    outcome = inbox.deliver(metadata)

    reason = (
        "metadata.json is 1048577 bytes: more than the 1048576 bytes the inbox accepts for "
        "a metadata file"
    )
    assert (outcome["status"], outcome["reason"]) == ("rejected", reason)
    assert inbox.status(metadata) == ("rejected", reason)
    assert reads == []  # refused from its HEAD
    assert live_bytes(efs) == model(1)


def test_a_model_is_rejected_while_the_buckets_metadata_is_over_the_cap(
    inbox: InboxRun, efs: Path
) -> None:
    inbox.deliver(inbox.put(METADATA_KEY, oversized_metadata()))
    upload = inbox.put(KEY, model(1))
    reads = reads_of(METADATA_KEY)

    outcome = inbox.deliver(upload)

    assert outcome["status"] == "rejected"
    assert outcome["reason"].startswith("cannot use the bucket's metadata.json: metadata.json is 1")
    assert inbox.status(upload)[0] == "rejected"
    assert reads == []
    assert live_bytes(efs) is None


def test_metadata_written_over_after_its_head_is_read_no_further_than_the_cap(
    s3: S3Client, bucket: str
) -> None:
    """An unversioned key can change between the HEAD and the GET: the read stops anyway."""
    plain = "model-router-inbox-unversioned"
    s3.create_bucket(Bucket=plain, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=plain, Key=METADATA_KEY, Body=b"{}")
    writer = boto3.client("s3", region_name="eu-west-1")
    read: list[int] = []

    def write_over(**_: Any) -> None:
        writer.put_object(Bucket=plain, Key=METADATA_KEY, Body=b" " * 10 * 1024 + b"{}")

    def count_reads(parsed: dict[str, Any], **_: Any) -> None:
        body = parsed["Body"]
        original = body.read

        def counted(amt: int | None = None) -> bytes:
            chunk: bytes = original(amt)
            read.append(len(chunk))
            return chunk

        body.read = counted

    s3.meta.events.register("after-call.s3.HeadObject", write_over)
    s3.meta.events.register("after-call.s3.GetObject", count_reads)

    with pytest.raises(ObjectTooLarge, match="is more than the 1024 bytes"):
        download_metadata(s3, plain, METADATA_KEY, max_bytes=1024)
    assert sum(read) == 1025


@pytest.mark.parametrize(
    "event",
    [load_event("eventbridge_s3_object_created"), {"detail": {}}, [1, 2]],
    ids=["eventbridge", "no-records", "a-list"],
)
def test_an_event_that_is_no_s3_notification_is_answered_and_logged_not_retried(
    inbox: InboxRun, event: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # An EventBridge rule (the batch function's) wired to the inbox: a retry fails the same.
    result = router.publish.lambda_handler.handler(event, inbox.context)

    assert result["outcomes"] == [] and "not" in result["ignored"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [line] = [line for line in lines if "S3 notifications only" in line["message"]]
    assert line["level"] == "ERROR"


def test_a_malformed_record_is_reported_and_the_other_records_of_its_event_are_handled(
    inbox: InboxRun, efs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = inbox.put(KEY, model(1))
    second = inbox.put("models/other/model.ubj", model(2))
    broken = json.loads(json.dumps(first["Records"][0]))
    del broken["s3"]["object"]["key"]
    event = {"Records": [first["Records"][0], broken, second["Records"][0]]}

    result = router.publish.lambda_handler.handler(event, inbox.context)

    assert [o["status"] for o in result["outcomes"]] == ["published", "published"]
    assert result["malformed"] == [{"index": 1, "reason": "the record has no s3.object.key"}]
    assert live_bytes(efs) == model(1) and live_bytes(efs, "other") == model(2)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [skipped] = [line for line in lines if line["message"] == "malformed S3 record skipped"]
    assert (skipped["level"], skipped["record_index"]) == ("WARNING", 1)
    assert skipped["reason"] == "the record has no s3.object.key"


@pytest.mark.parametrize("deleted_first", ["copy", "original"])
def test_the_live_version_stays_until_every_object_holding_it_is_deleted(
    inbox: InboxRun, efs: Path, deleted_first: str
) -> None:
    """An upload of the live bytes under another key is "unchanged": deleting either object
    leaves the model live, from the other one; deleting both unpublishes it."""
    original = inbox.put(KEY, model(1))
    inbox.deliver(original)
    copy = inbox.put("models/iris/copy.ubj", model(1))
    assert inbox.deliver(copy)["status"] == "unchanged"
    # Both hold the live version: neither is tagged replaced, which would say it is not.
    assert inbox.status(original)[0] == inbox.status(copy)[0] == "published"
    first, then = (copy, original) if deleted_first == "copy" else (original, copy)

    outcome = inbox.deliver(inbox.delete(key_of(first)))

    assert outcome["status"] == "ignored"
    assert live_bytes(efs) == model(1)
    assert inbox.status(then)[0] == "published"
    assert inbox.deliver(inbox.delete(key_of(then)))["status"] == "unpublished"
    assert live_bytes(efs) is None
    assert inbox.status(then)[0] == "unpublished"


def test_deleting_the_newer_of_two_identical_versions_keeps_the_older_live(
    inbox: InboxRun, efs: Path
) -> None:
    older = inbox.put(KEY, model(1))
    inbox.deliver(older)
    newer = inbox.put(KEY, model(1))
    assert inbox.deliver(newer)["status"] == "unchanged"

    outcome = inbox.deliver(inbox.delete(KEY, version_of(newer)))  # the older is current again

    assert outcome["status"] == "ignored"
    assert live_bytes(efs) == model(1)
    assert inbox.status(older)[0] == "published"
    assert inbox.deliver(inbox.delete(KEY))["status"] == "unpublished"  # a delete marker


def test_verdicts_are_tagged_by_a_client_bounded_for_calls_under_the_lock(
    inbox: InboxRun,
) -> None:
    # Tags are written while the model's lock is held: the default bounds (3 attempts of
    # connect + read each) could keep it past the function's timeout in an S3 brown-out.
    from router.publish.s3 import (
        TAGGING_ATTEMPTS,
        TAGGING_CONNECT_TIMEOUT_S,
        TAGGING_READ_TIMEOUT_S,
    )

    tagger = router.publish.lambda_handler.tagging_client()
    tagged: list[str] = []
    tagger.meta.events.register(
        "before-parameter-build.s3.PutObjectTagging",
        lambda params, **_: tagged.append(params["Key"]),
    )

    inbox.deliver(inbox.put(KEY, model(1)))

    assert tagged == [KEY]
    config = tagger.meta.config
    assert (config.connect_timeout, config.read_timeout) == (
        TAGGING_CONNECT_TIMEOUT_S,
        TAGGING_READ_TIMEOUT_S,
    )
    assert config.retries["total_max_attempts"] == TAGGING_ATTEMPTS
