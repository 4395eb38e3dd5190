"""Comparing the router's answers with the training side's, to float32 tolerance."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .estimators import Case


def body(rows: list[Any], output: str, **extra: Any) -> bytes:
    """The request as Python clients send it: json.dumps writes NaN for a missing float."""
    return json.dumps({"instances": rows, "output": output, **extra}).encode()


def assert_same(case: Case, output: str, answer: dict[str, Any], rounds: str = "best") -> None:
    expected = case.expected(output, rounds)
    got = answer["predictions"]
    booster = case.booster
    # What answered, said in the answer: best_iteration + 1 unless every round was asked for.
    assert answer["rounds"] == (
        booster.best_iteration + 1
        if case.early_stopping and rounds == "best"
        else booster.num_boosted_rounds()
    ), f"{case.name} {output} rounds={rounds}"
    if output == "label":
        # Labels as they are (strings), or class indices; a multi-label model's predict
        # answers each target's 0 or 1 as floats.
        assert np.asarray(got).tolist() == np.asarray(expected).tolist(), f"{case.name} {output}"
        return
    np.testing.assert_allclose(
        np.asarray(got, dtype=np.float32),
        np.asarray(expected, dtype=np.float32),
        rtol=1e-6,
        atol=1e-6,
        err_msg=f"{case.name} {output} rounds={rounds}",
    )


def requests_for(case: Case) -> list[tuple[str, str, bytes]]:
    """(form, output, body) for every output the case answers, rows as arrays and objects."""
    forms = {"arrays": case.array_rows(), "objects": case.object_rows()}
    return [
        (form, output, body(rows, output))
        for form, rows in forms.items()
        for output in case.outputs()
    ]
