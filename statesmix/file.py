"""File objects for .ssx data, shaped like the stdlib lzma.open / LZMAFile.

    with statesmix.open("notes.txt.ssx", "wt", encoding="utf-8") as f:
        f.write("hello\\n")
    with statesmix.open("notes.txt.ssx", "rt", encoding="utf-8") as f:
        print(f.read())

Reading decodes every stream of the file in turn (concatenated streams, as
written by append mode or by `cat a.ssx b.ssx`, read as the concatenation of
their contents).  An empty file reads as empty.  Anything after the last
complete stream that is not itself a valid stream is an error
(StateSMixError): unlike LZMAFile, trailing garbage is not silently ignored.
A file that ends inside a stream raises StateSMixError too.

Seeking (read mode only) is emulated like LZMAFile: seeking forward decodes
and discards, seeking backward rewinds the underlying file to where the
first stream started and decodes again from there, so a backward seek costs
as much as decoding up to the target.  seekable() is True when the
underlying file object is seekable.  Write mode is not seekable; tell()
reports the number of uncompressed bytes written.

Writing passes every write() straight to a StateSMixCompressor and writes
whatever compressed bytes it returns at once (the compressor emits a block
whenever more than block_size bytes are pending); close() flushes the last
block and the stream trailer.  Append mode ("a") adds a new stream after the
existing ones.
"""
import builtins
import io
import os

from .api import StateSMixCompressor, StateSMixDecompressor
from .errors import StateSMixError

__all__ = ["StateSMixFile", "open"]

_MODE_CLOSED = 0
_MODE_READ = 1
_MODE_WRITE = 2

READ_CHUNK = 64 * 1024      # compressed bytes read from the file at a time
_OUT_CHUNK = 256 * 1024     # most decompressed bytes produced per decoder call


