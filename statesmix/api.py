"""One-shot compression and decompression, as lzma.compress/decompress."""
import concurrent.futures as cf
import io
from typing import Optional

from .compressor import StateSMixCompressor, compress_stream
from .decompressor import StateSMixDecompressor
from .frames import FrameCompressor, open_reader
from .options import Buffer, byte_view

__all__ = ["StateSMixCompressor", "StateSMixDecompressor", "compress", "decompress"]


def compress(data: Buffer, *, level: Optional[int] = None, preset: Optional[str] = None,
             threads: Optional[int] = None, block_size: Optional[int] = None,
             vocabulary: Optional[int] = None, memory_limit: Optional[int] = None,
             frame_size: Optional[int] = None, workers: Optional[int] = None,
             executor: Optional[cf.Executor] = None, in_flight: Optional[int] = None) -> bytes:
    """Compress bytes-like `data` into one .ssx stream.  Its size is known
    here: it goes into the header (the model sizes its tables from it), so a
    StateSMixCompressor or StateSMixFile gives the same bytes when told the
    size (content_size=).

    With `frame_size`, into independent frames and an index instead
    (frames.FrameCompressor: `workers` processes or an `executor` compress
    them, `in_flight` at a time)."""
    with byte_view(data) as view:
        if all(v is None for v in (frame_size, workers, executor, in_flight)):
            return compress_stream(view, level=level, preset=preset, threads=threads,
                                   block_size=block_size, vocabulary=vocabulary,
                                   memory_limit=memory_limit)[0]
        with FrameCompressor(level, preset=preset, threads=threads, workers=workers,
                             block_size=block_size, vocabulary=vocabulary,
                             memory_limit=memory_limit, frame_size=frame_size,
                             executor=executor, in_flight=in_flight,
                             content_size=len(view)) as c:
            return c.compress(view) + c.flush()


def decompress(data: Buffer, *, threads: Optional[int] = None,
               memory_limit: Optional[int] = None, workers: Optional[int] = None,
               executor: Optional[cf.Executor] = None,
               in_flight: Optional[int] = None) -> bytes:
    """Decompress one or more concatenated .ssx streams (the rules of
    statesmix.reader: a truncated or empty input raises StateSMixEOFError,
    trailing junk after a complete stream is ignored).  `memory_limit`
    applies to each stream on its own (see StateSMixDecompressor).  The
    frames (streams) of framed data are decoded by `workers` processes or
    by an `executor` when given (frames.open_reader)."""
    with byte_view(data) as view:
        fp = io.BytesIO(view)
    with open_reader(fp, threads=threads, workers=workers, memory_limit=memory_limit,
                     executor=executor, in_flight=in_flight) as reader:
        return reader.readall()
