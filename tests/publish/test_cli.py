"""``model-router publish | versions | rollback``, on a folder and on a moto inbox bucket."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import boto3
import pytest
from moto.core import set_initial_no_auth_action_count

from router.cli import main
from router.errors import InvalidModelFile
from router.publish.errors import InboxRejected, NoVerdict
from router.publish.s3 import REASON_TAG, STATUS_TAG, UPLOAD_ID_METADATA, wait_for_verdict
from router.store import ModelStore
from tests.modelkit import model_bytes, train_booster, write_model

from .conftest import REGION

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

KEY = "models/churn/model.ubj"


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "churn.json"
    path.write_bytes(model_bytes(train_booster("binary", seed=1), "json"))
    return path


@pytest.fixture
def other_model_file(tmp_path: Path) -> Path:
    path = tmp_path / "churn-v2.ubj"
    path.write_bytes(model_bytes(train_booster("binary", seed=2)))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> str:
    with pytest.raises(SystemExit) as exited:
        main([str(arg) for arg in argv])
    assert exited.value.code == 2
    return capsys.readouterr().err


# -- a folder --------------------------------------------------------------------------------


def test_publish_to_a_folder_then_versions_and_rollback(
    model_root: Path, model_file: Path, other_model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "publish", model_file, "--name", "churn", "--model-root", model_root)
    assert code == 0
    assert "binary:logistic, 4 features" in out and "converted from JSON" in out
    assert "published churn as version 1" in out
    run(capsys, "publish", other_model_file, "--name", "churn", "--model-root", model_root)

    code, out, _ = run(capsys, "versions", "churn", "--model-root", model_root)
    assert code == 0
    rows = out.splitlines()[1:]
    assert [row.split()[0] for row in rows] == ["2", "1"] and rows[0].endswith("live")

    code, out, _ = run(capsys, "rollback", "churn", "--model-root", model_root)
    assert code == 0 and "rolled churn back to version 1: live as version 3" in out
    live = ModelStore(model_root).resolve("churn").path.read_bytes()
    assert live == bytes(train_booster("binary", seed=1).save_raw("ubj"))


def test_versions_says_when_the_live_file_is_no_published_version(
    model_root: Path, model_file: Path, other_model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # cp over model.ubj after a publish: no version is marked live, and the listing says why.
    run(capsys, "publish", model_file, "--name", "churn", "--model-root", model_root)
    live = model_root / "churn" / "model.ubj"
    live.write_bytes(bytes(train_booster("binary", seed=2).save_raw("ubj")))

    code, out, _ = run(capsys, "versions", "churn", "--model-root", model_root)

    assert code == 0
    assert not any(line.endswith("live") for line in out.splitlines())
    assert f"live: {live} holds no published version (written by hand)" in out
    code, out, _ = run(capsys, "rollback", "churn", "--model-root", model_root)
    assert code == 0 and "rolled churn back to version 1" in out


def test_publishing_the_live_model_again_says_so(
    model_root: Path, other_model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("publish", other_model_file, "--name", "churn", "--model-root", model_root)
    run(capsys, *argv)

    code, out, _ = run(capsys, *argv)

    assert code == 0 and "live already (version 1)" in out


def test_publish_embeds_metadata_and_drop_metadata_drops_it(
    model_root: Path, model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from router.xgb.loader import load_model

    metadata = tmp_path / "meta.json"
    metadata.write_text(json.dumps({"class_labels": ["stays", "churns"]}))

    _, out, _ = run(capsys, "publish", model_file, "--name", "churn", "--model-root", model_root,
                    "--metadata", metadata)  # fmt: skip

    loaded = load_model(ModelStore(model_root).read_named("churn"), nthread=1)
    assert loaded.metadata.class_labels == ["stays", "churns"]
    assert out.splitlines()[0].endswith(", with metadata")

    _, out, _ = run(capsys, "publish", model_file, "--name", "churn",
                    "--model-root", model_root, "--drop-metadata")  # fmt: skip

    loaded = load_model(ModelStore(model_root).read_named("churn"), nthread=1)
    assert loaded.metadata.class_labels is None
    assert out.splitlines()[0].endswith(", without metadata")  # the published {}, truly


def test_a_retrain_published_over_a_folder_made_by_hand_keeps_its_metadata_json(
    model_root: Path, other_model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The layout `make run`'s demo models have: model.ubj, and its labels in metadata.json.
    from router.xgb.loader import load_model

    labels = {
        "class_labels": ["stays", "churns"],
        "feature_names": ["f0", "f1", "f2", "f3"],
        "description": "churn, by hand",
    }
    write_model(model_root, "churn", train_booster("binary"), metadata=labels)

    code, out, _ = run(capsys, "publish", other_model_file, "--name", "churn",
                       "--model-root", model_root)  # fmt: skip

    assert code == 0
    assert "kept the live version's metadata (feature_names, class_labels, description)" in out
    files = ModelStore(model_root).read_named("churn")
    assert files.published and files.data != model_bytes(train_booster("binary"))
    loaded = load_model(files, nthread=1)
    assert loaded.metadata.class_labels == ["stays", "churns"]
    assert loaded.metadata.description == "churn, by hand"


def test_a_metadata_json_beside_the_model_is_pointed_out(
    model_root: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model_file.parent / "metadata.json").write_text("{}")

    _, _, err = run(capsys, "publish", model_file, "--name", "churn", "--model-root", model_root)

    assert "metadata.json is not published; pass --metadata" in err


def test_the_default_root_comes_from_router_model_root(
    model_root: Path,
    model_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ROUTER_MODEL_ROOT", str(model_root))

    code, _, _ = run(capsys, "publish", model_file, "--name", "churn")

    assert code == 0 and ModelStore(model_root).names() == ["churn"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "error: cannot read model file .*: No such file or directory"),
        (b"name,age\nann,41\n", "error: .* cannot be published: not an XGBoost model"),
        (b'{"learner": {}}', "error: .* cannot be published: XGBoost could not load"),
    ],
)
def test_unpublishable_files_are_clear_errors(
    model_root: Path,
    tmp_path: Path,
    content: bytes | None,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "model.ubj"
    if content is not None:
        path.write_bytes(content)

    code, _, err = run(capsys, "publish", path, "--name", "churn", "--model-root", model_root)

    assert code == 1
    assert re.search(message, err), err
    assert ModelStore(model_root).names() == []


def test_a_missing_root_is_an_error(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "publish", model_file, "--name", "churn", "--model-root", tmp_path / "nope"
    )

    assert code == 1 and "is not available: No such file or directory" in err


def test_versions_and_rollback_errors(
    model_root: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "versions", "churn", "--model-root", model_root)
    assert code == 1 and "'churn' has no published versions" in err
    run(capsys, "publish", model_file, "--name", "churn", "--model-root", model_root)

    code, _, err = run(capsys, "rollback", "churn", "--model-root", model_root)
    assert code == 1 and "version 1 is live and no earlier version is kept" in err
    code, _, err = run(capsys, "rollback", "churn", "--model-root", model_root, "--to", "7")
    assert code == 1 and "there is no version 7" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("publish", "m.ubj", "--name", "no spaces"), "'no spaces' is not a model name"),
        (("publish", "m.ubj", "--name", "../etc"), "is not a model name"),
        (("publish", "m.ubj"), "the following arguments are required: --name"),
        (("publish", "m.ubj", "--name", "a", "--bucket", "inbox", "--model-root", "r"),
         "not allowed with argument"),
        (("publish", "m.ubj", "--name", "a", "--wait", "5"), "--wait needs --bucket"),
        (("rollback", "a", "--to", "abc"), "a folder's versions are numbers"),
        (("rollback", "a", "--to", "\u00b2"), "a folder's versions are numbers"),
        (("versions", "a", "--limit", "0"), "--limit: '0' is not a whole number, 1 or more"),
        (("versions", "a", "--limit", "2.5"), "--limit: '2.5' is not a whole number"),
        (("publish", "m.ubj", "--name", "a", "--bucket", "my-inbox", "--wait", "-1"),
         "--wait: '-1' is not a number of seconds, 0 to 31,622,400"),
        (("rollback", "a", "--bucket", "my-inbox", "--wait", "nan"),
         "--wait: 'nan' is not a number"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2(
    argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in usage_error(capsys, *argv)


# -- the inbox bucket ------------------------------------------------------------------------


def test_publish_to_the_bucket_validates_uploads_and_prints_the_version(
    s3: S3Client, bucket: str, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "publish", model_file, "--name", "churn", "--bucket", bucket)

    assert code == 0
    assert f"uploaded s3://{bucket}/{KEY}" in out
    version_id = re.search(r"^version: (\S+)$", out, re.MULTILINE)
    assert version_id is not None
    head = s3.head_object(Bucket=bucket, Key=KEY)
    assert head["VersionId"] == version_id.group(1)
    assert UPLOAD_ID_METADATA in head["Metadata"]
    body = s3.get_object(Bucket=bucket, Key=KEY)["Body"].read()
    assert body == bytes(train_booster("binary", seed=1).save_raw("ubj"))  # UBJ, not the JSON
    assert "model-router versions churn --bucket" in out


def test_an_invalid_model_is_never_uploaded(
    s3: S3Client, bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "model.ubj"
    path.write_bytes(b"{L\x00")

    code, _, err = run(capsys, "publish", path, "--name", "churn", "--bucket", bucket)

    assert code == 1 and "cannot be published" in err
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_a_missing_bucket_is_reported_with_its_aws_error_code(
    aws: None, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "publish", model_file, "--name", "churn", "--bucket", "no-bucket")

    assert code == 1
    assert "error: cannot upload to s3://no-bucket: NoSuchBucket" in err


@set_initial_no_auth_action_count(2)  # creating the user and its key
def test_access_denied_is_reported_with_its_aws_error_code(
    bucket: str,
    model_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="no-permissions")
    key = iam.create_access_key(UserName="no-permissions")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # the shared one cached other keys

    publish = run(capsys, "publish", model_file, "--name", "churn", "--bucket", bucket)
    versions = run(capsys, "versions", "churn", "--bucket", bucket)

    assert publish[0] == 1 and f"cannot upload to s3://{bucket}: AccessDenied" in publish[2]
    assert (
        versions[0] == 1 and f"cannot list versions in s3://{bucket}: AccessDenied" in versions[2]
    )


def tag(s3: S3Client, bucket: str, version_id: str, status: str, reason: str = "") -> None:
    tags = [{"Key": STATUS_TAG, "Value": status}]
    if reason:
        tags.append({"Key": REASON_TAG, "Value": reason})
    s3.put_object_tagging(Bucket=bucket, Key=KEY, VersionId=version_id, Tagging={"TagSet": tags})


def put(s3: S3Client, bucket: str, seed: int) -> str:
    body = model_bytes(train_booster("binary", seed=seed))
    return s3.put_object(Bucket=bucket, Key=KEY, Body=body)["VersionId"]


def test_versions_in_the_bucket_show_the_inboxs_verdicts(
    s3: S3Client, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, third = put(s3, bucket, 1), put(s3, bucket, 2), put(s3, bucket, 3)
    tag(s3, bucket, first, "replaced")
    tag(s3, bucket, second, "published")
    tag(s3, bucket, third, "rejected", "metadata.json lists 5 features but the model has 4")
    fourth = put(s3, bucket, 4)

    code, out, _ = run(capsys, "versions", "churn", "--bucket", bucket)

    assert code == 0
    rows = {row.split()[0]: row for row in out.splitlines()[1:]}
    assert rows[fourth].endswith("not handled yet")
    assert rows[third].endswith("rejected: metadata.json lists 5 features but the model has 4")
    assert rows[second].endswith("published (live)")
    assert rows[first].endswith("replaced")
    assert list(rows) == [fourth, third, second, first]


def test_rollback_in_the_bucket_copies_the_version_before_the_live_one(
    s3: S3Client, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, third = put(s3, bucket, 1), put(s3, bucket, 2), put(s3, bucket, 3)
    tag(s3, bucket, first, "replaced")
    tag(s3, bucket, second, "published")
    tag(s3, bucket, third, "rejected", "broken")

    code, out, _ = run(capsys, "rollback", "churn", "--bucket", bucket)

    assert code == 0 and f"validated version {first} of {KEY}" in out
    new_version = re.search(r"^version: (\S+)$", out, re.MULTILINE)
    assert new_version is not None
    latest = s3.get_object(Bucket=bucket, Key=KEY)
    assert latest["VersionId"] == new_version.group(1)
    assert latest["Body"].read() == model_bytes(train_booster("binary", seed=1))
    tags = s3.get_object_tagging(Bucket=bucket, Key=KEY, VersionId=new_version.group(1))
    assert tags["TagSet"] == []  # no verdict copied: the inbox gives its own


def test_rollback_in_the_bucket_to_a_given_version_and_its_errors(
    s3: S3Client, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = put(s3, bucket, 1)
    tag(s3, bucket, first, "published")

    code, _, err = run(capsys, "rollback", "churn", "--bucket", bucket)
    assert code == 1 and "no earlier version to roll back to" in err
    code, _, err = run(capsys, "rollback", "churn", "--bucket", bucket, "--to", "nope")
    assert code == 1 and "there is no version 'nope'" in err
    code, out, _ = run(capsys, "rollback", "churn", "--bucket", bucket, "--to", first)
    assert code == 0 and f"validated version {first}" in out


def test_rollback_refuses_a_version_that_does_not_validate(
    s3: S3Client, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = s3.put_object(Bucket=bucket, Key=KEY, Body=b"{L")["VersionId"]
    put(s3, bucket, 1)

    code, _, err = run(capsys, "rollback", "churn", "--bucket", bucket, "--to", broken)

    assert code == 1 and "not a valid XGBoost UBJ model" in err
    assert len(s3.list_object_versions(Bucket=bucket)["Versions"]) == 2  # nothing copied


def test_wait_reports_the_inboxs_verdict(s3: S3Client, bucket: str) -> None:
    published, rejected, silent = put(s3, bucket, 1), put(s3, bucket, 2), put(s3, bucket, 3)
    tag(s3, bucket, published, "published")
    tag(s3, bucket, rejected, "rejected", "lists 5 features")
    slept: list[float] = []

    assert wait_for_verdict(s3, bucket, KEY, published, timeout_s=5) == "published"
    with pytest.raises(InboxRejected, match="the inbox rejected it: lists 5 features"):
        wait_for_verdict(s3, bucket, KEY, rejected, timeout_s=5)
    with pytest.raises(NoVerdict, match="no verdict from the inbox after 3 s"):
        wait_for_verdict(s3, bucket, KEY, silent, timeout_s=3, clock=lambda: len(slept),
                         sleep=slept.append)  # fmt: skip
    assert len(slept) == 3


def test_publish_wait_without_an_inbox_gives_up_clearly(
    bucket: str, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "publish", model_file, "--name", "churn", "--bucket", bucket, "--wait", "0.01"
    )

    assert code == 1
    assert "version: " in out
    assert "no verdict from the inbox after 0.01 s" in err


def test_invalid_model_file_error_names_the_file(tmp_path: Path) -> None:
    from router.publish.cli import _validate_file

    path = tmp_path / "m.ubj"
    path.write_bytes(b"{}")
    with pytest.raises(InvalidModelFile, match=r"m\.ubj cannot be published"):
        _validate_file(path, None)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"class_labels": ["a", "b", "c"]}, "class_labels"),
        ({"colour": "red"}, "unknown key 'colour'"),
    ],
)
def test_metadata_errors_name_the_file_given(
    model_root: Path,
    model_file: Path,
    tmp_path: Path,
    document: dict[str, object],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    metadata = tmp_path / "wrong-count.json"
    metadata.write_text(json.dumps(document))

    code, _, err = run(capsys, "publish", model_file, "--name", "churn",
                       "--model-root", model_root, "--metadata", metadata)  # fmt: skip

    assert code == 1
    assert f"{metadata} " in err and message in err
    assert "metadata.json" not in err


@pytest.mark.parametrize("command", ["versions", "publish"])
def test_an_unknown_aws_profile_is_one_line(
    aws: None,
    model_file: Path,
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nosuch")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # made afresh, as in a new process
    argv = ["versions", "x"] if command == "versions" else ["publish", model_file, "--name", "m"]

    code, _, err = run(capsys, *argv, "--bucket", "inbox")

    assert code == 1
    assert "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith("error: cannot use the AWS configuration: ")
    assert "The config profile (nosuch) could not be found" in line
