"""A frame's queue lines made directly (``log_lines.frame_lines``) are the lines the general
path makes (``log_lines.records``, then ``Vectors.encode``): byte for byte but the record
id, with the same vectors carried, referred to or kept inline, whatever the fields hold."""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firstpitch.serving.log_lines import frame_lines, records
from storage.log_vectors import Carrying, Vectors
from tests.serving.test_log_writer import BASE, entry, fields

AWKWARD = st.text(alphabet=st.sampled_from('ab9-:+ \t\n\r\\%N{}"é'), max_size=12)


def _held(digests: dict[str, bytes]) -> tuple[Vectors, Vectors]:
    """Two vector caches that hold the same vectors (one for each path)."""
    a, b = Vectors(), Vectors()
    a.committed(dict(digests))
    b.committed(dict(digests))
    return a, b


def _same(fast: list[bytes], slow: list[bytes]) -> None:
    assert len(fast) == len(slow)
    for f, s in zip(fast, slow, strict=True):
        f_id, f_rest = f.split(b"\t", 1)
        s_id, s_rest = s.split(b"\t", 1)
        assert len(f_id) == len(s_id) == 36 and f_id != s_id  # each its own new id
        assert f_rest == s_rest
        assert type(f) is type(s)
        if type(f) is Carrying and type(s) is Carrying:
            assert (f.hash, f.vector) == (s.hash, s.vector)


def _vector(i: int) -> bytes:
    return np.arange(i, i + 8, dtype="<f8").tobytes()


def _game(i: int, **changes: Any) -> dict[str, Any]:
    game = entry(i) | {"feature_vector": _vector(i)}
    game["feature_hash"] = hashlib.sha256(game["feature_vector"]).hexdigest()
    return game | changes


def test_every_way_a_vector_goes_is_the_same() -> None:
    held = _game(1)
    games = [
        held,  # the log holds its vector: referred to by hash
        _game(2),  # new: carried with the batch
        _game(3, feature_hash="0" * 64),  # not the vector hashed: inline, as it came
        _game(4, feature_vector=None),  # none
    ]
    cached = msgpack.packb(_game(5), use_bin_type=True)
    older = msgpack.packb({k: v for k, v in _game(6).items() if k != "feature_vector"})
    frame = (BASE, 3.25, [fields(g) for g in games] + [cached, older], [False] * 4 + [True] * 2)
    fast_vectors, slow_vectors = _held({held["feature_hash"]: held["feature_vector"]})
    fast, slow = frame_lines(frame, fast_vectors), slow_vectors.encode(records(frame))
    _same(fast, slow)
    assert [type(x) is Carrying for x in fast] == [False, True, False, False, True, False]


def test_fields_out_of_the_plain_shape_take_the_general_path_alike() -> None:
    frames = [
        (BASE | {"request_id": "q\t1"}, 1.0, [fields(_game(1))], [False]),
        (BASE | {"shadow": True, "policy": None}, 1.0, [fields(_game(2))], [False]),
        (BASE, 7, [fields(_game(3))], [False]),  # an int latency
        (BASE, 1.0, [fields(_game(4, home_ml_probability=np.float64(0.61)))], [False]),
        (BASE, 1.0, [fields(_game(5, game_id="CIN\\2021"))], [1]),  # an int for a bool
        (BASE, 1.0, [fields(_game(6, betting_recommendations={"why": "5% \\ edge"}))], [False]),
    ]
    for frame in frames:
        fast_vectors, slow_vectors = _held({})
        _same(frame_lines(frame, fast_vectors), slow_vectors.encode(records(frame)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request_id=AWKWARD,
    game_id=AWKWARD,
    as_of=AWKWARD,
    reason=AWKWARD,
    p_home=st.floats(allow_nan=True, allow_infinity=True),
    latency=st.floats(min_value=0, max_value=1e6),
    hit=st.booleans(),
    shadow=st.booleans(),
)
def test_any_fields_make_the_same_lines(
    request_id: str, game_id: str, as_of: str, reason: str, p_home: float, latency: float,
    hit: bool, shadow: bool,
) -> None:  # fmt: skip
    game = _game(7, game_id=game_id, feature_as_of=as_of, home_ml_probability=p_home,
                 betting_recommendations={"moneyline": {"reason": reason}})  # fmt: skip
    raw = msgpack.packb(game, use_bin_type=True) if hit else fields(game)
    frame = (BASE | {"request_id": request_id, "shadow": shadow}, latency, [raw], [hit])
    fast_vectors, slow_vectors = _held({})
    _same(frame_lines(frame, fast_vectors), slow_vectors.encode(records(frame)))
