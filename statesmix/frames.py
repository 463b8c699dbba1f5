"""Independent frames: the input cut into frames (as blocks are cut,
compressor.cut), each compressed by its own model into a complete stream,
the streams in order and then a frame index (docs/format.md, section 7).
Any reader of concatenated streams reads a framed file; statesmix's reader
also seeks through its index.

Frames go to an executor (concurrent.futures: a process pool of our own
with one model thread per worker, or the caller's, e.g. a dask.distributed
client's) and come back in order, at most `in_flight` of them at a time, so
the memory is bounded whatever the input's size and the output never
depends on the executor or the number of workers.  Without an executor and
with one worker the frames are coded here, one after the other.

Worker processes are started with "spawn" (never "fork": the parent's
OpenMP threads do not survive a fork), only when a second frame exists, and
ended at once when the run stops.  As with multiprocessing, a script that
starts them must guard its entry point with `if __name__ == "__main__":`.
"""
import collections
import concurrent.futures as cf
import multiprocessing
import signal
import threading
from typing import Optional

from . import container as ct
from .compressor import StateSMixCompressor, check_total, compress_stream, cut, plan
from .decompressor import StateSMixDecompressor
from .errors import StateSMixEOFError, StateSMixError
from .options import (Buffer, byte_view, check_content_size, check_frame_size,
                      check_in_flight, check_memory_limit, check_threads)
from .reader import RawReader, StreamReader
from .threads import for_workers

__all__ = ["FrameCompressor", "FrameReader", "open_reader"]


# ---------------------------------------------------------------- workers

def _init_worker():
    # Ctrl-C reaches the whole process group: the parent stops the run and
    # ends its workers, which must not print tracebacks of their own
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def compress_frame(data, settings, threads=1):
    """One frame as a complete stream that records its size, and its
    tokens (a worker runs this, with one model thread)."""
    blob, c = compress_stream(data, threads=threads, **settings)
    return blob, c.stats()["tokens"]


def decompress_frame(data, raw_len, memory_limit):
    """The original bytes of one frame, which must be exactly one complete
    stream of raw_len bytes, its header and statistics (a worker runs this)."""
    d = StateSMixDecompressor(threads=1, memory_limit=memory_limit)
    out = d.decompress(data)
    if not d.eof:
        raise StateSMixEOFError("compressed data ended before the end of the stream")
    if d.unused_data or len(out) != raw_len:
        raise StateSMixError("a frame does not end where the file's structure says")
    return out, d.header, d.stats()


class _Pool:
    """The executor frames go to: the caller's, or `workers` processes of
    our own started on the first submit; `in_flight` bounds the frames
    submitted and not yet taken back (default: twice the workers, or twice
    the cores for the caller's executor)."""

    def __init__(self, workers, executor, in_flight):
        workers = check_threads(workers, "workers")
        if executor is not None and not isinstance(executor, cf.Executor):
            raise TypeError("executor must be a concurrent.futures.Executor, not %s"
                            % type(executor).__name__)
        self._given = executor
        self._own = None
        self.workers = for_workers(0 if executor is not None and workers is None else workers)
        self.in_flight = check_in_flight(in_flight) or 2 * self.workers
        self.parallel = executor is not None or self.workers > 1

    @property
    def own(self):
        """Whether the workers are ours (no executor was given)."""
        return self._given is None

    def submit(self, fn, *args):
        if self._given is not None:
            return self._given.submit(fn, *args)
        if self._own is None:
            self._own = cf.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker)
        return self._own.submit(fn, *args)

    def close(self, abort=False):
        """Shut our workers down; abort: end them now, in the middle of a frame."""
        own, self._own = self._own, None
        if own is None:
            return
        if abort:
            stop = getattr(own, "terminate_workers", None)       # Python >= 3.14
            if stop is not None:
                stop()
            else:
                # before 3.14 the pool's processes are only in a private field
                for p in list((getattr(own, "_processes", None) or {}).values()):
                    p.terminate()
        own.shutdown(wait=not abort, cancel_futures=True)


# ---------------------------------------------------------------- writing

