"""Records the API worker builds away from a response (its challengers' shadow records,
``shadow_queue.py``) logged through the writer process (``log_relay.py``) where they can be,
else in this process, so that they cost the worker one frame a request, not their encoding
and their COPY on its event loop.

A list of records becomes one writer frame per request and model set: the fields its
records share, once, and each game as the values of ``shaping.RECORD_FIELDS``. The writer's
lines for a frame are the lines its records encode to, their fresh record ids aside
(``log_lines.records`` rebuilds them; ``tests/serving/test_relayed_log.py``). A record of
another shape, a socket that is full, or a writer that is gone: those records are logged
here, as before. Bounds are the relay's and the logger's; nothing waits in this module.
"""

from __future__ import annotations

import operator
from typing import Any

from firstpitch.serving import betting
from firstpitch.serving.log_relay import LogRelay
from storage.prediction_log import PredictionLogger

SHARED = ("request_id", "endpoint", "model_name", "model_version", "home_model_version",
          "total_model_version", "predicted_at", "policy", "shadow")  # fmt: skip
# a record's game fields, in the order of ``shaping.RECORD_FIELDS`` (which names two of them
# as the answer does: feature_cutoff_time, betting_recommendations)
GAME = ("game_id", "feature_version", "feature_hash", "feature_as_of", "feature_cutoff",
        "home_ml_probability", "total_over_probability", "odds_used", "recommendations",
        "feature_vector")  # fmt: skip
# what the writer works out again, or draws anew (the record id)
DERIVED = ("record_id", "cache_hit", "home_ml_confidence", "total_over_confidence", "latency_ms")
KEYS = frozenset((*SHARED, *GAME, *DERIVED))
_key = operator.itemgetter(*SHARED[:-2], "shadow", "latency_ms")
_game = operator.itemgetter(*GAME)

Frame = tuple[dict[str, Any], float, list[tuple[Any, ...]], list[bool]]


def frames(records: list[dict[str, Any]]) -> list[tuple[Frame, list[dict[str, Any]]]] | None:
    """The records as writer frames, each with the records it holds; None if one of them is
    not a shape its frame rebuilds (a key more or less, or a confidence that is not the
    larger of its probability and its complement)."""
    groups: dict[tuple[Any, ...], tuple[Frame, list[dict[str, Any]]]] = {}
    for record in records:
        if record.keys() != KEYS or not _derived(record):
            return None
        key = (*_key(record), id(record["policy"]))
        group = groups.get(key)
        if group is None:
            base = {k: record[k] for k in SHARED}
            group = groups[key] = ((base, record["latency_ms"], [], []), [])
        (_, _, games, hits), held = group
        games.append(_game(record))
        hits.append(record["cache_hit"])
        held.append(record)
    return list(groups.values())


def _derived(record: dict[str, Any]) -> bool:
    p_home, p_over = record["home_ml_probability"], record["total_over_probability"]
    return (
        type(record["cache_hit"]) is bool
        and record["home_ml_confidence"] == betting.confidence(p_home)
        and record["total_over_confidence"] == betting.confidence(p_over)
    )


class RelayedLog:
    """``log_many`` by the writer process where it can, else by ``logger``."""

    def __init__(self, relay: LogRelay | None, logger: PredictionLogger) -> None:
        self.relay, self.logger = relay, logger
        self.relayed = 0  # records handed to the writer
        self.kept = 0  # records logged here (no writer, a full socket, another shape)

    def log_many(self, records: list[dict[str, Any]]) -> None:
        """Hand the records over, or queue them here. Raises LogFull (nothing recorded) when
        the spill is at its limit, as ``PredictionLogger.log_many`` does."""
        if not records or not self.logger.enabled:
            return
        relay = self.relay
        found = frames(records) if relay is not None and relay.alive else None
        if relay is None or found is None:
            self._keep(records)
            return
        self.logger.check_room()
        for i, ((base, latency_ms, games, hits), held) in enumerate(found):
            if not relay.send(base, latency_ms, games, hits):
                self._keep([r for _, rest in found[i:] for r in rest])
                return
            self.relayed += len(held)

    def _keep(self, records: list[dict[str, Any]]) -> None:
        self.logger.log_many(records)
        self.kept += len(records)
