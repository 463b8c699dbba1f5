"""File objects for .ssx data, shaped like the stdlib lzma.open / LZMAFile.

    with statesmix.open("notes.txt.ssx", "wt", encoding="utf-8") as f:
        f.write("hello\\n")
    with statesmix.open("notes.txt.ssx", "rt", encoding="utf-8") as f:
        print(f.read())

Reading goes through statesmix.reader.StreamReader: every stream of the file
in turn (concatenated streams, as written by append mode or by `cat a.ssx
b.ssx`, read as the concatenation of their contents), output as it is
decoded; a file that is empty or ends inside a stream raises
StateSMixEOFError (also an EOFError, as LZMAFile raises), trailing junk
after a complete stream is ignored (as LZMAFile does).

Seeking (read mode only) jumps to the frame (stream) that holds the target
and decodes from its start: in a framed file (written with `frame_size`)
a seek costs at most one frame, found through the file's index (or a scan
of its structure, without decoding, where it has none).  In a file of one
stream it is emulated like LZMAFile: seeking forward decodes and discards,
seeking backward decodes again from the start.  Write mode is not
seekable; tell() reports the number of uncompressed bytes written.

Writing passes every write() straight to a StateSMixCompressor and writes
whatever compressed bytes it returns at once (the compressor emits a block
whenever more than block_size bytes are pending); close() flushes the last
block and the stream trailer.  With `frame_size` the file is written in
independent frames (frames.FrameCompressor) and close() adds the index.
Append mode ("a") adds a new stream after the existing ones.  Every
argument is checked before the file is opened, so a bad one never
truncates an existing file.
"""
import builtins
import concurrent.futures as cf
import io
import operator
import os
import threading
from typing import BinaryIO, Optional, Union

try:
    import fcntl
except ImportError:     # not POSIX: no append flag to look at
    fcntl = None

from .compressor import StateSMixCompressor
from .frames import FrameCompressor
from .options import byte_view, check_memory_limit, check_threads
from .presets import RECORD_MEMORY_MIN
from .reader import StreamReader

__all__ = ["StateSMixFile", "open"]

_MODE_CLOSED = 0
_MODE_READ = 1
_MODE_WRITE = 2

# Decoding costs about a fifth of a millisecond per byte: the read buffer is
# small, so that read(100), readline() or peek() decode little beyond what
# they return (larger reads go to the stream reader directly).
_READ_BUFFER = 1024


def _rewritable_position(fp):
    """Where the next write to `fp` lands, if the writer can go back there
    and write again (a seekable file, not in append mode: a write there
    would go to the end); None otherwise."""
    try:
        if not fp.seekable() or "a" in str(getattr(fp, "mode", "")):
            return None
        if fcntl is not None and hasattr(fp, "fileno"):
            try:
                if fcntl.fcntl(fp.fileno(), fcntl.F_GETFL) & os.O_APPEND:
                    return None
            except (OSError, ValueError):
                pass            # no descriptor (BytesIO and the like)
        return fp.tell()
    except (AttributeError, OSError, ValueError):
        return None


PathOrFile = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]", BinaryIO]


