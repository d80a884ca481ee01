"""Metric labels are route templates: unknown paths collapse to one label."""

from __future__ import annotations

from runners.route_labels import UNMATCHED, RouteLabels


def test_paths_are_labelled_by_template_or_unmatched() -> None:
    labels = RouteLabels()
    labels.add(["/api/v1/predict/batch", "/api/v1/predict/{game_id}", "/metrics"])
    labels.add(["/api/v1/predict/{game_id}"])  # adding twice changes nothing
    assert labels("/api/v1/predict/batch") == "/api/v1/predict/batch"
    assert labels("/api/v1/predict/CIN202107040") == "/api/v1/predict/{game_id}"
    assert labels("/api/v1/predict/" + "x" * 60_000) == "/api/v1/predict/{game_id}"
    assert labels("/metrics") == "/metrics"
    for path in ("/", "/nope", "/api/v1/predict/a/b", "/metrics/x", "/api/v1/predict/"):
        assert labels(path) == UNMATCHED
