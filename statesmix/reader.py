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
  are decoded as a stream, and its errors are raised.
"""
import io
import sys

from . import container as ct
from .decompressor import StateSMixDecompressor
from .errors import StateSMixEOFError

__all__ = ["StreamReader"]

READ_SIZE = 64 * 1024      # compressed bytes read from the file at a time


class StreamReader(io.RawIOBase):
    """Decompressed bytes of the streams in `fp`, read from its current
    position.  `threads` and `memory_limit` go to every stream's
    StateSMixDecompressor.  Seeking (when `fp` can) is emulated: forward
    decodes and discards, backward starts again from the first stream."""

    def __init__(self, fp, *, threads=None, memory_limit=None, read_size=READ_SIZE):
        self._fp = fp
        self._args = {"threads": threads, "memory_limit": memory_limit}
        self._read_size = read_size
        try:
            self._start = fp.tell() if fp.seekable() else 0
        except (AttributeError, OSError, ValueError):
            self._start = 0
        self._reset()

    def _reset(self):
        self._decomp = StateSMixDecompressor(**self._args)
        self._pending = b""             # input read past a finished stream
        self._eof = False
        self._pos = 0
        self._size = -1
        self.compressed_read = 0        # bytes read from fp
        self.streams = []               # (header, stats) of every finished stream
        self.trailing = False           # whether trailing junk was ignored

    @property
    def header(self):
        """The header of the stream being read (None before it is read and
        once it has ended)."""
        d = self._decomp
        return d.header if d is not None and not d.eof else None

    def readable(self):
        return True

    def seekable(self):
        return bool(getattr(self._fp, "seekable", bool)())

    def close(self):
        self._decomp = None
        super().close()

    def _read_raw(self):
        data = self._fp.read(self._read_size)
        self.compressed_read += len(data)
        return data

    def _next_stream(self):
        """Start the stream that follows a finished one; False at the end."""
        rest = self._decomp.unused_data
        while len(rest) < len(ct.MAGIC):
            more = self._read_raw()
            if not more:
                break
            rest += more
        if not rest:
            return False
        if rest[:len(ct.MAGIC)] != ct.MAGIC[:len(rest)]:
            self.trailing = True
            return False
        self._decomp = StateSMixDecompressor(**self._args)
        self._pending = rest
        return True

    def read(self, size=-1):
        if size is None or size < 0:
            return self.readall()
        if not size or self._eof:
            return b""
        data = b""
        while not data:
            d = self._decomp
            if d.eof:
                self.streams.append((d.header, d.stats()))
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
            data = self._decomp.decompress(raw, size)
        self._pos += len(data)
        return data

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

    # ------------------------------------------------------------ seeking

    def seek(self, offset, whence=io.SEEK_SET):
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            if self._size < 0:
                while self.read(io.DEFAULT_BUFFER_SIZE):
                    pass
            offset += self._size
        elif whence != io.SEEK_SET:
            raise ValueError("invalid whence value %r" % (whence,))
        if offset < self._pos:
            self._fp.seek(self._start)
            self._reset()
        while self._pos < offset:
            if not self.read(min(io.DEFAULT_BUFFER_SIZE, offset - self._pos)):
                break
        return self._pos

    def tell(self):
        return self._pos
