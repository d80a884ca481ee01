"""A writer-process frame (``log_writer.frame``) straight to the prediction log's queue lines:
the COPY lines ``shaping.record`` and ``storage/log_records.encode`` would make, without
making a record dict per game on the way.

The request's shared fields are formatted once a frame (its models, time, policy, latency);
each game then costs one id, one check that its text fields need no escaping, two JSON
encodings and one f-string. Anything out of the plain shape (a shared or game field that is
not the type it usually is, or a text that holds a separator or a backslash) takes the
general path, record by record, so the lines are the same either way (a test compares them).
"""

from __future__ import annotations

import operator
from typing import Any, cast

import msgpack

from firstpitch.serving import shaping
from storage.log_records import json_field, new_record_ids
from storage.log_vectors import CARRY, INLINE, Vectors, carrying

_SHARED = operator.itemgetter(
    "request_id", "endpoint", "model_name", "model_version", "home_model_version",
    "total_model_version", "predicted_at",
)  # fmt: skip
_FIELDS = operator.itemgetter(*shaping.RECORD_FIELDS)
NULL = "\\N"


def _plain(texts: tuple[Any, ...]) -> str | None:
    """The texts joined by tabs, or None where one is not a str or needs escaping."""
    for t in texts:
        if type(t) is not str:
            return None
    joined = "\t".join(texts)
    if "\\" in joined or "\n" in joined or "\r" in joined or joined.count("\t") != len(texts) - 1:
        return None
    return joined


def frame_lines(frame: tuple[Any, ...], vectors: Vectors) -> list[bytes]:
    """A frame's records as queue lines (plain or ``Carrying``), vectors placed by
    ``vectors`` as ``Vectors.encode`` places them."""
    base, latency_ms, games, hits = frame
    policy = base.get("policy")
    shared = _plain(_SHARED(base)) if type(base.get("shadow")) is bool else None
    if (
        shared is None
        or type(latency_ms) is not float
        or not (policy is None or type(policy) is dict)
    ):
        return vectors.encode(records(frame))
    request_id, endpoint, rest = shared.split("\t", 2)
    models, predicted_at = rest.rsplit("\t", 1)
    head = (request_id, endpoint, models, predicted_at, f"\t{latency_ms!r}\t")
    end = (
        "\t"
        + (NULL if policy is None else json_field(policy))
        + ("\tt\n" if base["shadow"] else "\tf\n")
    )
    vectors.age()
    lines: list[bytes] = []
    ids = new_record_ids(len(games))
    for record_id, game, hit in zip(ids, games, hits, strict=True):
        values = _values(game) if type(hit) is bool else None
        start = None if values is None else _start(record_id, values, hit, head)
        if values is None or start is None:  # not the plain shape: by the general path
            lines.extend(vectors.encode([_record(base, game, hit, latency_ms)]))
            continue
        digest, vector = values[2], values[9]
        how = vectors.place(digest, vector)
        if how == INLINE and vector is not None:
            lines.append(f"{start}\\\\x{vector.hex()}{end}".encode())
        elif how == CARRY:
            lines.append(carrying(f"{start}{NULL}{end}".encode(), digest, vector))
        else:
            lines.append(f"{start}{NULL}{end}".encode())
    return lines


def _values(game: bytes | tuple[Any, ...]) -> tuple[Any, ...] | None:
    """A game's ``shaping.RECORD_FIELDS``: as sent, or read from its cached bytes."""
    if isinstance(game, tuple):
        return game if len(game) == len(shaping.RECORD_FIELDS) else None
    try:
        return cast(tuple[Any, ...], _FIELDS(msgpack.unpackb(game, raw=False)))
    except (KeyError, TypeError):  # an older cache entry (no vector): the general path
        return None


def _start(record_id: str, values: tuple[Any, ...], hit: bool, head: tuple[str, ...]) -> str | None:
    """A game's COPY line up to its vector; None if it is not the plain shape."""
    game_id, version, digest, as_of, cutoff, p_home, p_over, odds, recs, vector = values
    texts = _plain((game_id, version, digest, as_of, cutoff))
    if texts is None or type(p_home) is not float or type(p_over) is not float:
        return None
    if not (vector is None or type(vector) is bytes):
        return None
    request_id, endpoint, models, predicted_at, latency = head
    game_id, rest = texts.split("\t", 1)
    c_home, c_over = max(p_home, 1 - p_home), max(p_over, 1 - p_over)  # betting.confidence
    return (
        f"{record_id}\t{request_id}\t{endpoint}\t{game_id}\t{models}\t{rest}\t"
        f"{predicted_at}\t{'t' if hit else 'f'}\t{p_home!r}\t{p_over!r}\t{c_home!r}\t"
        f"{c_over!r}\t{json_field(odds)}\t{json_field(recs)}{latency}"
    )


def records(frame: tuple[Any, ...]) -> list[dict[str, Any]]:
    """A frame's records, as the API worker would have made them: the general path. A frame
    is ``(base, latency_ms, games, hits)``: the request's shared record fields, and per game
    its cache hit's msgpack bytes or the values of ``shaping.RECORD_FIELDS``."""
    base, latency_ms, games, hits = frame
    return [_record(base, g, h, latency_ms) for g, h in zip(games, hits, strict=True)]


def _record(base: dict[str, Any], game: bytes | tuple[Any, ...], hit: bool,
            latency_ms: float) -> dict[str, Any]:  # fmt: skip
    if type(game) is bytes:
        entry = msgpack.unpackb(game, raw=False)
    else:
        entry = dict(zip(shaping.RECORD_FIELDS, game, strict=True))
    return shaping.record(base, entry, hit, latency_ms)
