"""The one reader of compressed input: every stream of a binary file object
in turn, as a raw byte stream (in the style of CPython's
_compression.DecompressReader).  The file object, decompress() and the
command line tool all read through it, so they agree on every rule:

* concatenated streams decode to the concatenation of their contents;
* input that ends inside a stream, or is empty, raises StateSMixEOFError
  (a StateSMixError that is also an EOFError, as lzma and bz2 raise);
* after at least one complete stream, bytes that cannot begin a stream
  (they differ from the magic number) end the data and are ignored, as
  lzma and bz2 ignore trailing junk; bytes that begin with the magic number
  are decoded as a stream, and its errors are raised;
* a frame index (after the frames of a framed file) is checked against the
  streams before it and skipped; a damaged one ends the data as junk does
  (`index_damaged`): the streams before it were decoded and verified.

Seeking, where the file can, goes through its frame table (frametable.py):
a seek decodes from the start of the frame that holds the target only.
"""
import io
import sys

from . import container as ct
from . import frametable
from .decompressor import StateSMixDecompressor
from .errors import StateSMixEOFError, StateSMixError

__all__ = ["StreamReader"]

READ_SIZE = 64 * 1024      # compressed bytes read from the file at a time


class RawReader(io.RawIOBase):
    """A raw reader of decompressed bytes whose read(size) does the work."""

    def readable(self):
        return True

    def readinto(self, b):
        with memoryview(b) as view, view.cast("B") as byte_view:
            data = self.read(len(byte_view))
            byte_view[:len(data)] = data
        return len(data)

    def readall(self):
        chunks = []
        while True:
            data = self.read(sys.maxsize)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