class FrameCompressor:
    """compress() pieces, then flush() once, as StateSMixCompressor; the
    output is a framed file: frames of at most `frame_size` bytes, each a
    stream of its own, then the index.  With `content_size`, the input's
    size when it is known, the frames are cut evenly (8 MB in 1 MiB frames:
    8 of about 1 MB, not 7 full ones and a short one, which would leave a
    worker idle at the end); the output then depends on it, as a
    StateSMixCompressor's does.

    `level`, `preset`, `block_size`, `vocabulary` and `memory_limit` (per
    frame) are StateSMixCompressor's.  `workers`: worker processes (None:
    none, the frames are compressed here one after the other; 0: all cores;
    N: N, at most the cores), each model with one thread; `threads`: the
    model threads of a frame compressed here (without workers, or when
    there is a single frame).  `executor`: any concurrent.futures.Executor
    to compress the frames instead (its workers need statesmix);
    `in_flight`: the frames out at once (default: twice the workers, or
    twice the cores with an executor), which bounds the memory to about
    in_flight x frame_size.  None of them changes the output.  close() (or
    leaving a with block) after an error ends our workers."""

    def __init__(self, level: Optional[int] = None, *, frame_size: int,
                 preset: Optional[str] = None, threads: Optional[int] = None,
                 workers: Optional[int] = None, block_size: Optional[int] = None,
                 vocabulary: Optional[int] = None, memory_limit: Optional[int] = None,
                 executor: Optional[cf.Executor] = None,
                 in_flight: Optional[int] = None,
                 content_size: Optional[int] = None) -> None:
        self._threads = check_threads(threads)
        content_size = check_content_size(content_size)
        frame_size = check_frame_size(frame_size)
        if frame_size is None:
            raise TypeError("frame_size is required (workers, executor and in_flight "
                            "are for frames)")
        self._pool = _Pool(workers, executor, in_flight)
        plan(level, preset, block_size, vocabulary, frame_size, memory_limit)
        self._settings = {"level": level, "preset": preset, "block_size": block_size,
                          "vocabulary": vocabulary, "memory_limit": memory_limit}
        self._frame_size = frame_size
        self._size = content_size
        self._cut = 0               # bytes in frames so far
        self._buf = bytearray()
        self._held = None           # the first frame, until a second one exists
        self._queue = collections.deque()   # (raw_len, future or result) in order
        self._entries = []          # FrameEntry of every frame written
        self._done = {"input_bytes": 0, "tokens": 0}
        self._finished = False
        self._lock = threading.Lock()

    def _limit(self):
        """The next frame's size limit: the frame size, or an even share of
        what is left of the announced size (recomputed at every cut, so the
        bytes a cut leaves before its limit are shared out too)."""
        left = (self._size or 0) - self._cut
        if left <= 0:
            return self._frame_size     # no size, or more input than announced
        frames = -(-left // self._frame_size)
        return -(-left // frames)

    def _submit(self, frame):
        if not self._pool.parallel:
            self._queue.append((len(frame), self._here(frame)))
            return
        if self._pool.own and self._held is None and not (self._entries or self._queue):
            self._held = frame      # no processes for a single frame
            return
        for f in ([self._held] if self._held is not None else []) + [frame]:
            self._queue.append((len(f), self._pool.submit(compress_frame, f, self._settings)))
        self._held = None

    def _here(self, frame):
        """A frame compressed in this process, with the model threads asked for."""
        return compress_frame(frame, self._settings, self._threads)

    def _take(self, wait_all):
        """The frames' streams that are ready, in order; waits while more than
        in_flight are out (or for all of them)."""
        out = []
        while self._queue:
            raw_len, item = self._queue[0]
            if isinstance(item, cf.Future):
                if not (wait_all or len(self._queue) > self._pool.in_flight or item.done()):
                    break
                item = item.result()
            self._queue.popleft()
            blob, tokens = item
            self._entries.append(ct.FrameEntry(raw_len, len(blob)))
            self._done["input_bytes"] += raw_len
            self._done["tokens"] += tokens
            out.append(blob)
        return b"".join(out)

    def _guarded(self, work):
        with self._lock:
            if self._finished:
                raise ValueError("compressor has already been flushed")
            try:
                return work()
            except BaseException:
                self._finished = True
                self._pool.close(abort=True)
                raise

    def compress(self, data: Buffer) -> bytes:
        """Compress a bytes-like object; the frames finished so far."""
        with byte_view(data) as view:
            def work():
                self._buf += view
                out = []
                limit = self._limit()
                while len(self._buf) > limit:
                    n = cut(self._buf, limit)
                    self._submit(bytes(self._buf[:n]))
                    del self._buf[:n]
                    self._cut += n
                    out.append(self._take(False))
                    limit = self._limit()
                return b"".join(out)
            return self._guarded(work)

    def flush(self) -> bytes:
        """The last frames and the index."""
        def work():
            check_total(self._size, self._cut + len(self._buf))
            if self._buf or not (self._entries or self._queue or self._held is not None):
                self._submit(bytes(self._buf))
                self._buf.clear()
            if self._held is not None:
                frame, self._held = self._held, None
                self._queue.append((len(frame), self._here(frame)))
            out = self._take(True)
            self._finished = True
            self._pool.close()
            if len(self._entries) <= ct.MAX_INDEX_FRAMES:
                out += ct.pack_index(self._entries)
            return out
        return self._guarded(work)

    def close(self) -> None:
        """Stop: our workers end at once unless flush() has finished."""
        with self._lock:
            self._finished = True
            self._pool.close(abort=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def stats(self) -> dict:
        """The input bytes and tokens of the frames written so far."""
        return dict(self._done)

    def __reduce__(self):
        raise TypeError("cannot pickle %s objects" % type(self).__name__)


# ---------------------------------------------------------------- reading

class FrameReader(RawReader):
    """The original bytes of a file's streams (container.walk's Layout),
    each decoded whole by the pool's workers, in order.  It has the
    attributes of a StreamReader that the command line tool reads."""

    def __init__(self, fp, start, layout, memory_limit, pool):
        self._fp = fp
        self._start = start
        self._streams = layout.streams
        self._memory_limit = memory_limit
        self._pool = pool
        self._next = 0              # the next stream to submit
        self._queue = collections.deque()
        self._buf = memoryview(b"")     # the frame being read, from self._pos on
        self._pos = 0
        self._end = fp.seek(0, 2)
        self._current = None        # (header, stats) of the frame being read
        self.header = None
        self.streams = []           # (header, stats) of every frame read
        self.compressed_read = 0    # bytes read from fp (at the end: all of it)
        self.trailing = layout.trailing is not None or layout.damaged_index is not None
        self.index_damaged = layout.damaged_index is not None

    def _fill(self):
        while self._next < len(self._streams) and len(self._queue) < self._pool.in_flight:
            s = self._streams[self._next]
            self._fp.seek(s["offset"])
            data = self._fp.read(s["compressed"])
            self._queue.append(self._pool.submit(decompress_frame, data, s["size"],
                                                 self._memory_limit))
            self.compressed_read += len(data)
            self._next += 1

    def read(self, size=-1):
        try:
            while not self._buf:
                if self._current is not None:
                    self.streams.append(self._current)
                    self._current = self.header = None
                self._fill()
                if not self._queue:
                    self.compressed_read = self._end - self._start
                    return b""
                data, self.header, stats = self._queue.popleft().result()
                self._current = (self.header, stats)
                self._buf = memoryview(data)
        except BaseException:
            self.close()
            raise
        if size is None or size < 0:
            size = len(self._buf)
        data, self._buf = self._buf[:size].tobytes(), self._buf[size:]
        self._pos += len(data)
        return data

    def tell(self):
        return self._pos

    def close(self):
        if not self.closed:
            for f in self._queue:
                f.cancel()
            self._pool.close(abort=bool(self._queue) or self._next < len(self._streams))
        super().close()


def open_reader(fp, *, threads=None, workers=None, memory_limit=None, executor=None,
                in_flight=None):
    """A reader of the original bytes of `fp` (from its position): a
    FrameReader, whose frames `workers` processes or the `executor` decode
    (FrameCompressor's meanings), where they are asked for and `fp` is a
    seekable file of several streams of at most MAX_FRAME_SIZE bytes each;
    otherwise a StreamReader with `threads` model threads.  Close it after
    an error: that ends our workers."""
    threads = check_threads(threads)
    memory_limit = check_memory_limit(memory_limit)
    pool = _Pool(workers, executor, in_flight)

    def sequential():
        return StreamReader(fp, threads=threads, memory_limit=memory_limit)

    if not pool.parallel or not getattr(fp, "seekable", bool)():
        return sequential()
    start = fp.tell()
    try:
        layout = ct.walk(fp, start)
    except StateSMixError:
        layout = None           # the stream reader meets the error in its place
    fp.seek(start)
    if layout is None or len(layout.streams) < 2 or \
            max(s["size"] for s in layout.streams) > ct.MAX_FRAME_SIZE:
        return sequential()
    return FrameReader(fp, start, layout, memory_limit, pool)
