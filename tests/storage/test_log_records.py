"""Record ids: UUID version 7 (time-ordered), unique, with every random bit random."""

from __future__ import annotations

import time
import uuid

from storage.log_records import new_record_id

VERSION_AND_VARIANT_BITS = {76, 77, 78, 79, 62, 63}


def test_record_ids_are_time_ordered_uuid7_with_74_random_bits() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_record_id() for _ in range(4000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    for text, u in zip(ids, parsed, strict=True):
        assert str(u) == text
        assert u.version == 7 and u.variant == uuid.RFC_4122
        assert before <= u.int >> 80 <= after  # the first 48 bits: Unix milliseconds
    stamps = [u.int >> 80 for u in parsed]
    assert stamps == sorted(stamps)
    for bit in set(range(80)) - VERSION_AND_VARIANT_BITS:
        assert {(u.int >> bit) & 1 for u in parsed} == {0, 1}, bit
