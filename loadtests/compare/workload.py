"""What the comparison sends: its scenarios, every server's request bodies for the same games
(firstpitch gets ids, the peers the games' feature vectors, NaN written as ``null``), and the
wrk scripts rotating through them."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadtests.harness.wrk_script import lua_script

if TYPE_CHECKING:
    from loadtests.compare.targets import Target


@dataclass(frozen=True)
class Scenario:
    name: str
    connections: int
    rows: int  # games (firstpitch) or feature rows (peers) per request

    @property
    def label(self) -> str:
        kind = "single game" if self.rows == 1 else f"{self.rows} games"
        return f"{kind}, {self.connections} conn"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("single-c1", 1, 1),
    Scenario("single-c8", 8, 1),
    Scenario("single-c32", 32, 1),
    Scenario("batch50-c8", 8, 50),
)


def _finite_or_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def firstpitch_single_body(game_id: str) -> str:
    return json.dumps({"game_id": game_id}, separators=(",", ":"))


def firstpitch_batch_body(game_ids: Sequence[str]) -> str:
    return json.dumps({"game_ids": list(game_ids)}, separators=(",", ":"))


def home_probabilities(raw: bytes) -> list[float]:
    """The home-win probabilities of a firstpitch-shaped answer (one game or a list)."""
    body = json.loads(raw)
    return [float(x["home_ml_probability"]) for x in (body if isinstance(body, list) else [body])]


def mlflow_body(rows: Sequence[Sequence[float]], columns: Sequence[str]) -> str:
    """``dataframe_split`` with NaN written as JSON ``null`` (pandas reads it back as NaN).

    MLflow's scoring server parses with ``json.loads`` and would also take a bare ``NaN``
    token, but ``null`` is valid JSON and is what pandas itself writes for a missing value.
    """
    data = [[_finite_or_none(v) for v in row] for row in rows]
    return json.dumps(
        {"dataframe_split": {"columns": list(columns), "data": data}},
        separators=(",", ":"),
        allow_nan=False,
    )


def mlserver_body(rows: Sequence[Sequence[float]], input_name: str = "features") -> str:
    """V2 inference protocol, one FP64 tensor (n, F), row-major, NaN written as ``null``.

    MLServer parses bodies with orjson, which rejects the non-standard ``NaN`` token; its
    NumpyCodec builds ``np.array(data, dtype=float64)``, which turns ``null`` into NaN.
    """
    flat = [_finite_or_none(v) for row in rows for v in row]
    width = len(rows[0]) if rows else 0
    return json.dumps(
        {
            "inputs": [
                {"name": input_name, "shape": [len(rows), width], "datatype": "FP64", "data": flat}
            ]
        },
        separators=(",", ":"),
        allow_nan=False,
    )


def chunks(items: Sequence[Any], size: int, limit: int | None = None) -> list[list[Any]]:
    """Consecutive, non-overlapping chunks of exactly ``size`` (the ragged tail is dropped)."""
    out = [list(items[i : i + size]) for i in range(0, len(items) - size + 1, size)]
    return out[:limit] if limit is not None else out


@dataclass
class Workload:
    single_games: list[str]
    batches: list[list[str]]


def write_scripts(target: Target, load: Workload, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    single = folder / f"{target.target}-{target.config}-single.lua".replace("=", "-")
    batch = folder / f"{target.target}-{target.config}-batch50.lua".replace("=", "-")
    single.write_text(
        lua_script(
            target.path_single, [target.body_single(g) for g in load.single_games], target.headers
        )
    )
    batch.write_text(
        lua_script(target.path_batch, [target.body_batch(b) for b in load.batches], target.headers)
    )
    return {"single": single, "batch": batch}
