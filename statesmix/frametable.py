"""Where every frame (stream) of a seekable file lies: read from the frame
indexes at its end (docs/format.md, section 7), or found by a scan of the
container structure (container.walk) when the file does not end with
indexes that account for all of it, or one is damaged.

An index describes the streams right before it, so the table follows a
chain back from the end of the file: each index's frames end where it
starts, and the first frame of the chain must start where the data does.
A reader that jumps to a frame of a table read from an index checks the
frame's header against it (`from_index`) and turns to a scan on a mismatch:
a damaged index costs a scan, never wrong data.
"""
import bisect
from typing import NamedTuple

from . import container as ct
from .errors import StateSMixError


class Frame(NamedTuple):
    offset: int            # of its stream, from the start of the data
    raw_start: int         # of its original bytes
    raw_len: int
    compressed_len: int


class FrameTable:
    """The frames of a file in order; `from_index` says where they came
    from (otherwise a scan), `index` what became of the index: "ok", "none"
    (the file does not end with one that covers it) or "damaged"."""

    def __init__(self, frames, from_index, index):
        self.frames = frames
        self.from_index = from_index
        self.index = index
        self._starts = [fr.raw_start for fr in frames]

    @property
    def size(self):
        """The original bytes of the whole file."""
        last = self.frames[-1] if self.frames else None
        return last.raw_start + last.raw_len if last else 0

    def find(self, pos):
        """The number of the frame holding original byte `pos` (the last
        frame for the end of the data)."""
        return max(0, min(bisect.bisect_right(self._starts, pos) - 1, len(self.frames) - 1))


def read_indexes(f, start=0):
    """The frames of `f` from its indexes: None when the file does not end
    with a chain of indexes that accounts for every byte from `start`;
    StateSMixError when an index is damaged."""
    pos = f.seek(0, 2)
    chain = []              # (where its first frame starts, entries), from the end
    while pos > start:
        if pos - start < ct.INDEX_TAIL_SIZE:
            return None
        f.seek(pos - ct.INDEX_TAIL_SIZE)
        size = ct.index_size(f.read(ct.INDEX_TAIL_SIZE))
        if size is None:
            return None
        if size > pos - start:
            raise StateSMixError("corrupt frame index (longer than the file)")
        f.seek(pos - size)
        r = ct.parse_index(f.read(size), 0)
        if r is None or r[1] != size:
            raise StateSMixError("corrupt frame index (its length)")
        pos -= size + sum(e.compressed_len for e in r[0])
        if pos < start:
            raise StateSMixError("corrupt frame index (frames before the start)")
        chain.append((pos, r[0]))
    frames, raw = [], 0
    for offset, entries in reversed(chain):
        offset -= start
        for raw_len, compressed_len in entries:
            frames.append(Frame(offset, raw, raw_len, compressed_len))
            offset += compressed_len
            raw += raw_len
    return frames or None


def scan(f, start=0):
    """The frames of `f` found by container.walk, and its Layout
    (StateSMixError when the structure is damaged)."""
    layout = ct.walk(f, start)
    frames, raw = [], 0
    for s in layout.streams:
        frames.append(Frame(s["offset"] - start, raw, s["size"], s["compressed"]))
        raw += s["size"]
    return frames, layout


def load(f, start=0, use_index=True):
    """The FrameTable of a seekable file from `start`, None when neither its
    indexes nor a scan can tell (the structure is damaged: a reader then
    meets the error where it is).  use_index=False: a scan only (an index
    did not match its frames)."""
    frames, index = None, "damaged"
    if use_index:
        try:
            frames = read_indexes(f, start)
            index = "none" if frames is None else "ok"
        except StateSMixError:
            pass
    if frames is not None:
        return FrameTable(frames, True, index)
    try:
        frames, layout = scan(f, start)
    except StateSMixError:
        return None
    if layout.damaged_index is not None:
        index = "damaged"
    return FrameTable(frames, False, index)
