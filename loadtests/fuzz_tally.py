"""Counting a fuzz run (loadtests/fuzz_api.py): calls, statuses overall and per operation,
checks run and failed, from schemathesis's hooks or from its CLI's NDJSON events, and the
run's one JSON summary."""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemathesis.checks import CheckResult
    from schemathesis.core.transport import Response
    from schemathesis.generation.case import Case
    from schemathesis.hooks import HookContext


class Tally:
    """Counts of calls, statuses (overall and per operation) and check results."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.statuses: Counter[str] = Counter()
        self.operations: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.checks_run: Counter[str] = Counter()
        self.checks_failed: Counter[str] = Counter()

    def after_call(self, context: HookContext, case: Case[Any], response: Response) -> None:
        status = str(response.status_code)
        with self.lock:
            self.calls += 1
            self.statuses[status] += 1
            self.operations[case.operation.label][status] += 1

    def after_validate(
        self, context: HookContext, case: Case[Any], response: Response, results: list[CheckResult]
    ) -> None:
        with self.lock:
            for result in results:
                self.checks_run[result.name] += 1
                if result.failure is not None:
                    self.checks_failed[result.name] += 1

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.calls,
                "statuses": dict(sorted(self.statuses.items())),
                "operations": {
                    k: dict(sorted(v.items())) for k, v in sorted(self.operations.items())
                },
                "checks_run": dict(sorted(self.checks_run.items())),
                "checks_failed": dict(sorted(self.checks_failed.items())),
            }


def count_events(ndjson: Path) -> dict[str, Any]:
    """Requests, statuses and check results from the CLI's NDJSON event stream (the CLI runs
    checks without the after_validate hook, so its recorders are the one full account)."""
    tally = Tally()
    with ndjson.open() as events:
        for line in events:
            finished = json.loads(line).get("ScenarioFinished")
            if not finished:
                continue
            recorder = finished["recorder"]
            label = recorder["label"]
            for interaction in recorder.get("interactions", {}).values():
                response = interaction.get("response")
                status = str(response["status_code"]) if response else "no_response"
                tally.calls += 1
                tally.statuses[status] += 1
                tally.operations[label][status] += 1
            for results in recorder.get("checks", {}).values():
                for result in results:
                    tally.checks_run[result["name"]] += 1
                    if result["status"] != "success":
                        tally.checks_failed[result["name"]] += 1
    return tally.as_dict()


def summarize(
    counts: dict[str, Any], report: dict[str, Any], not_counted: dict[str, int], exit_code: int
) -> dict[str, Any]:
    """One JSON account of the run: the tally of every call and check, the CLI's verdict."""
    return {
        "exit_code": exit_code,
        "seed": report.get("seed"),
        "running_time_s": round(float(report.get("running_time", 0.0)), 1),
        "operations": report.get("operations", {}),
        "test_cases": report.get("test_cases", {}),
        "requests": counts["requests"],
        "statuses": counts["statuses"],
        "statuses_per_operation": counts["operations"],
        "checks_run": counts["checks_run"],
        "check_failures": counts["checks_failed"],
        "unique_failures": {f["title"]: f["count"] for f in report.get("failures", [])},
        "failures_not_counted": not_counted,  # by keep_failure, by reason
        "errors": [e.get("title", str(e)) for e in report.get("errors", [])],
    }
