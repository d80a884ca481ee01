"""The ``firstpitch`` command line: every command and command group, registered in one place
(each lives in its own ``cli_*`` module)."""

from __future__ import annotations

import sys

import typer

from firstpitch.cli_audit import audit as audit_command
from firstpitch.cli_backtest import backtest as backtest_command
from firstpitch.cli_evaluate import evaluate as evaluate_command
from firstpitch.cli_features import features_app
from firstpitch.cli_feed import feed as feed_command
from firstpitch.cli_ingest import ingest
from firstpitch.cli_keys import keys_app
from firstpitch.cli_promote import promote as promote_command
from firstpitch.cli_replay import replay as replay_command
from firstpitch.cli_serve import serve, warm
from firstpitch.cli_services import services_app, up
from firstpitch.cli_train import train

app = typer.Typer(
    help="firstpitch: real-time MLB game predictions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(services_app, name="services")
app.add_typer(features_app, name="features")
app.add_typer(keys_app, name="keys")
app.command("feed")(feed_command)
app.command("replay")(replay_command)
app.command("evaluate")(evaluate_command)
app.command("audit")(audit_command)
app.command("promote")(promote_command)
app.command("backtest")(backtest_command)
app.command("up")(up)
app.command("ingest")(ingest)
app.command("train")(train)
app.command("serve")(serve)
app.command("warm")(warm)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
