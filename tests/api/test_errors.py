"""Bad input gets a 4xx problem+json body; nothing already served is lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

import router.errors
from router.api import create_app
from router.errors import RouterError
from router.registry.registry import ModelRegistry
from router.settings import Settings
from tests.modelkit import model_bytes, rows, train_booster, write_model

if TYPE_CHECKING:
    import httpx2


def assert_problem(response: httpx2.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:model-router:problem:{slug}"
    assert body["title"] and body["detail"] and body["status"] == status
    assert "Traceback" not in response.text
    return body


@pytest.fixture
def served(client: TestClient, model_root: Path) -> TestClient:
    write_model(model_root, "m", train_booster(feature_names=["a", "b", "c", "d"]))
    return client


GOOD_ROW = [0.1, 0.2, 0.3, 0.4]


@pytest.mark.parametrize(
    ("body", "status", "slug", "detail"),
    [
        ({"instances": [[0.1, 0.2, 0.3]]}, 422, "invalid-instances", "expects 4 features"),
        # A number beyond float32's range, named by row and column, or by feature.
        (
            {"instances": [GOOD_ROW, [0.1, 0.2, 1e39, 0.4]]},
            422,
            "invalid-instances",
            "instances.1.2: a number beyond float32's range",
        ),
        (
            {"instances": [{"a": 0.1, "b": -1e39, "c": 0.3, "d": 0.4}]},
            422,
            "invalid-instances",
            "instances.0.b: a number beyond float32's range",
        ),
        ({"instances": [GOOD_ROW, [0.1]]}, 422, "invalid-instances", "expects 4 features"),
        ({"instances": [["0.1", 0.2, 0.3, 0.4]]}, 422, "invalid-instances", "0.0: a string"),
        ({"instances": [[[0.1], 0.2, 0.3, 0.4]]}, 422, "invalid-instances", "0.0: an array"),
        ({"instances": [[{}, 0.2, 0.3, 0.4]]}, 422, "invalid-instances", "0.0: an object"),
        ({"instances": []}, 422, "invalid-instances", "at least 1"),
        ({"instances": [[]]}, 422, "invalid-instances", "expects 4 features"),
        ({}, 422, "invalid-instances", "instances: field required"),
        ({"instances": "abc"}, 422, "invalid-instances", "list of rows"),
        ({"instances": {"a": {"0": 1.0}}}, 422, "invalid-instances", 'to_dict(orient="records")'),
        ({"instances": [None]}, 422, "invalid-instances", "instances.0: a row is"),
        ({"instances": [{"a": 1.0}, GOOD_ROW]}, 422, "invalid-instances", "instances.1: not an"),
        ({"instances": [GOOD_ROW, [0.1, 0.2, "x", 0.4]]}, 422, "invalid-instances", "1.2: a str"),
        ({"instances": [GOOD_ROW], "output": ["value"]}, 422, "invalid-instances", "output"),
        ({"instances": [{"a": 1.0, "typo": 2.0}]}, 422, "invalid-instances", "unknown feature"),
        ({"instances": [{"a": "x"}]}, 422, "invalid-instances", "instances.0.a"),
        ({"instances": [GOOD_ROW, {"a": 1.0}]}, 422, "invalid-instances", "instances.1: not an"),
        (
            {"instances": [GOOD_ROW], "output": "proba"},
            422,
            "invalid-instances",
            'output: "proba" is not one of',
        ),
        # The value as it was sent, in JSON: not Python's repr of what it was parsed into.
        (
            {"instances": [GOOD_ROW], "rounds": 5},
            422,
            "invalid-instances",
            "rounds: 5 is not one of best, all",
        ),
        (
            {"instances": [GOOD_ROW], "output": None},
            422,
            "invalid-instances",
            "output: null is not one of",
        ),
        ({"instances": [GOOD_ROW], "extra": 1}, 422, "invalid-instances", "extra: unknown"),
        ([GOOD_ROW], 422, "invalid-instances", "JSON object"),
    ],
)
def test_invalid_instances(
    served: TestClient, body: object, status: int, slug: str, detail: str
) -> None:
    response = served.post("/models/m/predict", json=body)

    assert detail in assert_problem(response, status, slug)["detail"]
    assert served.post("/models/m/predict", json={"instances": [GOOD_ROW]}).status_code == 200


def test_an_empty_object_row_is_refused_and_one_of_nulls_is_not(served: TestClient) -> None:
    # {} is what a serialisation bug sends (a DataFrame's to_dict() names every column).
    empty = served.post("/models/m/predict", json={"instances": [{"a": 1.0}, {}]})
    assert "row 1: an empty object" in assert_problem(empty, 422, "invalid-instances")["detail"]
    nulls = served.post("/models/m/predict", json={"instances": [{"a": None}, {"b": 2.0}]})
    assert nulls.status_code == 200, nulls.text


def _post_rows(served: TestClient, rows: bytes) -> httpx2.Response:
    """Rows as written, not as json.dumps writes them (Infinity, 1e999, huge integers)."""
    return served.post(
        "/models/m/predict",
        content=b'{"instances": ' + rows + b"}",
        headers={"content-type": "application/json"},
    )


@pytest.mark.parametrize(
    ("number", "shown"),
    [(b"1e39", "instances.0.0: a number beyond float32's range"),
     # Valid JSON that no double holds: the same refusal, not a malformed body.
     (b"1e999", "instances.0.0: 1e999 is beyond float32's range"),
     # Integers too: past a double's range (a 500 once), and past Python's digit limit.
     (b"-" + b"9" * 400, "instances.0.0: a number beyond float32's range"),
     (b"1" * 5000, "instances.0.0: a number beyond float32's range"),
     (b"1" + b"0" * 39, "instances.0.0: a number beyond float32's range")],
)  # fmt: skip
def test_numbers_beyond_float_range_are_refused(
    served: TestClient, number: bytes, shown: str
) -> None:
    response = _post_rows(served, b"[[" + number + b", 0.2, 0.3, 0.4]]")
    assert shown in assert_problem(response, 422, "invalid-instances")["detail"]


@pytest.mark.parametrize(
    ("rows", "where"),
    [
        (
            b"[[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], [0.1, NaN, Infinity, 0.4]]",
            "instances.2.2",
        ),
        (b'[{"a": 1, "b": -Infinity}]', "instances.0.b"),
        (b'[[0.1, 0.2, 0.3, 0.4], {"a": 1, "c": 1e999}]', "instances.1.c"),
        # Given twice, the second replaces it in the parse: refused all the same, unplaced.
        (b'[{"a": Infinity, "a": 2}]', ""),
    ],
)
def test_a_number_the_parse_refuses_is_named_by_its_place(
    served: TestClient, rows: bytes, where: str
) -> None:
    # In a body of thousands of rows, "Infinity is not a number" alone finds nothing.
    response = _post_rows(served, rows)

    detail = assert_problem(response, 422, "invalid-instances")["detail"]
    assert detail.startswith(f"{where}: " if where else "Infinity is not a number a model")


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b'{"instances": [[1,2'])
def test_malformed_json_is_400(served: TestClient, raw: bytes) -> None:
    response = served.post(
        "/models/m/predict", content=raw, headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed-request")


@pytest.mark.parametrize("name", ["-bad", "a%20b", "x" * 129, ".hidden", "%2E%2E"])
def test_invalid_model_names_are_400(served: TestClient, name: str) -> None:
    for response in (
        served.post(f"/models/{name}/predict", json={"instances": [GOOD_ROW]}),
        served.get(f"/models/{name}"),
    ):
        assert_problem(response, 400, "invalid-model-name")


def test_unknown_model_is_404(served: TestClient) -> None:
    response = served.post("/models/nope/predict", json={"instances": [GOOD_ROW]})
    assert "nope" in assert_problem(response, 404, "model-not-found")["detail"]
    assert_problem(served.get("/models/nope"), 404, "model-not-found")


@pytest.mark.parametrize("where", ["pickled.pkl", "pickled/model.joblib"])
def test_a_pickle_where_a_model_would_be_is_named_in_the_404(
    served: TestClient, model_root: Path, where: str
) -> None:
    # What a data scientist saves with pickle.dump (or joblib.dump) and drops in the folder.
    import pickle

    import xgboost as xgb

    classifier = xgb.XGBClassifier(n_estimators=2, max_depth=2, n_jobs=1)
    classifier.fit(rows(40), [0, 1] * 20)
    (model_root / where).parent.mkdir(exist_ok=True)
    (model_root / where).write_bytes(pickle.dumps(classifier))

    response = served.post("/models/pickled/predict", json={"instances": [GOOD_ROW]})

    detail = assert_problem(response, 404, "model-not-found")["detail"]
    assert f"{where} is a pickle, which is never loaded" in detail
    assert 'model.save_model("model.ubj")' in detail and str(model_root) not in detail


def test_unknown_route_and_method_are_problems(served: TestClient) -> None:
    assert_problem(served.get("/nothing-here"), 404, "not-found")
    assert_problem(served.delete("/models/m"), 405, "method-not-allowed")


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("POST", "/models/m/predict/", "/models/m/predict"),
        ("GET", "/models/", "/models"),
        ("POST", "/v2/models/m/infer//", "/v2/models/m/infer"),
    ],
)
def test_a_trailing_slash_is_a_404_that_names_the_route(
    served: TestClient, method: str, path: str, route: str
) -> None:
    response = served.request(method, path, json={"instances": [GOOD_ROW]}, follow_redirects=False)

    assert response.status_code == 404 and "location" not in response.headers
    assert f"{route!r} is, without the slash" in response.text


def test_a_trailing_slash_on_no_route_is_a_plain_404(served: TestClient) -> None:
    body = assert_problem(served.get("/nothing/"), 404, "not-found")
    assert body["detail"] == "Not Found"


def test_symlink_escape_is_403(served: TestClient, model_root: Path, tmp_path: Path) -> None:
    outside = write_model(tmp_path / "outside", "x", train_booster(), layout="file")
    (model_root / "escape.ubj").symlink_to(outside)

    response = served.post("/models/escape/predict", json={"instances": [GOOD_ROW]})

    assert_problem(response, 403, "model-outside-root")


def test_broken_model_without_working_version_is_503(served: TestClient, model_root: Path) -> None:
    write_model(model_root, "broken", b"{\x00garbage", layout="file")

    response = served.post("/models/broken/predict", json={"instances": [GOOD_ROW]})

    assert_problem(response, 503, "model-unavailable")
    assert "retry-after" not in response.headers  # retrying cannot fix a broken file
    detail = served.get("/models/broken").json()
    assert detail["loaded"] is False and "no loadable version" in detail["last_error"]


def test_too_many_rows_is_413(model_root: Path) -> None:
    settings = Settings(model_root=model_root, max_rows=3)
    write_model(model_root, "m", train_booster())
    client = TestClient(create_app(settings, ModelRegistry.from_settings(settings)))

    response = client.post("/models/m/predict", json={"instances": rows(4).tolist()})

    assert "ROUTER_MAX_ROWS" in assert_problem(response, 413, "request-too-large")["detail"]
    assert client.post("/models/m/predict", json={"instances": rows(3).tolist()}).is_success


def test_body_over_the_limit_is_413_whether_declared_or_streamed(model_root: Path) -> None:
    settings = Settings(model_root=model_root, max_body_bytes=2048)
    write_model(model_root, "m", train_booster())
    client = TestClient(create_app(settings, ModelRegistry.from_settings(settings)))
    big = b'{"instances": [' + b",".join([b"[0.1, 0.2, 0.3, 0.4]"] * 200) + b"]}"

    declared = client.post("/models/m/predict", content=big)
    streamed = client.post("/models/m/predict", content=iter([big[:1000], big[1000:]]))

    assert_problem(declared, 413, "request-too-large")
    assert_problem(streamed, 413, "request-too-large")


def test_store_unavailable_is_503(tmp_path: Path) -> None:
    settings = Settings(model_root=tmp_path / "not-mounted")
    client = TestClient(create_app(settings, ModelRegistry.from_settings(settings)))

    assert_problem(client.get("/health"), 503, "store-unavailable")
    assert_problem(client.get("/models"), 503, "store-unavailable")
    assert_problem(
        client.post("/models/m/predict", json={"instances": [GOOD_ROW]}), 503, "store-unavailable"
    )


def _router_errors() -> list[type[RouterError]]:
    found = []
    for value in vars(router.errors).values():
        if isinstance(value, type) and issubclass(value, RouterError) and value is not RouterError:
            found.append(value)
    return found


@pytest.mark.parametrize("error_class", _router_errors(), ids=lambda cls: cls.__name__)
def test_every_router_error_maps_to_its_problem(
    error_class: type[RouterError], settings: Settings, registry: ModelRegistry
) -> None:
    app = create_app(settings, registry)

    @app.get("/raise")
    def raise_it() -> None:
        raise error_class("what went wrong")

    response = TestClient(app).get("/raise")

    body = assert_problem(response, error_class.status, error_class.slug)
    assert (body["title"], body["detail"]) == (error_class.title, "what went wrong")
    assert 400 <= error_class.status < 600


def test_a_bug_is_a_500_problem_without_stack_trace(
    settings: Settings, registry: ModelRegistry
) -> None:
    app = create_app(settings, registry)

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError("secret internals")

    response = TestClient(app, raise_server_exceptions=False).get("/bug")

    body = assert_problem(response, 500, "internal-error")
    assert "secret" not in body["detail"]


def test_xgboost_build_paths_never_reach_a_caller(served: TestClient, model_root: Path) -> None:
    # XGBoost's own message for this is "[hh:mm:ss] /workspace/src/objective/objective.cc:
    # NN: Unknown objective function: ..." (the path of the machine that built the wheel).
    document = json.loads(model_bytes(train_booster(), "json"))
    document["learner"]["objective"]["name"] = "reg:nope"
    write_model(model_root, "x", json.dumps(document).encode(), layout="file", fmt="json")

    predict = served.post("/models/x/predict", json={"instances": [GOOD_ROW]})
    listing = served.get("/models").text
    detail = served.get("/models/x").text

    assert (
        "Unknown objective function" in assert_problem(predict, 503, "model-unavailable")["detail"]
    )
    for text in (predict.text, listing, detail):
        assert "Unknown objective function" in text
        assert ".cc:" not in text and "/workspace" not in text and "] " not in text


def test_the_model_root_is_named_by_its_setting_not_its_path(tmp_path: Path) -> None:
    root = tmp_path / "not-mounted"
    settings = Settings(model_root=root)
    client = TestClient(create_app(settings, ModelRegistry.from_settings(settings)))
    write_model(tmp_path, "other", train_booster())  # tmp_path exists; the root does not

    health = client.get("/health")
    predict = client.post("/models/m/predict", json={"instances": [GOOD_ROW]})

    for response in (health, predict):
        assert "ROUTER_MODEL_ROOT" in assert_problem(response, 503, "store-unavailable")["detail"]
        assert str(tmp_path) not in response.text


def test_a_root_named_like_a_word_leaves_the_words_of_messages_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--model-root models`` (or ``store``): the word in a message is no path to hide."""
    monkeypatch.chdir(tmp_path)
    for word in ("models", "store"):
        (tmp_path / word).mkdir()
        write_model(tmp_path / word, "m", train_booster())
        settings = Settings(model_root=Path(word))
        client = TestClient(create_app(settings, ModelRegistry.from_settings(settings)))

        unknown = client.get("/models/nosuch").json()["detail"]
        named_so = client.get(f"/models/{word}").json()["detail"]
        beyond = client.post("/models/m/predict", json={"instances": [[1e39, 0, 0, 0]]})
        feature = client.post("/models/m/predict", json={"instances": [{word: 1.0}]})

        assert unknown == "no model named 'nosuch' in the model store"
        assert named_so == f"no model named {word!r} in the model store"
        assert beyond.json()["detail"].endswith("models compute in float32")
        assert f"unknown feature {word!r}" in feature.json()["detail"]
    gone = Settings(model_root=Path("gone"))
    health = TestClient(create_app(gone, ModelRegistry.from_settings(gone))).get("/health")
    assert "model root ROUTER_MODEL_ROOT is not available" in health.json()["detail"]


def test_health_does_not_say_where_the_models_are(client: TestClient, model_root: Path) -> None:
    response = client.get("/health")

    assert response.status_code == 200 and str(model_root) not in response.text
