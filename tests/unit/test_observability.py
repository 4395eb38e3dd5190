from __future__ import annotations

import json

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from router.observability import EMF_MAX_VALUES_PER_METRIC, EmfMetricsSink


def test_emf_document_is_the_one_powertools_writes() -> None:
    lines: list[str] = []
    sink = EmfMetricsSink("ModelRouter", write=lines.append)
    reference = Metrics(namespace="ModelRouter", service="model-router")
    for name, unit, value in [
        ("CacheHit", MetricUnit.Count, 1),
        ("PredictTime", MetricUnit.Milliseconds, 0.43),
        ("PredictTime", MetricUnit.Milliseconds, 0.51),
    ]:
        reference.add_metric(name=name, unit=unit, value=value)
        if unit == MetricUnit.Count:
            sink.count(name, int(value))
        else:
            sink.milliseconds(name, value)

    sink.flush()

    ours = json.loads(lines[0])
    expected = reference.serialize_metric_set()
    reference.clear_metrics()
    for document in (ours, expected):
        assert isinstance(document["_aws"].pop("Timestamp"), int)
    assert ours == expected
    assert lines[0].endswith("\n") and lines[0].count("\n") == 1


def test_flush_writes_nothing_when_nothing_was_recorded_and_then_resets() -> None:
    lines: list[str] = []
    sink = EmfMetricsSink("ModelRouter", write=lines.append)

    sink.flush()
    sink.count("CacheMiss", 1)
    sink.flush()
    sink.flush()

    assert len(lines) == 1


def test_a_full_metric_is_flushed_before_cloudwatch_would_drop_it() -> None:
    lines: list[str] = []
    sink = EmfMetricsSink("ModelRouter", write=lines.append)

    for _ in range(EMF_MAX_VALUES_PER_METRIC + 1):
        sink.milliseconds("LoadTime", 1.0)
    sink.flush()

    assert [len(json.loads(line)["LoadTime"]) for line in lines] == [EMF_MAX_VALUES_PER_METRIC, 1]
