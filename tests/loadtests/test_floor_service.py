"""The comparison's floor peer (``loadtests/compare/floor_service.py``) really serves: started
as the comparison starts it, it becomes ready and answers both prediction paths with its
constant, and unknown paths with 404 (it is an empty route, not a catch-all)."""

from __future__ import annotations

import json
from pathlib import Path

from loadtests.compare.measure import http, wait_ready
from loadtests.compare.peers import floor_target
from loadtests.compare.workload import firstpitch_batch_body, firstpitch_single_body
from loadtests.harness.processes import Processes
from storage.embedded import free_port


def test_the_empty_route_starts_and_answers(tmp_path: Path) -> None:
    target, procs, port = floor_target(), Processes(), free_port()
    base = f"http://127.0.0.1:{port}"
    proc = target.start(procs, port, tmp_path / "floor.log")
    try:
        assert wait_ready(base + target.ready_path, proc, 120), (tmp_path / "floor.log").read_text()
        status, raw = http(base + target.path_single, firstpitch_single_body("CHN202104010"))
        assert status == 200 and target.predictions(raw) == [0.5]
        status, raw = http(base + target.path_batch, firstpitch_batch_body(["A", "B"]))
        assert status == 200 and json.loads(raw)[0]["game_id"] == "floor"
        status, _ = http(base + "/api/v1/nothing", "{}")
        assert status == 404
    finally:
        procs.stop_all()
    assert proc.poll() is not None
