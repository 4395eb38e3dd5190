"""docs/benchmarks.md is rewritten by bench_router.py; the batch figures bench_batch.py
writes into it survive that rewrite."""

from __future__ import annotations

from scripts.bench.report import BATCH_MARKERS, carried_batch_section, replace_between

START, END = BATCH_MARKERS
SECTION = f"{START}\n| batch | 1,000 rows/s |\n{END}"


def test_a_report_without_batch_figures_gets_them_under_a_heading() -> None:
    text = replace_between("# Benchmarks\n\nfigures\n", SECTION)

    assert text.endswith(f"## Batch path\n\n{SECTION}\n")


def test_new_batch_figures_replace_the_old_ones_in_place() -> None:
    old = f"# Benchmarks\n\nbefore\n\n{START}\nold figures\n{END}\n\nafter\n"

    assert replace_between(old, SECTION) == f"# Benchmarks\n\nbefore\n\n{SECTION}\n\nafter\n"


def test_a_rewritten_report_carries_the_batch_figures_over() -> None:
    previous = replace_between("# Benchmarks\n\nold run\n", SECTION)
    batch = carried_batch_section(previous)

    assert batch == SECTION
    assert SECTION in replace_between("# Benchmarks\n\nnew run\n", batch)
    assert carried_batch_section("# Benchmarks\n") is None