class StateSMixFile(io.BufferedIOBase):
    """A file object giving transparent access to a .ssx compressed file.

    `filename` is a path (str, bytes or os.PathLike) or an existing binary
    file object to read from or write to (it is not closed by close()).

    `mode` is "r"/"rb" (read), "w"/"wb" (write, truncating), "x"/"xb"
    (exclusive creation) or "a"/"ab" (append a new stream).

    `level`, `preset`, `block_size`, `vocabulary` and `content_size` (the
    number of bytes that will be written, to record in the header; see
    StateSMixCompressor) choose the compression, in write modes only.  With
    the same settings and the size the file holds what compress() returns
    (from 64 KiB on, compress()'s header records the model's memory: the
    file goes back to write it, where it can seek and is not in append mode).
    `frame_size` (with `workers`, `executor`, `in_flight`: frames.FrameCompressor)
    writes independent frames and an index instead (every frame records its
    own size; `content_size` then cuts the frames evenly).  `threads` and
    `memory_limit` (bytes; see StateSMixCompressor and
    StateSMixDecompressor) apply to both modes.  Output never depends on
    `threads` or the executor.
    """

    def __init__(self, filename: Optional[PathOrFile] = None, mode: str = "r", *,
                 level: Optional[int] = None, preset: Optional[str] = None,
                 threads: Optional[int] = None, block_size: Optional[int] = None,
                 vocabulary: Optional[int] = None, content_size: Optional[int] = None,
                 memory_limit: Optional[int] = None, frame_size: Optional[int] = None,
                 workers: Optional[int] = None, executor: Optional[cf.Executor] = None,
                 in_flight: Optional[int] = None) -> None:
        self._fp = None
        self._closefp = False
        self._mode = _MODE_CLOSED
        self._buffer = None
        self._comp = None
        self._lock = threading.RLock()   # writes from several threads stay whole and in order

        if mode in ("r", "rb"):
            if any(v is not None for v in (level, preset, block_size, vocabulary,
                                           content_size, frame_size, workers, executor,
                                           in_flight)):
                raise ValueError("level, preset, block_size, vocabulary, content_size, "
                                 "frame_size, workers, executor and in_flight are only "
                                 "valid when writing")
            threads = check_threads(threads)
            memory_limit = check_memory_limit(memory_limit)
            mode_code = _MODE_READ
        elif mode in ("w", "wb", "x", "xb", "a", "ab"):
            # every argument is checked before the file is touched
            if all(v is None for v in (frame_size, workers, executor, in_flight)):
                comp = StateSMixCompressor(level, preset=preset, threads=threads,
                                           block_size=block_size, vocabulary=vocabulary,
                                           content_size=content_size,
                                           memory_limit=memory_limit)
            else:
                comp = FrameCompressor(level, preset=preset, threads=threads,
                                       workers=workers, block_size=block_size,
                                       vocabulary=vocabulary,
                                       memory_limit=memory_limit, frame_size=frame_size,
                                       executor=executor, in_flight=in_flight,
                                       content_size=content_size)
            mode_code = _MODE_WRITE
        else:
            raise ValueError("invalid mode: %r" % (mode,))

        if isinstance(filename, (str, bytes, os.PathLike)):
            self._fp = builtins.open(filename, mode[0] + "b")
            self._closefp = True
        elif hasattr(filename, "read") or hasattr(filename, "write"):
            self._fp = filename
        else:
            raise TypeError("filename must be a str, bytes, file or PathLike object")

        if mode_code == _MODE_READ:
            raw = StreamReader(self._fp, threads=threads, memory_limit=memory_limit)
            self._buffer = io.BufferedReader(raw, _READ_BUFFER)
        else:
            self._comp = comp
            self._pos = 0
            self._failed = False   # a write failed: the stream cannot be finished
            # compress()'s bytes: from RECORD_MEMORY_MIN bytes on, the header
            # records the model's memory, written over it at the end
            self._header_at = None
            if (isinstance(comp, StateSMixCompressor) and content_size is not None
                    and content_size >= RECORD_MEMORY_MIN):
                self._header_at = _rewritable_position(self._fp)
                if self._header_at is not None:
                    comp.reserve_memory()
        self._mode = mode_code

    # ------------------------------------------------------------- status

    def close(self) -> None:
        """Finish the stream (write mode) and close the file.

        The underlying file is closed only when this object opened it.
        Calling close() more than once is allowed.
        """
        with self._lock:
            self._close()

    def _close(self):
        if self._mode == _MODE_CLOSED:
            return
        try:
            if self._mode == _MODE_READ:
                self._buffer.close()
                self._buffer = None
            elif not self._failed:
                # after a failed write the compressor has consumed data that
                # never reached the file: no end marker is written, so the
                # file holds a truncated stream that every decoder rejects
                self._fp.write(self._comp.flush())
                if self._header_at is not None:
                    self._write_header()
        finally:
            if isinstance(self._comp, FrameCompressor):
                self._comp.close()          # its workers end, whatever happened
            try:
                if self._closefp:
                    self._fp.close()
            finally:
                self._fp = None
                self._closefp = False
                self._comp = None
                self._mode = _MODE_CLOSED

    def _write_header(self):
        """The header again, now with the model's memory: same length, same
        fields but that one.  Where the file refuses to go back the stream
        keeps its reserved field (0: not recorded), which every reader takes."""
        try:
            end = self._fp.tell()
            self._fp.seek(self._header_at)
        except (OSError, ValueError):
            return
        self._fp.write(self._comp.header())
        self._fp.seek(end)

    @property
    def closed(self) -> bool:
        return self._mode == _MODE_CLOSED

    @property
    def name(self) -> str:
        self._check_not_closed()
        return self._fp.name

    @property
    def mode(self) -> str:
        return "wb" if self._mode == _MODE_WRITE else "rb"

    def fileno(self) -> int:
        self._check_not_closed()
        return self._fp.fileno()

    def seekable(self) -> bool:
        return self.readable() and self._buffer.seekable()

    def readable(self) -> bool:
        self._check_not_closed()
        return self._mode == _MODE_READ

    def writable(self) -> bool:
        self._check_not_closed()
        return self._mode == _MODE_WRITE

    def _check_not_closed(self):
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def _check_can_read(self):
        if not self.readable():
            raise io.UnsupportedOperation("File not open for reading")

    def _check_can_write(self):
        if not self.writable():
            raise io.UnsupportedOperation("File not open for writing")

    # ------------------------------------------------------------- reading

    def read(self, size: Optional[int] = -1) -> bytes:
        """Read up to `size` uncompressed bytes (all that is left if size is
        negative or None); fewer only at the end of the file."""
        self._check_can_read()
        return self._buffer.read(size)

    def read1(self, size: int = -1) -> bytes:
        """Read up to `size` bytes with at most one read of the underlying
        stream reader; b"" only at the end of the file."""
        self._check_can_read()
        if size < 0:
            size = io.DEFAULT_BUFFER_SIZE
        return self._buffer.read1(size)

    def readinto(self, b) -> int:
        self._check_can_read()
        return self._buffer.readinto(b)

    def readinto1(self, b) -> int:
        self._check_can_read()
        return self._buffer.readinto1(b)

    def peek(self, size: int = -1) -> bytes:
        """The buffered bytes ahead, without advancing (at least one byte
        unless at the end of the file; maybe more or fewer than `size`)."""
        self._check_can_read()
        # io.BufferedReader.peek() ignores the size as well
        return self._buffer.peek(size)

    def readline(self, size: int = -1) -> bytes:
        """Read up to and including the next b"\\n" (at most `size` bytes)."""
        self._check_can_read()
        return self._buffer.readline(operator.index(size))

    def readlines(self, size: int = -1) -> list:
        """The lines left (whole lines, about `size` bytes of them if it is
        not negative)."""
        self._check_can_read()
        return self._buffer.readlines(operator.index(size))

    # ------------------------------------------------------------- seeking

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to an uncompressed position (read mode; see the module doc:
        backward seeks decode again from the start)."""
        self._check_can_read()
        if not self.seekable():
            raise io.UnsupportedOperation("the underlying file is not seekable")
        return self._buffer.seek(offset, whence)

    def tell(self) -> int:
        """The current uncompressed position (bytes written in write mode)."""
        self._check_not_closed()
        return self._buffer.tell() if self._mode == _MODE_READ else self._pos

    # ------------------------------------------------------------- writing

    def write(self, data) -> int:
        """Compress `data` (any bytes-like object); returns its length in bytes.

        Compressed output is written to the file as soon as the compressor
        produces it.  If that fails (e.g. OSError: no space left), the error
        propagates, later writes raise OSError and close() only closes: the
        stream is left unfinished, so it never decodes as if it were complete."""
        with self._lock:
            self._check_can_write()
            if self._failed:
                raise OSError("an earlier write failed; the compressed stream is incomplete")
            with byte_view(data) as view:         # a TypeError here changes nothing
                try:
                    out = self._comp.compress(view)
                    if out:
                        self._fp.write(out)
                except BaseException:
                    self._failed = True
                    raise
                self._pos += view.nbytes
                return view.nbytes

    def flush(self) -> None:
        """Flush the underlying file (the stream itself is finished by
        close()); nothing to do when closed, as LZMAFile."""
        if self._mode == _MODE_WRITE and hasattr(self._fp, "flush"):
            self._fp.flush()


def open(filename: PathOrFile, mode: str = "rb", *, level: Optional[int] = None,
         preset: Optional[str] = None, threads: Optional[int] = None,
         encoding: Optional[str] = None, errors: Optional[str] = None,
         newline: Optional[str] = None, block_size: Optional[int] = None,
         vocabulary: Optional[int] = None, content_size: Optional[int] = None,
         memory_limit: Optional[int] = None, frame_size: Optional[int] = None,
         workers: Optional[int] = None, executor: Optional[cf.Executor] = None,
         in_flight: Optional[int] = None) -> Union[StateSMixFile, io.TextIOWrapper]:
    """Open a .ssx file in binary or text mode, like lzma.open().

    `mode` is one of "r", "rb", "w", "wb", "x", "xb", "a", "ab" (binary) or
    "rt", "wt", "xt", "at" (text, through io.TextIOWrapper with `encoding`,
    `errors` and `newline`).  `filename` is a path or a file object; the
    other arguments are StateSMixFile's.
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
    f = StateSMixFile(filename, mode.replace("t", ""), level=level, preset=preset,
                      threads=threads, block_size=block_size, vocabulary=vocabulary,
                      content_size=content_size, memory_limit=memory_limit,
                      frame_size=frame_size, workers=workers, executor=executor,
                      in_flight=in_flight)
    if "t" in mode:
        if hasattr(io, "text_encoding"):          # Python >= 3.10
            encoding = io.text_encoding(encoding)
        return io.TextIOWrapper(f, encoding, errors, newline)
    return f
