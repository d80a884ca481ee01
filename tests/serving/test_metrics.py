"""observe_many writes what observing each amount would, bucket by bucket."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Histogram

from firstpitch.serving.metrics import observe_many

BUCKETS = (60, 600, 3600, 86400)


def _samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("le", "")): s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }


def test_observe_many_equals_one_observe_per_amount() -> None:
    rng = random.Random(3)
    # bucket edges exactly, values between and beyond the last bound, zero, repeats
    amounts = [
        0.0,
        60.0,
        60.0001,
        600.0,
        3599.9,
        86400.0,
        1e9,
        *(rng.uniform(0, 2e5) for _ in range(200)),
    ]
    one, many = CollectorRegistry(), CollectorRegistry()
    each = Histogram("age", "a", buckets=BUCKETS, registry=one)
    batched = Histogram("age", "a", buckets=BUCKETS, registry=many)
    for a in amounts:
        each.observe(a)
    observe_many(batched, amounts[:5])
    observe_many(batched, [])
    observe_many(batched, amounts[5:])
    got, want = _samples(many), _samples(one)
    assert got.pop(("age_sum", "")) == pytest.approx(want.pop(("age_sum", "")), rel=1e-12)
    assert got == want
    assert _samples(one)[("age_count", "")] == len(amounts)
