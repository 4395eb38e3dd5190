"""router.history: what the store says a model's versions are, whoever wrote the files."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from router.errors import ModelNotFound, ModelOutsideRoot
from router.history import history, versions
from router.publish.local import ModelFolder
from router.store import ModelStore
from tests.modelkit import model_bytes, train_booster, write_model
from tests.v2.conftest import publish

if TYPE_CHECKING:
    from pathlib import Path

    import xgboost as xgb
    from fastapi.testclient import TestClient


def test_only_regular_entries_named_as_publishers_name_them_count(
    model_root: Path, iris_boosters: list[xgb.Booster], tmp_path: Path
) -> None:
    published = publish(model_root, iris_boosters[0])
    folder = model_root / "iris" / ".history"
    outside = write_model(tmp_path / "outside", "x", iris_boosters[1], layout="file")
    (folder / f"000009-20260101T000000Z-{'a' * 64}.ubj").symlink_to(outside)
    (folder / "notes.txt").write_text("not a version")
    (folder / ".tmp-123-abc").write_bytes(b"half a model")

    (entry,) = history(ModelStore(model_root), "iris")

    assert (entry.number, entry.version) == (1, published.version)


def test_a_history_folder_leading_outside_the_root_is_refused(
    model_root: Path, tmp_path: Path
) -> None:
    write_model(model_root, "m", train_booster())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (model_root / "m" / ".history").symlink_to(elsewhere)

    with pytest.raises(ModelOutsideRoot):
        history(ModelStore(model_root), "m")


def test_an_unpublished_model_keeps_its_versions(
    client: TestClient, model_root: Path, iris_boosters: list[xgb.Booster]
) -> None:
    published = [publish(model_root, booster) for booster in iris_boosters[:2]]
    with ModelFolder(model_root, "iris", history_limit=5) as folder:
        folder.unpublish()

    listed = versions(ModelStore(model_root), "iris")
    pinned = client.post(
        f"/models/iris/versions/{published[0].version}/predict",
        json={"instances": [[5.1, 3.5, 1.4, 0.2]]},
    )

    assert [(v.version, v.live) for v in listed] == [
        (published[1].version, False),
        (published[0].version, False),
    ]
    assert pinned.status_code == 200 and pinned.json()["version"] == published[0].version
    assert client.post("/models/iris/predict", json={"instances": [[1.0] * 4]}).status_code == 404


def test_a_file_dropped_over_a_published_model_is_its_newest_live_version(
    model_root: Path, iris_boosters: list[xgb.Booster]
) -> None:
    published = publish(model_root, iris_boosters[0])
    (model_root / "iris" / "model.ubj").unlink()
    write_model(model_root, "iris", model_bytes(iris_boosters[1]))  # by hand, no history

    listed = versions(ModelStore(model_root), "iris")

    assert [(v.number, v.live) for v in listed] == [(None, True), (1, False)]
    assert listed[1].version == published.version
    assert listed[0].version != published.version


def test_no_model_and_no_history_is_not_found(model_root: Path) -> None:
    with pytest.raises(ModelNotFound):
        versions(ModelStore(model_root), "nothing")
