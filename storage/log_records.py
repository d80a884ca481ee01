"""A prediction record in the one form it is queued, written, spilled and replayed in: a line
of PostgreSQL's COPY text format, encoded once, when the prediction is served."""

from __future__ import annotations

import json
import operator
import os
import time
import uuid
from datetime import datetime
from typing import Any

import orjson

COLUMNS = (
    "record_id",
    "request_id",
    "endpoint",
    "game_id",
    "model_name",
    "model_version",
    "home_model_version",
    "total_model_version",
    "feature_version",
    "feature_hash",
    "feature_as_of",
    "feature_cutoff",
    "predicted_at",
    "cache_hit",
    "home_ml_probability",
    "total_over_probability",
    "home_ml_confidence",
    "total_over_confidence",
    "odds_used",
    "recommendations",
    "latency_ms",
    "feature_vector",  # bytes: the float64 little-endian vector (migration 0009)
    "policy",  # the betting policy settings the recommendations were made under
    "shadow",  # a challenger's answer, logged and not served (migration 0012)
)
# Lines spilled by versions before migration 0009 end after latency_ms (replayed with NULLs),
# those before 0012 after policy (replayed as served, not shadow).
LEGACY_FIELDS = 21
PRE_SHADOW_FIELDS = 23
VECTOR_AT = COLUMNS.index("feature_vector")
_LOW_62 = (1 << 62) - 1
_ALL = operator.itemgetter(*COLUMNS)
_TEXT, _FLOAT = {str}, {float}
_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def new_record_id() -> str:
    """A time-ordered UUID (version 7: 48 bits of Unix milliseconds, then random bits), so
    the log's primary key grows at its right edge instead of touching a random index page
    per row (measured: 7.7 -> 7.1 us of PostgreSQL CPU per COPY'd row)."""
    return _record_id(time.time_ns() // 1_000_000, os.urandom(10))


def new_record_ids(n: int) -> list[str]:
    """``n`` record ids of this millisecond, their random bits drawn in one system call."""
    ms, rand = time.time_ns() // 1_000_000, os.urandom(10 * n)
    return [_record_id(ms, rand[i : i + 10]) for i in range(0, 10 * n, 10)]


def _record_id(ms: int, random10: bytes) -> str:
    rand = int.from_bytes(random10, "big")  # 74 of its 80 bits are used
    value = (
        ms << 80
        | 0x7 << 76  # version 7
        | (rand >> 68) << 64  # 12 random bits
        | 0b10 << 62  # the RFC 4122 variant
        | rand & _LOW_62
    )
    h = f"{value:032x}"  # formatted directly: uuid.UUID() and str() cost three times as much
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _field(value: Any) -> str:
    """One value in COPY text format (``\\N`` is NULL; backslash and separators escaped)."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_ESCAPE)
    if isinstance(value, float):
        return repr(float(value))  # numpy's own repr would read np.float64(...)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime | uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()  # bytea hex input, its backslash escaped for COPY
    return json_field(value)


def json_field(value: Any) -> str:
    """A JSON value as one COPY text field."""
    # orjson escapes control characters inside strings, so only backslashes need doubling.
    text = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return text.replace("\\", "\\\\") if "\\" in text else text


def encode(record: dict[str, Any], *, with_vector: bool = True) -> bytes:
    """A record as one COPY line: the form it is queued, written, spilled and replayed in.
    ``with_vector=False`` leaves the feature vector out (NULL): the record refers to it by its
    ``feature_hash`` in ``feature_vectors`` (``storage/log_vectors.py``).

    The common case (every text field free of backslashes and separators, as ids, versions
    and ISO times are) costs one join; anything else takes the general per-value path.
    """
    try:
        values: list[Any] = list(_ALL(record))  # one C call: what a served record holds
    except KeyError:  # a record of another shape: absent fields are NULL
        values = [record.get(c) for c in COLUMNS]
    values[23] = bool(values[23])
    if not with_vector:
        values[VECTOR_AT] = None
    if set(map(type, values[:13])) == _TEXT and type(values[13]) is bool:
        head = "\t".join(values[:13])
        if not ("\\" in head or "\n" in head or "\r" in head) and head.count("\t") == 12:
            rest = [*values[14:18], values[20]]
            vector, policy = values[21], values[22]
            if (
                set(map(type, rest)) == _FLOAT
                and (vector is None or type(vector) is bytes)
                and (policy is None or type(policy) is dict)
            ):
                vec = "\\N" if vector is None else f"\\\\x{vector.hex()}"
                pol = "\\N" if policy is None else json_field(policy)
                line = (
                    f"{head}\t{'t' if values[13] else 'f'}\t{rest[0]!r}\t{rest[1]!r}\t"
                    f"{rest[2]!r}\t{rest[3]!r}\t{json_field(values[18])}\t{json_field(values[19])}\t"
                    f"{rest[4]!r}\t{vec}\t{pol}\t{'t' if values[23] else 'f'}\n"
                )
                return line.encode()
    return ("\t".join([_field(v) for v in values]) + "\n").encode()


def _legacy(lines: bytes) -> bytes:
    """Spill files of earlier versions held JSON lines, or COPY lines without the replay
    columns; re-encode (or pad) them as COPY lines of today's columns."""
    if lines.startswith(b"{"):
        return b"".join(encode(json.loads(ln)) for ln in lines.splitlines() if ln.strip())
    first = lines[: lines.find(b"\n") + 1]
    fields = first.count(b"\t") + 1
    if fields == LEGACY_FIELDS:
        pad = b"\t\\N" * (PRE_SHADOW_FIELDS - LEGACY_FIELDS) + b"\tf\n"
    elif fields == PRE_SHADOW_FIELDS:
        pad = b"\tf\n"
    else:
        return lines
    return b"".join(ln + pad for ln in lines.splitlines() if ln)
