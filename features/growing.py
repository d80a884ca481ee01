"""Numpy columns that grow at their end, shared by the immutable states that hold them.

A fold adds a few rows to timelines of up to a million; copying every column for each
result cost ~30 ms a fold here, mostly in page faults on the fresh copies. A state's
columns are instead views of the first ``n`` rows of buffers with room to spare. The next
state writes its rows after them in place when nothing has been written there yet (the
buffers are filled to exactly ``n``, and the new rows come after every held one); otherwise
(a result that replaces held rows, a second fold from the same state, a full buffer) it
copies into new buffers. Rows a view shows are never written again, so no state ever sees
one change.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

Columns = dict[str, np.ndarray]
SPARE = 1.25  # a new buffer's capacity, as a share of the rows it starts with
MIN_SPARE = 4096


@dataclass
class _Buffers:
    data: Columns
    filled: int
    lock: threading.Lock = field(default_factory=threading.Lock)


def _fresh(head: Columns, kept: int, tail: Columns) -> _Buffers:
    rows = kept + len(next(iter(tail.values())))
    capacity = max(int(rows * SPARE), rows + MIN_SPARE)
    data = {}
    for name, values in tail.items():
        buffer = np.empty(capacity, dtype=values.dtype)
        buffer[:kept] = head[name][:kept]
        buffer[kept:rows] = values
        data[name] = buffer
    return _Buffers(data, rows)


@dataclass(frozen=True)
class Growing:
    """Columns of ``n`` rows each (``cols``: views), and how they grow."""

    cols: Columns
    n: int
    _buffers: _Buffers = field(repr=False, compare=False)

    @classmethod
    def of(cls, cols: Columns) -> Growing:
        n = len(next(iter(cols.values())))
        buffers = _fresh(cols, 0, cols)
        return cls({k: v[:n] for k, v in buffers.data.items()}, n, buffers)

    def grown(self, kept: int, tail: Columns) -> Growing:
        """The first ``kept`` rows of these columns followed by ``tail``'s."""
        if kept > self.n:
            raise ValueError(f"{kept} rows kept of {self.n}")
        rows = kept + len(next(iter(tail.values())))
        buffers = self._buffers
        with buffers.lock:
            capacity = len(next(iter(buffers.data.values())))
            in_place = kept == self.n == buffers.filled and rows <= capacity
            if in_place:
                for name, values in tail.items():
                    buffers.data[name][kept:rows] = values
                buffers.filled = rows
        if not in_place:
            buffers = _fresh(self.cols, kept, tail)
        return Growing({k: v[:rows] for k, v in buffers.data.items()}, rows, buffers)
