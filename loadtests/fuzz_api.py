"""Schema-driven fuzzing of the REST API with schemathesis: every operation of /openapi.json,
schema-valid and invalid inputs, every built-in check plus a check that no response leaks
internals (a traceback, a source path, the API key). Calls to the event stream
(``GET /api/v1/stream``) carry ``max_seconds`` of at most 0.2 s, so every answer ends.

Usage, against a running service (e.g. ``./run.sh serve``) with a key of both scopes and a
rate limit the run cannot reach:
  .venv/bin/firstpitch keys create --name fuzz --scope predictions --scope models \
      --rate-limit 100000000
  FIRSTPITCH_FUZZ_API_KEY=fpk_... .venv/bin/python loadtests/fuzz_api.py \
      --url http://127.0.0.1:3000 [--max-examples 500] [--seed 1] [--out reports/fuzz]
(``--api-key KEY`` works too, but puts the key in the process list.) ``make fuzz`` runs it.

The schemathesis CLI runs in a subprocess: examples, coverage, fuzzing and stateful phases,
with this module as its hooks module (the leak check, the failures not counted). Its NDJSON
events are tallied (requests, statuses per operation, check results) and merged with its
run report into one JSON summary on stdout and in ``<out>/summary.json``. Exit code: 0 no
check failed, 1 one did, 2 the harness itself failed. tests/e2e/test_fuzz.py uses the same
settings, check and counters for the bounded run in CI.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

from loadtests.fuzz_tally import Tally, count_events, summarize

if TYPE_CHECKING:
    from schemathesis.checks import CheckContext
    from schemathesis.core.failures import Failure
    from schemathesis.core.transport import Response
    from schemathesis.generation.case import Case
    from schemathesis.hooks import HookContext, HookDispatcher

KEY_ENV = "FIRSTPITCH_FUZZ_API_KEY"
# Set for the CLI, which imports this module as its hooks: where to write NOT_COUNTED.
CLI_ENV = "FIRSTPITCH_FUZZ_CLI"
HERE = Path(__file__).resolve().parent

# Positive (schema-valid) data may still be refused for what the schema cannot express:
# unknown game/model (404), a game not yet predictable (409). 401/403 are not accepted: the
# run always sends a valid key with both scopes, so one would mean a broken key. 429 is not
# accepted either: the key's rate limit must be high enough. 5xx is never acceptable.
POSITIVE_STATUSES = ["2xx", "404", "409"]
# Invalid data must be refused as invalid: malformed (400), invalid credentials (401), a
# path no route takes (404), too large (413), failing validation (422).
NEGATIVE_STATUSES = ["400", "401", "404", "413", "422"]

# A traceback, a Python frame, a path of this deployment, or the API key in a response body.
LEAK_PATTERNS = (
    re.compile(r"Traceback"),
    re.compile(r'File "'),
    re.compile(r"/work\b|/tmp/|/home/|/usr/lib|site-packages|\.py\"|\.py\b:\d"),
    re.compile(r"fpk_[0-9a-f]{12}_"),
)
SECRETS: list[str] = [os.environ[KEY_ENV]] if os.environ.get(KEY_ENV) else []
NOT_COUNTED: Counter[str] = Counter()  # failures keep_failure dropped, by reason
# The event stream is endless unless bounded: every call to it the fuzzer makes asks for at
# most this long (``max_seconds``, a documented parameter), so each answer ends.
STREAM_PATH = "/api/v1/stream"
STREAM_BOUND_S = 0.2
NOT_COUNTED_LOCK = threading.Lock()


def config(base_url: str, api_key: str, max_examples: int, seed: int | None = None,
           stateful: bool = False) -> dict[str, Any]:  # fmt: skip
    """Schemathesis settings (schemathesis.toml's keys) shared by CI and the long run."""
    settings: dict[str, Any] = {
        "base-url": base_url,
        # As auth of the schema's security schemes, not as plain headers: schemathesis then
        # knows the key is real, and `ignored_auth` probes without it and with a wrong one.
        "auth": {"openapi": {"bearer": {"bearer": api_key}, "apiKey": {"api_key": api_key}}},
        "request-timeout": 30,
        "cache": {"enabled": False},  # no .schemathesis/ in the working tree
        "generation": {"max-examples": max_examples, "mode": "all", "database": "none"},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": stateful},
        },
        "checks": {
            "positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES},
            "negative_data_rejection": {"expected-statuses": NEGATIVE_STATUSES},
        },
    }
    if seed is not None:
        settings["seed"] = seed
    return settings


