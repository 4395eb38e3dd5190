"""The predictor's refusals, which ``/models`` words for its bodies (``instances.3.plan``,
"object rows", "a JSON number"), told in the words of the tensors a V2 client sent: which
input, which row, and what to send instead."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from router.api import create_app
from router.registry.registry import ModelRegistry
from router.settings import Settings
from tests.fidelity.estimators import Case, booleans, categorical

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    # plans: age, income, visits and plan, a category of 'free', 'pro', 'team';
    # flags: age, income, visits and two boolean features, member and autopay.
    return [categorical("plans", "ubj", early=False), booleans("flags", "ubj", early=False)]


@pytest.fixture
def client(cases: list[Case], model_root: Path) -> Iterator[TestClient]:
    for case in cases:
        case.save(model_root)
    settings = Settings(model_root=model_root)
    app = create_app(settings, ModelRegistry.from_settings(settings))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def column(name: str, datatype: str, *data: object) -> dict[str, Any]:
    return {"name": name, "shape": [len(data)], "datatype": datatype, "data": list(data)}


def matrix(*row: float) -> dict[str, Any]:
    return {"name": "x", "shape": [1, len(row)], "datatype": "FP32", "data": list(row)}


CATEGORIES = "('free', 'pro', 'team')"
REFUSALS: list[tuple[str, str, list[dict[str, Any]], str]] = [
    ("unknown category", "plans",
     [column("age", "FP64", 30, 40), column("plan", "BYTES", "pro", "gold")],
     "input 'plan', row 1: the model has no category 'gold' for feature 'plan'; it knows "
     "'free', 'pro', 'team' (null is a missing value)"),
    ("text for a number", "plans", [column("age", "BYTES", "old")],
     "input 'age', row 0: the feature is numeric and 'old' is a string; send numbers"),
    ("code out of range", "plans", [column("plan", "FP64", 1, 7)],
     "row 1: 7 is not a category of feature 'plan'; send a code 0-2 or a category by value "
     f"in a BYTES tensor named by the feature {CATEGORIES}, or null for a missing value"),
    ("code out of range, one tensor", "plans", [matrix(30, 1, 1, 9)],
     "input 'x', row 0: 9 is not a category of feature 'plan'; send a code 0-2 or a category "
     f"by value in a BYTES tensor named by the feature {CATEGORIES}, or null for a missing "
     "value"),
    ("boolean of 2, one tensor", "flags", [matrix(30, 1, 1, 2, 0)],
     "input 'x', row 0, feature 'member': 2 is not a value of the boolean feature 'member'; "
     "send true or false (or 1 or 0), or null for a missing value"),
    ("boolean of 2", "flags", [column("autopay", "FP64", 1, 0, 2)],
     "input 'autopay', row 2: 2 is not a value of the boolean feature 'autopay'; send true "
     "or false (or 1 or 0), or null for a missing value"),
    ("text for a boolean", "flags", [column("member", "BYTES", "yes")],
     "input 'member', row 0: the feature is boolean and 'yes' is a string; send true or false"),
    # A DataFrame's columns spelt otherwise than at training, one tensor per column.
    ("misspelt features", "plans",
     [column("Age", "FP64", 30), column("incme", "FP64", 1.5), column("zzz", "FP64", 1)],
     "inputs 'Age' (did you mean 'age'?), 'incme' (did you mean 'income'?), 'zzz' name no "
     "feature of the model: send one 1-D tensor per feature, named by the feature (age, "
     "income, visits, plan)"),
    ("one misspelt feature", "plans", [column("Visits", "FP64", 3)],
     "input 'Visits' (did you mean 'visits'?) names no feature of the model: send one 1-D "
     "tensor per feature, named by the feature (age, income, visits, plan)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("model", "inputs", "message"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_refusals_name_the_input_and_row_not_instances(
    client: TestClient, model: str, inputs: list[dict[str, Any]], message: str
) -> None:
    response = client.post(f"/v2/models/{model}/infer", json={"inputs": inputs})

    assert response.status_code == 422, response.text
    assert response.json() == {"error": message}
