"""Feature vectors in the prediction log, each stored once and referred to by its hash.

Every request for a game logs the same vector until the game's features change, so the log
keeps each distinct vector once, in ``feature_vectors`` (migration 0014) under its SHA-256
(``feature_hash``), and a record's own ``feature_vector`` is NULL. What must hold: no record
that refers to a vector is committed before the vector is. So a record is queued as

- a plain line, when this process saw its vector committed at most ``2 * ttl_s`` ago
  (``Vectors.holds``), or when its vector does not hash to its ``feature_hash`` (it keeps
  the vector inline, as it came, and a replay names the difference), or it has none;
- a ``Carrying`` line otherwise: the writer inserts the vector (``ON CONFLICT DO NOTHING``)
  in the same transaction as the batch's COPY, and a spill writes the line with its vector
  inline, which the replay moves to ``feature_vectors`` in the transaction that writes the
  record (as it does for spill files of versions that kept every vector inline).

The time bound keeps the vector of a reference-only record committed with a record of the
last 15 minutes, so retention (which drops vectors no kept record refers to) cannot remove it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from typing import Any, cast

from storage.log_records import COLUMNS, VECTOR_AT, encode

INSERT = (
    "INSERT INTO feature_vectors (feature_hash, feature_vector) "
    "SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT (feature_hash) DO NOTHING"
)
# Staged replay: vectors that came inline (and hash to their record's feature_hash) move to
# feature_vectors, and the record keeps a reference. In hash order, as INSERT's arrays are:
# two writers inserting overlapping sets wait for each other instead of deadlocking.
_MATCHES = "feature_hash = encode(sha256(feature_vector), 'hex')"
_COLUMN_LIST = ", ".join(COLUMNS)
_SELECTED = ", ".join(
    f"CASE WHEN {_MATCHES} THEN NULL ELSE feature_vector END" if c == "feature_vector" else c
    for c in COLUMNS
)
MERGE = (
    "INSERT INTO feature_vectors (feature_hash, feature_vector) "
    "SELECT DISTINCT ON (feature_hash) feature_hash, feature_vector FROM prediction_log_stage "
    f"WHERE feature_vector IS NOT NULL AND {_MATCHES} ORDER BY feature_hash "
    "ON CONFLICT (feature_hash) DO NOTHING; "
    f"INSERT INTO prediction_log ({_COLUMN_LIST}) SELECT {_SELECTED} "
    "FROM prediction_log_stage ON CONFLICT (record_id) DO NOTHING"
)


INLINE, REFERENCE, CARRY = 0, 1, 2  # how a record's vector goes (``Vectors.place``)


class Carrying(bytes):
    """A queued COPY line (vector left out) with the vector it refers to, which the log may
    not hold yet. A ``bytes`` itself, so the queue, its byte count and COPY take it as is."""

    hash: str
    vector: bytes

    def inline(self) -> bytes:
        """The line with its vector in place: what a spill file keeps."""
        fields = self.split(b"\t", VECTOR_AT + 1)
        fields[VECTOR_AT] = b"\\\\x" + self.vector.hex().encode()
        return b"\t".join(fields)


def carrying(line: bytes, digest: str, vector: bytes) -> Carrying:
    item = Carrying(line)
    item.hash, item.vector = digest, vector
    return item


class Vectors:
    """The vectors this process saw committed: at most ``capacity`` hashes (a season's games
    several times over), none trusted longer than ``3 * ttl_s`` (15 minutes); past either
    bound a vector is simply sent again (``ON CONFLICT DO NOTHING``)."""

    def __init__(self, capacity: int = 8192, ttl_s: float = 300.0) -> None:
        self.capacity, self.ttl_s = capacity, ttl_s
        self._new: dict[str, bytes] = {}
        self._old: dict[str, bytes] = {}
        self._since = time.monotonic()
        self.sent = 0  # vectors inserted (or found there already) with a batch

    def holds(self, digest: str, vector: bytes) -> bool:
        known = self._new.get(digest)
        if known is None:
            known = self._old.get(digest)
        return known is not None and known == vector

    def age(self) -> None:
        """Two generations: what was added since ``_since`` and the one before it. Between
        calls less than ``ttl_s`` apart, nothing trusted is older than ``3 * ttl_s``."""
        now = time.monotonic()
        age = now - self._since
        if age > self.ttl_s or len(self._new) >= self.capacity // 2:
            self._old = self._new if age <= 2 * self.ttl_s else {}
            self._new, self._since = {}, now

    def place(self, digest: Any, vector: Any) -> int:
        """How a record with this vector and hash is queued: ``INLINE`` (no vector, or not
        the one hashed: kept as it came), ``REFERENCE`` (the log holds it) or ``CARRY``.
        Callers ``age()`` once before a request's records."""
        if type(vector) is not bytes or type(digest) is not str:
            return INLINE
        if self.holds(digest, vector):
            return REFERENCE
        return CARRY if hashlib.sha256(vector).hexdigest() == digest else INLINE

    def encode(self, records: Iterable[dict[str, Any]]) -> list[bytes]:
        """A request's records as queue lines (plain or ``Carrying``)."""
        self.age()
        lines: list[bytes] = []
        for r in records:
            digest, vector = r.get("feature_hash"), r.get("feature_vector")
            how = self.place(digest, vector)
            if how == INLINE:
                lines.append(encode(r))
            elif how == REFERENCE:
                lines.append(encode(r, with_vector=False))
            else:
                lines.append(carrying(encode(r, with_vector=False), cast(str, digest),
                                      cast(bytes, vector)))  # fmt: skip
        return lines

    def batch(self, lines: list[bytes]) -> tuple[bytes, dict[str, bytes]]:
        """A batch's COPY data and the vectors to insert with it (none the log holds)."""
        carried = {
            x.hash: x.vector
            for x in lines
            if type(x) is Carrying and not self.holds(x.hash, x.vector)
        }
        return b"".join(lines), dict(sorted(carried.items()))

    def committed(self, vectors: dict[str, bytes]) -> None:
        if vectors:
            self.age()
            self._new.update(vectors)
            self.sent += len(vectors)


def spill_form(lines: list[bytes]) -> bytes:
    """Lines as a spill file keeps them: vectors the log may not hold are inline."""
    return b"".join(x.inline() if type(x) is Carrying else x for x in lines)