@schemathesis.check
def no_internals_leaked(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """Fail when a response body shows a traceback, a source path or the API key."""
    text = response.content.decode("utf-8", errors="replace")
    for pattern in LEAK_PATTERNS:
        found = pattern.search(text)
        if found:
            raise AssertionError(f"response body leaks internals: {found.group(0)!r}")
    if any(secret in text for secret in SECRETS):
        raise AssertionError("response body contains the API key")
    return None


def keep_failure(
    context: HookContext, failure: Failure, case: Case[Any], response: Response
) -> bool:
    """Every failure counts but one kind, narrowed to the one response that makes it:
    schema-valid input refused with the API's own ``invalid_query`` or ``invalid_feed`` 422,
    raised for parameters that contradict each other (``prediction_type=total`` for the
    home-win model) or feed records that break a rule between their fields or name a game
    the database does not hold: constraints that OpenAPI cannot express."""
    reason = None
    if isinstance(failure, RejectedPositiveData) and response.status_code == 422:
        try:
            error = json.loads(response.content).get("error")
        except (ValueError, AttributeError):
            error = None
        if error == "invalid_query":
            reason = "invalid_query: contradicting parameters"
        elif error == "invalid_feed":
            reason = "invalid_feed: cross-field rules and unknown games"
    if reason is None:
        return True
    with NOT_COUNTED_LOCK:
        NOT_COUNTED[reason] += 1
    return False


def bound_streams(context: HookContext, case: Case[Any], **kwargs: Any) -> None:
    """Calls to the event stream ask for ``max_seconds`` of at most STREAM_BOUND_S: added
    where absent, lowered where larger and valid (an invalid value is left to be refused)."""
    if case.operation.path != STREAM_PATH:
        return
    query = dict(case.query or {})
    value = query.get("max_seconds")
    valid = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 86_400
    if value is None or (valid and value > STREAM_BOUND_S):
        query["max_seconds"] = STREAM_BOUND_S
        case.query = query


CLOCK_PATH = "/api/v1/clock"
CLOCK_PIN = "2021-07-04T15:00:00Z"  # the fuzzed service's pinned instant (tests/e2e)


def pin_clock(context: HookContext, case: Case[Any], **kwargs: Any) -> None:
    """A valid ``POST /api/v1/clock`` drives the clock to CLOCK_PIN, whatever instant was
    generated: a clock driven to 1970 or 9999 would turn later calls into 409s. Negative
    cases, and bodies that are not an instant, are left to be refused."""
    if case.operation.path != CLOCK_PATH or case.method.upper() != "POST":
        return
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return  # a case meant to be refused stays as generated
    body = case.body
    if isinstance(body, dict) and set(body) == {"now"} and isinstance(body["now"], str):
        try:
            moment = datetime.fromisoformat(body["now"].replace("Z", "+00:00"))
        except ValueError:
            return
        if moment.tzinfo is not None:
            case.body = {"now": CLOCK_PIN}


def install(hooks: HookDispatcher, tally: Tally | None = None) -> None:
    """The failure filter (and the tally's counters) on a schema's hooks, or globally."""
    hooks.register_hook_with_name(keep_failure, "filter_failure")
    from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER

    # before_call exists only globally (schemathesis dispatches it for every call).
    for hook in (bound_streams, pin_clock):
        if hook not in GLOBAL_HOOK_DISPATCHER.get_all_by_name("before_call"):
            GLOBAL_HOOK_DISPATCHER.register_hook_with_name(hook, "before_call")
    if tally is not None:
        hooks.register_hook_with_name(tally.after_call, "after_call")
        hooks.register_hook_with_name(tally.after_validate, "after_validate")


if os.environ.get(CLI_ENV):  # imported by the CLI as its hooks module (SCHEMATHESIS_HOOKS)
    from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER

    install(GLOBAL_HOOK_DISPATCHER)
    atexit.register(lambda: Path(os.environ[CLI_ENV]).write_text(json.dumps(NOT_COUNTED)))


# ----------------------------------------------------------------------------- the long run
def _cli_config(args: argparse.Namespace, out: Path) -> Path:
    import tomli_w  # a dependency of BentoML, so always in the project's environment

    # The key stays out of the file and the command line: the CLI reads it from the environment.
    settings = config(args.url, f"${{{KEY_ENV}}}", args.max_examples, args.seed, stateful=True)
    settings["workers"] = args.workers
    settings["cache"] = {"enabled": True, "directory": str(out / "cache")}  # for `st replay`
    settings["reports"] = {
        "directory": str(out),
        "json": {"enabled": True, "path": str(out / "report.json")},
        "ndjson": {"enabled": True, "path": str(out / "events.ndjson")},
    }
    path = out / "schemathesis.toml"
    path.write_text(tomli_w.dumps(settings))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--url", required=True, help="base URL of a running service")
    parser.add_argument("--api-key", help=f"an API key with both scopes (default: ${KEY_ENV})")
    parser.add_argument("--max-examples", type=int, default=500, help="per operation and phase")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    # One worker: on CPython 3.11.7, Hypothesis describing strategies from several threads
    # at once trips "SystemError: AST constructor recursion depth mismatch" in ast.parse.
    parser.add_argument("--workers", type=int, default=1, help="concurrent schemathesis workers")
    parser.add_argument("--out", type=Path, default=Path("reports/fuzz"))
    args = parser.parse_args()
    args.url = args.url.rstrip("/")
    key = args.api_key or os.environ.get(KEY_ENV)
    if not key:
        parser.error(f"an API key is needed: --api-key or ${KEY_ENV}")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("report.json", "events.ndjson", "summary.json", "not_counted.json"):
        (out / stale).unlink(missing_ok=True)
    env = os.environ | {
        KEY_ENV: key,
        CLI_ENV: str(out / "not_counted.json"),
        "SCHEMATHESIS_HOOKS": Path(__file__).stem,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    }
    cli = Path(sys.executable).parent / "schemathesis"
    command = [str(cli), "--config-file", str(_cli_config(args, out)), "run", "--no-color",
               f"{args.url}/openapi.json"]  # fmt: skip
    # The CLI's own report goes to stderr, so stdout carries only the JSON summary.
    code = subprocess.run(command, env=env, stdout=sys.stderr, check=False).returncode
    reports = ("report.json", "events.ndjson", "not_counted.json")
    if not all((out / name).exists() for name in reports):
        print(f"fuzz_api: schemathesis exited {code} without its reports", file=sys.stderr)
        return 2
    report = json.loads((out / "report.json").read_text())
    not_counted = json.loads((out / "not_counted.json").read_text())
    summary = summarize(count_events(out / "events.ndjson"), report, not_counted, code)
    if code == 0:  # every exchange is in it: tens of MB, worth keeping only to debug failures
        (out / "events.ndjson").unlink()
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    if code not in (0, 1) or summary["requests"] == 0:
        return 2
    return 0 if code == 0 and not summary["check_failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