class StreamReader(RawReader):
    """Decompressed bytes of the streams in `fp`, read from its current
    position.  `threads` and `memory_limit` go to every stream's
    StateSMixDecompressor.  Seeking (when `fp` can) jumps to the frame that
    holds the target and decodes forward from its start; where the file's
    structure cannot be read, it is emulated (forward decodes and discards,
    backward starts again from the first stream)."""

    def __init__(self, fp, *, threads=None, memory_limit=None, read_size=READ_SIZE):
        self._fp = fp
        self._args = {"threads": threads, "memory_limit": memory_limit}
        self._read_size = read_size
        try:
            self._start = fp.tell() if fp.seekable() else 0
        except (AttributeError, OSError, ValueError):
            self._start = 0
        self._table = None              # the frame table, read at the first seek
        self.streams_started = 0        # streams this reader began to decode
        self._reset()

    def _reset(self):
        self._new_stream()
        self._eof = False
        self._pos = 0
        self._size = -1
        self.compressed_read = 0        # bytes read from fp
        self.streams = []               # (header, stats) of every finished stream
        self.trailing = False           # whether trailing junk (or a damaged index) was ignored
        self.index_damaged = False      # whether that was a damaged frame index
        self.indexes = 0                # frame indexes checked and skipped
        # (raw, compressed) of the streams since the last index; None after
        # a jump (the frame table has checked the index already)
        self._recent = []

    def _new_stream(self, pending=b""):
        self._decomp = StateSMixDecompressor(**self._args)
        self._pending = pending         # input read past a finished stream
        self._fed = 0                   # bytes given to this stream's decompressor
        self._expect = None             # the Frame a jump expects here

    @property
    def header(self):
        """The header of the stream being read (None before it is read and
        once it has ended)."""
        d = self._decomp
        return d.header if d is not None and not d.eof else None

    def seekable(self):
        return bool(getattr(self._fp, "seekable", bool)())

    def close(self):
        self._decomp = None
        super().close()

    def _read_raw(self):
        data = self._fp.read(self._read_size)
        self.compressed_read += len(data)
        return data

    def _finish_stream(self):
        d = self._decomp
        self.streams.append((d.header, d.stats()))
        if self._recent is not None:
            self._recent.append((d.stats().get("output_bytes", 0),
                                 self._fed - len(d.unused_data)))

    def _next_stream(self):
        """Start the stream that follows a finished one (after an index);
        False at the end."""
        rest = self._decomp.unused_data
        while True:
            while len(rest) < len(ct.MAGIC):
                more = self._read_raw()
                if not more:
                    break
                rest += more
            if not rest:
                return False
            if rest[:len(ct.MAGIC)] == ct.MAGIC[:len(rest)]:
                self._new_stream(rest)
                return True
            if rest[:len(ct.INDEX_MAGIC)] != ct.INDEX_MAGIC:
                self.trailing = True
                return False
            rest = self._skip_index(rest)
            if rest is None:
                self.trailing = self.index_damaged = True
                return False

    def _skip_index(self, rest):
        """What follows the index at the start of `rest`, once it is read
        and checked against the streams before it; None if it is damaged."""
        recent = self._recent
        try:
            while True:
                r = ct.parse_index(rest, 0, ct.MAX_INDEX_FRAMES if recent is None else len(recent))
                if r is not None:
                    break
                more = self._read_raw()
                if not more:
                    return None
                rest += more
            if recent is not None:
                ct.check_index(r[0], recent)
        except StateSMixError:
            return None
        self._recent = []
        self.indexes += 1
        return rest[r[1]:]

    def read(self, size=-1):
        if size is None or size < 0:
            return self.readall()
        if not size or self._eof:
            return b""
        data = b""
        while not data:
            d = self._decomp
            if d.eof:
                self._finish_stream()
                if not self._next_stream():
                    self._eof = True
                    self._size = self._pos
                    return b""
                raw, self._pending = self._pending, b""
            elif d.needs_input:
                raw = self._read_raw()
                if not raw:
                    raise StateSMixEOFError(
                        "compressed data ended before the end of the stream"
                        if self.compressed_read else "no compressed data (empty input)")
            else:
                raw = b""
            if raw and not self._fed:
                self.streams_started += 1
            self._fed += len(raw)
            data = self._decode(raw, size)
        self._pos += len(data)
        return data

    def _decode(self, raw, size):
        """The decompressor's output; after a jump to a frame of an index,
        the frame's header is checked against the index before any of it
        is returned."""
        if self._expect is None:
            return self._decomp.decompress(raw, size)
        try:
            data = self._decomp.decompress(raw, size)
            header = self._decomp.header
            if header is not None and header.content_size != self._expect.raw_len:
                raise StateSMixError("the frame index does not match the frame")
        except StateSMixError:
            # an index that passed its checksum but not this: scan, go again
            self._table = frametable.load(self._fp, self._start, use_index=False) or False
            self._goto(self._pos, self.frame_table(), again=True)
            return b""
        if header is not None:
            self._expect = None
        return data

    # ------------------------------------------------------------ seeking

    def frame_table(self):
        """The file's frametable.FrameTable (read once); None where the
        file cannot seek or its structure cannot be read."""
        if self._table is None and self.seekable():
            here = self._fp.tell()
            self._table = frametable.load(self._fp, self._start) or False
            self._fp.seek(here)
        return self._table or None

    def seek(self, offset, whence=io.SEEK_SET):
        table = self.frame_table()
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            if table is not None:
                self._size = table.size
            elif self._size < 0:
                while self.read(io.DEFAULT_BUFFER_SIZE):
                    pass
            offset += self._size
        elif whence != io.SEEK_SET:
            raise ValueError("invalid whence value %r" % (whence,))
        return self._goto(max(offset, 0), table)

    def _goto(self, offset, table, again=False):
        """Decode up to `offset`, from the start of its frame when the
        decoder is elsewhere (again: whatever it is)."""
        if table is not None:
            offset = min(offset, table.size)
            k = table.find(offset)
            if offset == table.size:
                self._at_end(table)
            elif again or offset < self._pos or k != table.find(self._pos):
                self._jump(table, k)
        elif again or offset < self._pos:
            self._fp.seek(self._start)
            self._reset()
        while self._pos < offset:
            if not self.read(min(io.DEFAULT_BUFFER_SIZE, offset - self._pos)):
                break
        return self._pos

    def _at_end(self, table):
        """At the end of the data, with nothing to decode."""
        self._fp.seek(0, io.SEEK_END)
        self._new_stream()
        self._eof = True
        self._pos = self._size = table.size
        self.streams, self._recent = [], None

    def _jump(self, table, k):
        """Decode from the start of frame k on."""
        frame = table.frames[k]
        self._fp.seek(self._start + frame.offset)
        self._new_stream()
        if table.from_index:
            self._expect = frame
        self._eof = False
        self._pos = frame.raw_start
        self._size = table.size
        self.streams, self._recent = [], None

    def tell(self):
        return self._pos
