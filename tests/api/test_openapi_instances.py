"""The OpenAPI document says what the predict endpoints refuse: an empty ``instances`` is a
list too short, in the keyword an array reads (``minItems``, not the string's ``minLength``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.api.test_errors import assert_problem
from tests.modelkit import train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path

    from fastapi.testclient import TestClient

PREDICT_PATHS = ("/models/{name}/predict", "/models/{name}/versions/{version}/predict")


def test_instances_is_documented_as_at_least_one_row(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    for path in PREDICT_PATHS:
        body = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        instances = body["properties"]["instances"]
        assert "minLength" not in json.dumps(instances), path
        forms = instances["anyOf"]
        assert [form["type"] for form in forms] == ["array", "array"], path
        assert all(form["minItems"] == 1 for form in forms), path


def test_no_rows_is_still_the_same_problem(client: TestClient, model_root: Path) -> None:
    write_model(model_root, "m", train_booster())

    response = client.post("/models/m/predict", json={"instances": []})

    problem = assert_problem(response, 422, "invalid-instances")
    assert problem["detail"] == "instances: must hold at least 1 row"
