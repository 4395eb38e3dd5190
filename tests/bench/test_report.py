"""How the benchmark report turns measurements into targets and tables: the HTTP ratio per
alternating round, and the before/after table of ``--baseline`` runs."""

from __future__ import annotations

from typing import Any

from scripts.bench import report
from scripts.bench.stats import summarize


def _load(server: str, round_number: int, rps: float, concurrency: int = 1) -> dict[str, Any]:
    return {
        "server": server,
        "model": "trees-50",
        "round": round_number,
        "concurrency": concurrency,
        "rps": rps,
        "requests": int(rps),
        "errors": 0,
        "p50_us": 1e6 / rps,
        "p99_us": 2e6 / rps,
    }


def _rounds(*rounds: dict[str, float]) -> dict[str, Any]:
    """An HTTP section: round r has each server's req/s as ``rounds[r]`` gives them."""
    results = [_load(server, number, rps) for number, by_server in enumerate(rounds)
               for server, rps in by_server.items()]  # fmt: skip
    return {"tool": "wrk", "rounds": len(rounds), "results": results}


def test_the_http_target_is_the_median_of_per_round_ratios() -> None:
    # The machine slows down in round 1 for both servers alike: per-round ratios stay 4x,
    # while the ratio of the medians (2000 / 400) would be 5x.
    http = _rounds(
        {"router": 2000, "mlserver": 500},
        {"router": 1000, "mlserver": 250},
        {"router": 2400, "mlserver": 400},
    )

    ratios = report._http_ratios(http)

    assert ratios == {("trees-50", 1): (4.0, 2000, 400, 3)}


def test_the_http_section_shows_router_and_mlserver_against_the_floor() -> None:
    http = _rounds(
        {"router": 2000, "floor": 4000, "mlserver": 500},
        {"router": 1500, "floor": 2000, "mlserver": 500},
    )

    lines = report._http(http, {})

    assert "| trees-50 | 1 | 2 | 0.62x | 6.00x |" in lines  # medians of (0.5, 0.75), (8, 4)
    assert "| floor | trees-50 | 1 | 2 | 6000 | 0 | 3,000 | 2,000 - 4,000 |" in "\n".join(lines)


def test_http_without_mlserver_has_no_ratio() -> None:
    http = {"tool": "wrk", "rounds": 1, "results": [_load("router", 0, 2000)]}

    assert report._http_ratios(http) == {}


def _handler(raw_us: float, handler_us: float, peer_us: float) -> dict[str, Any]:
    def series(value_us: float) -> dict[str, Any]:
        return summarize([int(value_us * 1000)] * 5).to_json()

    item = {"raw": series(raw_us), "handler": series(handler_us), "peer": series(peer_us)}
    return {"models": [{"model": "trees-50", **item}]}


def test_before_and_after_compares_each_revision_to_its_own_raw_call() -> None:
    before = {**_handler(400, 550, 470), "revision": "v1", "commit": "0123456789ab"}

    lines = report._before_after(_handler(300, 270, 360), [before], "fedcba987654")

    rows = [line.split(" | ")[1:] for line in lines if line.startswith(("| `v1`", "| this"))]
    assert rows == [
        ["trees-50", "400.0", "550.0", "+150.0", "1.38x", "470.0", "1.17x |"],
        ["trees-50", "300.0", "270.0", "-30.0", "0.90x", "360.0", "0.75x |"],
    ]


def test_a_difference_keeps_its_own_sign() -> None:
    from scripts.bench.stats import signed_us

    # A handler faster than raw inplace_predict: -37.6, not +-37.6.
    assert [signed_us(ns) for ns in (-37_600, 55_600, -1_234_000, 0)] == [
        "-37.6",
        "+55.6",
        "-1,234",
        "+0.0",
    ]