class StateSMixFile(io.BufferedIOBase):
    """A file object giving transparent access to a .ssx compressed file.

    `filename` is a path (str, bytes or os.PathLike) or an existing binary
    file object to read from or write to (it is not closed by close()).

    `mode` is "r"/"rb" (read), "w"/"wb" (write, truncating), "x"/"xb"
    (exclusive creation) or "a"/"ab" (append a new stream).

    `level`, `preset`, `block_size` and `vocabulary` choose the compression
    (write modes only); `threads` is passed to the compressor or the
    decompressors.  Output never depends on `threads`.
    """

    def __init__(self, filename=None, mode="r", *, level=None, preset=None, threads=None,
                 block_size=None, vocabulary=None):
        self._fp = None
        self._closefp = False
        self._mode = _MODE_CLOSED
        self._threads = threads

        if mode in ("r", "rb"):
            if level is not None or preset is not None or block_size is not None \
                    or vocabulary is not None:
                raise ValueError("level, preset, block_size and vocabulary are only "
                                 "valid when writing")
            mode_code = _MODE_READ
            raw_mode = "rb"
        elif mode in ("w", "wb", "x", "xb", "a", "ab"):
            mode_code = _MODE_WRITE
            raw_mode = mode[0] + "b"
        else:
            raise ValueError("invalid mode: %r" % (mode,))

        if isinstance(filename, (str, bytes, os.PathLike)):
            self._fp = builtins.open(filename, raw_mode)
            self._closefp = True
        elif hasattr(filename, "read") or hasattr(filename, "write"):
            self._fp = filename
        else:
            raise TypeError("filename must be a str, bytes, file or PathLike object")

        if mode_code == _MODE_READ:
            self._reset_reader()
            self._size = -1
            try:
                self._start = self._fp.tell() if self._fp.seekable() else 0
            except (AttributeError, OSError, ValueError):
                self._start = 0
        else:
            try:
                self._comp = StateSMixCompressor(level, preset=preset, threads=threads,
                                                 block_size=block_size,
                                                 vocabulary=vocabulary)
            except BaseException:
                if self._closefp:
                    self._fp.close()
                self._fp = None
                raise
            self._pos = 0
            self._failed = False   # a write failed: the stream cannot be finished
        self._mode = mode_code
        self._modestr = "rb" if mode_code == _MODE_READ else "wb"

    # ------------------------------------------------------------- status

    def close(self):
        """Finish the stream (write mode) and close the file.

        The underlying file is closed only when this object opened it.
        Calling close() more than once is allowed.
        """
        if self._mode == _MODE_CLOSED:
            return
        try:
            if self._mode == _MODE_WRITE:
                # after a failed write the compressor has consumed data that
                # never reached the file: no end marker is written, so the
                # file holds a truncated stream that every decoder rejects
                if not self._failed:
                    self._fp.write(self._comp.flush())
                self._comp = None
            else:
                self._decomp = None
                self._buffer = b""
                self._pending = b""
        finally:
            try:
                if self._closefp:
                    self._fp.close()
            finally:
                self._fp = None
                self._closefp = False
                self._mode = _MODE_CLOSED

    @property
    def closed(self):
        return self._mode == _MODE_CLOSED

    @property
    def name(self):
        self._check_not_closed()
        return self._fp.name

    @property
    def mode(self):
        return self._modestr

    def fileno(self):
        self._check_not_closed()
        return self._fp.fileno()

    def seekable(self):
        return self.readable() and bool(getattr(self._fp, "seekable", bool)())

    def readable(self):
        self._check_not_closed()
        return self._mode == _MODE_READ

    def writable(self):
        self._check_not_closed()
        return self._mode == _MODE_WRITE

    def _check_not_closed(self):
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def _check_can_read(self):
        if self._mode != _MODE_READ:
            self._check_not_closed()
            raise io.UnsupportedOperation("File not open for reading")

    def _check_can_write(self):
        if self._mode != _MODE_WRITE:
            self._check_not_closed()
            raise io.UnsupportedOperation("File not open for writing")

    # ------------------------------------------------------------- reading

    def _fill(self):
        """Decode until the buffer holds data; False at the end of the file."""
        if self._eof:
            return False
        while True:
            d = self._decomp
            if d is None:
                data = self._pending or self._fp.read(READ_CHUNK)
                self._pending = b""
                if not data:
                    self._eof = True
                    self._size = self._pos + (len(self._buffer) - self._offset)
                    return False
                d = self._decomp = StateSMixDecompressor(threads=self._threads)
                out = d.decompress(data, _OUT_CHUNK)
            elif d.eof:
                self._pending = d.unused_data
                self._decomp = None
                continue
            elif d.needs_input:
                data = self._fp.read(READ_CHUNK)
                if not data:
                    raise StateSMixError("compressed file ended before the end of "
                                         "the stream")
                out = d.decompress(data, _OUT_CHUNK)
            else:
                out = d.decompress(b"", _OUT_CHUNK)
            if out:
                self._buffer = out
                self._offset = 0
                return True

    def _available(self):
        return len(self._buffer) - self._offset

    def _take(self, n):
        """Up to n bytes from the buffer (n >= 0)."""
        start = self._offset
        end = min(len(self._buffer), start + n)
        if start == 0 and end == len(self._buffer):
            out = self._buffer
        else:
            out = self._buffer[start:end]
        self._offset = end
        if end == len(self._buffer):
            self._buffer = b""
            self._offset = 0
        self._pos += len(out)
        return out

    def read(self, size=-1):
        """Read up to `size` uncompressed bytes (all that is left if size < 0).

        Returns fewer than `size` bytes only at the end of the file."""
        self._check_can_read()
        if size is None:
            size = -1
        if size == 0:
            return b""
        parts = []
        while size < 0 or size > 0:
            if not self._available() and not self._fill():
                break
            part = self._take(self._available() if size < 0 else size)
            parts.append(part)
            if size > 0:
                size -= len(part)
        return b"".join(parts)

    def read1(self, size=-1):
        """Read up to `size` bytes with at most one decoding step.

        Returns b"" only at the end of the file."""
        self._check_can_read()
        if size == 0:
            return b""
        if not self._available() and not self._fill():
            return b""
        if size is None or size < 0:
            size = self._available()
        return self._take(size)

    def readinto(self, b):
        self._check_can_read()
        with memoryview(b) as view, view.cast("B") as mv:
            data = self.read(len(mv))
            mv[:len(data)] = data
        return len(data)

    def readinto1(self, b):
        self._check_can_read()
        with memoryview(b) as view, view.cast("B") as mv:
            data = self.read1(len(mv))
            mv[:len(data)] = data
        return len(data)

    def peek(self, size=-1):
        """The buffered bytes ahead, without advancing (at least one byte
        unless at the end of the file; maybe more or fewer than `size`)."""
        self._check_can_read()
        if not self._available() and not self._fill():
            return b""
        return self._buffer[self._offset:]

    def readline(self, size=-1):
        """Read up to and including the next b"\\n" (at most `size` bytes)."""
        self._check_can_read()
        if size is None:
            size = -1
        parts = []
        while size != 0:
            if not self._available() and not self._fill():
                break
            end = self._buffer.find(b"\n", self._offset)
            n = self._available() if end < 0 else end + 1 - self._offset
            if size >= 0:
                n = min(n, size)
                size -= n
            part = self._take(n)
            parts.append(part)
            if part.endswith(b"\n"):
                break
        return b"".join(parts)

    # ------------------------------------------------------------- seeking

    def _reset_reader(self):
        """The decoding state of a reader at the start of its input."""
        self._decomp = None
        self._pending = b""
        self._buffer = b""
        self._offset = 0
        self._pos = 0
        self._eof = False

    def _rewind(self):
        self._fp.seek(self._start)
        self._reset_reader()

    def seek(self, offset, whence=io.SEEK_SET):
        """Move to an uncompressed position (read mode; see the module doc:
        backward seeks decode again from the start)."""
        self._check_can_read()
        if not self.seekable():
            raise io.UnsupportedOperation("the underlying file is not seekable")
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            if self._size < 0:
                while self._available() or self._fill():
                    self._take(self._available())
            target = self._size + offset
        else:
            raise ValueError("invalid whence value %r" % (whence,))
        if target < 0:
            target = 0
        if target < self._pos:
            self._rewind()
        while self._pos < target:
            if not self._available() and not self._fill():
                break
            self._take(min(self._available(), target - self._pos))
        return self._pos

    def tell(self):
        """The current uncompressed position (bytes written in write mode)."""
        self._check_not_closed()
        return self._pos

    # ------------------------------------------------------------- writing

    def write(self, data):
        """Compress `data` (any bytes-like object); returns its length in bytes.

        Compressed output is written to the file as soon as the compressor
        produces it.  If that fails (e.g. OSError: no space left), the error
        propagates, later writes raise OSError and close() only closes: the
        stream is left unfinished, so it never decodes as if it were complete."""
        self._check_can_write()
        if self._failed:
            raise OSError("an earlier write failed; the compressed stream is incomplete")
        with memoryview(data) as view:       # a TypeError here changes nothing
            n = view.nbytes
            try:
                out = self._comp.compress(view)
                if out:
                    self._fp.write(out)
            except BaseException:
                self._failed = True
                raise
        self._pos += n
        return n

    def flush(self):
        """Flush the underlying file (the stream itself is finished by close())."""
        self._check_not_closed()
        if self._mode == _MODE_WRITE and hasattr(self._fp, "flush"):
            self._fp.flush()


def open(filename, mode="rb", *, level=None, preset=None, threads=None, encoding=None,
         errors=None, newline=None, block_size=None, vocabulary=None):
    """Open a .ssx file in binary or text mode, like lzma.open().

    `mode` is one of "r", "rb", "w", "wb", "x", "xb", "a", "ab" (binary) or
    "rt", "wt", "xt", "at" (text, through io.TextIOWrapper with `encoding`,
    `errors` and `newline`).  `filename` is a path or a file object.
    """
    if "t" in mode:
        if "b" in mode:
            raise ValueError("invalid mode: %r" % (mode,))
    else:
        if encoding is not None:
            raise ValueError("argument 'encoding' not supported in binary mode")
        if errors is not None:
            raise ValueError("argument 'errors' not supported in binary mode")
        if newline is not None:
            raise ValueError("argument 'newline' not supported in binary mode")
    raw_mode = mode.replace("t", "")
    f = StateSMixFile(filename, raw_mode, level=level, preset=preset, threads=threads,
                      block_size=block_size, vocabulary=vocabulary)
    if "t" in mode:
        if hasattr(io, "text_encoding"):          # Python >= 3.10
            encoding = io.text_encoding(encoding)
        return io.TextIOWrapper(f, encoding, errors, newline)
    return f
