"""Record ids: UUID version 7 (time-ordered), unique, with every random bit random."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from storage.log_records import new_record_id, new_record_ids

VERSION_AND_VARIANT_BITS = {76, 77, 78, 79, 62, 63}


@pytest.mark.parametrize("draw", ["one at a time", "fifty at once"])
def test_record_ids_are_time_ordered_uuid7_with_74_random_bits(draw: str) -> None:
    before = time.time_ns() // 1_000_000
    if draw == "one at a time":
        ids = [new_record_id() for _ in range(4000)]
    else:
        ids = [i for _ in range(80) for i in new_record_ids(50)]
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


def test_a_forked_child_draws_its_own_random_bits() -> None:
    new_record_id()  # the parent holds random bytes it has not used yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then out without running pytest's teardown
        os.write(write, " ".join(new_record_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [new_record_id() for _ in range(50)]
    random_parts = {uuid.UUID(i).int & ((1 << 80) - 1) for i in parent}
    assert len(child) == 50
    assert not random_parts & {uuid.UUID(i).int & ((1 << 80) - 1) for i in child}
