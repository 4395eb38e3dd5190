"""Every published version can be addressed; a pinned one never changes its answers."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import numpy as np
import pytest
from fastapi.testclient import TestClient

from router.api import create_app
from router.publish.local import ModelFolder, rollback
from router.registry.registry import ModelRegistry
from router.settings import Settings
from tests.modelkit import replace_file, train_booster, write_model
from tests.v2.conftest import expected, publish

if TYPE_CHECKING:
    from pathlib import Path

    import xgboost as xgb

    from tests.v2.conftest import Published


def client_for(settings: Settings) -> TestClient:
    return TestClient(
        create_app(settings, ModelRegistry.from_settings(settings)), raise_server_exceptions=False
    )


def predictions(client: TestClient, path: str, rows: np.ndarray) -> tuple[str, np.ndarray]:
    response = client.post(path, json={"instances": rows.tolist()})
    assert response.status_code == 200, response.text
    body = response.json()
    return body["version"], np.asarray(body["predictions"], dtype=np.float32)


def test_pinned_versions_never_change_while_live_moves_and_rolls_back(
    settings: Settings, model_root: Path, iris_boosters: list[xgb.Booster], iris_rows: np.ndarray
) -> None:
    client = client_for(settings)
    published: list[Published] = []
    for booster in iris_boosters:
        published.append(publish(model_root, booster))
        live_version, live = predictions(client, "/models/iris/predict", iris_rows)
        assert live_version == published[-1].version
        # Every version published so far answers as its own booster, pinned by URL.
        for earlier in published:
            pinned_path = f"/models/iris/versions/{earlier.version}/predict"
            version, pinned = predictions(client, pinned_path, iris_rows)
            assert version == earlier.version
            np.testing.assert_array_equal(pinned, expected(earlier.booster, iris_rows))
    assert len({p.version for p in published}) == 3

    with ModelFolder(model_root, "iris", history_limit=5) as folder:
        rollback(folder)  # back to the second version
    live_version, live = predictions(client, "/models/iris/predict", iris_rows)
    pinned_version, pinned = predictions(
        client, f"/models/iris/versions/{published[2].version}/predict", iris_rows
    )

    assert live_version == published[1].version
    np.testing.assert_array_equal(live, expected(iris_boosters[1], iris_rows))
    assert pinned_version == published[2].version
    np.testing.assert_array_equal(pinned, expected(iris_boosters[2], iris_rows))


def test_versions_lists_history_newest_first_with_the_live_one(
    client: TestClient, model_root: Path, iris_boosters: list[xgb.Booster]
) -> None:
    published = [publish(model_root, booster) for booster in iris_boosters]
    with ModelFolder(model_root, "iris", history_limit=5) as folder:
        rollback(folder, to=1)

    listed = client.get("/models/iris/versions").json()["versions"]

    assert [v["version"] for v in listed] == [published[0].version] + [
        p.version for p in reversed(published)
    ]
    assert [v["number"] for v in listed] == [4, 3, 2, 1]
    assert [v["live"] for v in listed] == [True, False, False, False]
    assert all(v["size"] > 0 and v["published_at"].endswith("Z") for v in listed)


def test_unknown_version_is_404_listing_the_known_ones(
    client: TestClient, model_root: Path, iris_boosters: list[xgb.Booster], iris_rows: np.ndarray
) -> None:
    versions = [publish(model_root, booster).version for booster in iris_boosters[:2]]

    response = client.post(
        "/models/iris/versions/0123456789ab/predict", json={"instances": iris_rows.tolist()}
    )

    assert response.status_code == 404
    problem = response.json()
    assert problem["type"].endswith("version-not-found")
    assert f"{versions[1]} (live), {versions[0]}" in problem["detail"]
    assert client.get("/models/nope/versions").status_code == 404


def test_a_hand_made_model_has_one_version_its_live_file(
    client: TestClient, model_root: Path, iris_rows: np.ndarray
) -> None:
    booster = train_booster("multiclass", feature_names=["a", "b", "c", "d"])
    write_model(model_root, "m", booster, metadata={"class_labels": ["x", "y", "z"]})

    listed = client.get("/models/m/versions").json()["versions"]
    version, pinned = predictions(
        client, f"/models/m/versions/{listed[0]['version']}/predict", iris_rows
    )

    assert [(v["number"], v["live"]) for v in listed] == [(None, True)]
    assert version == listed[0]["version"]
    np.testing.assert_array_equal(pinned, expected(booster, iris_rows))


def test_a_live_file_known_not_to_load_is_not_listed_as_a_version(
    client: TestClient, model_root: Path, iris_boosters: list[xgb.Booster], iris_rows: np.ndarray
) -> None:
    # A file dropped by hand that the router tried and could not load: not a version that
    # can be served, so the listing does not offer it (the published ones stay).
    published = publish(model_root, iris_boosters[0])
    replace_file(model_root / "iris" / "model.ubj", b"not a model")
    assert [v["live"] for v in client.get("/models/iris/versions").json()["versions"]] == [
        True,  # not tried yet: the live file, unpublished (number null)
        False,
    ]

    version, _ = predictions(client, "/models/iris/predict", iris_rows)

    listed = client.get("/models/iris/versions").json()["versions"]
    assert version == published.version
    assert [(v["version"], v["number"], v["live"]) for v in listed] == [
        (published.version, 1, False)
    ]


def test_pinned_versions_count_against_the_same_cache(
    model_root: Path, iris_boosters: list[xgb.Booster], iris_rows: np.ndarray
) -> None:
    published = [publish(model_root, booster) for booster in iris_boosters]
    settings = Settings(model_root=model_root, reload_interval_s=0, cache_max_models=2)
    registry = ModelRegistry.from_settings(settings)
    client = TestClient(create_app(settings, registry))

    for p in published:
        predictions(client, f"/models/iris/versions/{p.version}/predict", iris_rows)
    predictions(client, "/models/iris/predict", iris_rows)

    # The live version pinned is the live model itself: three loads, not four.
    assert registry.metrics.totals()["ModelLoad"] == 3
    assert registry.cache_usage()["models"] == 2
    assert registry.metrics.totals()["CacheEviction"] == 1

    predictions(client, f"/models/iris/versions/{published[0].version}/predict", iris_rows)

    assert registry.metrics.totals()["ModelLoad"] == 4
    assert registry.metrics.totals()["CacheEviction"] == 2


def test_a_pinned_version_pruned_from_history_is_no_longer_served(
    client: TestClient,
    registry: ModelRegistry,
    model_root: Path,
    iris_boosters: list[xgb.Booster],
    iris_rows: np.ndarray,
) -> None:
    first, _ = (publish(model_root, booster) for booster in iris_boosters[:2])
    path = f"/models/iris/versions/{first.version}/predict"
    predictions(client, path, iris_rows)

    for entry in (model_root / "iris" / ".history").glob(f"*-{first.version}*.ubj"):
        entry.unlink()

    assert client.post(path, json={"instances": iris_rows.tolist()}).status_code == 404
    assert registry.cache_usage()["models"] == 1  # the live one; the pruned one is unloaded


# -- a working version survives eviction and restart (issue 14, item 6) -------------------


@pytest.fixture
def broken_live(model_root: Path, iris_boosters: list[xgb.Booster]) -> list[Published]:
    """Two good versions published, then a broken file dropped over the live one by hand."""
    published = [publish(model_root, booster) for booster in iris_boosters[:2]]
    live = model_root / "iris" / "model.ubj"
    temp = live.with_name(".model.ubj.tmp")
    temp.write_bytes(live.read_bytes()[:-40])  # truncated: fails the structure check
    temp.replace(live)
    return published


@pytest.mark.parametrize("how", ["new process", "eviction"])
def test_a_broken_live_file_serves_the_newest_history_version_that_loads(
    settings: Settings,
    model_root: Path,
    broken_live: list[Published],
    iris_rows: np.ndarray,
    how: str,
) -> None:
    registry = ModelRegistry.from_settings(settings)
    client = TestClient(create_app(settings, registry))
    if how == "eviction":
        write_model(model_root, "other", train_booster())
        small = Settings(model_root=model_root, reload_interval_s=0, cache_max_models=1)
        registry = ModelRegistry.from_settings(small)
        client = TestClient(create_app(small, registry))
        predictions(client, "/models/iris/predict", iris_rows)
        client.post("/models/other/predict", json={"instances": [[0.0] * 4]})  # evicts iris
        assert registry.cache_usage()["models"] == 1

    version, served = predictions(client, "/models/iris/predict", iris_rows)
    status = client.get("/models/iris").json()

    newest = broken_live[-1]
    assert version == newest.version
    np.testing.assert_array_equal(served, expected(newest.booster, iris_rows))
    assert status["version"] == newest.version and status["stale"] is True
    assert "not a valid XGBoost UBJ model" in status["last_error"]


def test_no_loadable_version_is_503_without_retry_after(
    client: TestClient, model_root: Path, broken_live: list[Published], iris_rows: np.ndarray
) -> None:
    shutil.rmtree(model_root / "iris" / ".history")

    response = client.post("/models/iris/predict", json={"instances": iris_rows.tolist()})

    assert response.status_code == 503
    assert response.json()["type"].endswith("model-unavailable")
    assert "retry-after" not in response.headers


def test_broken_history_versions_are_skipped_for_an_older_one_that_loads(
    client: TestClient, model_root: Path, iris_boosters: list[xgb.Booster], iris_rows: np.ndarray
) -> None:
    oldest, middle, newest = (publish(model_root, booster) for booster in iris_boosters)
    history = model_root / "iris" / ".history"
    for damaged in (middle, newest):  # bit rot, or hand edits of .history/
        (entry,) = history.glob(f"*-{damaged.version}*.ubj")
        entry.write_bytes(entry.read_bytes()[:100])
    live = model_root / "iris" / "model.ubj"
    broken = live.with_name(".model.ubj.tmp")
    broken.write_bytes(live.read_bytes()[:-40])  # and a broken file renamed over the live one
    broken.replace(live)

    version, served = predictions(client, "/models/iris/predict", iris_rows)

    assert version == oldest.version
    np.testing.assert_array_equal(served, expected(oldest.booster, iris_rows))
