"""One-shot compression and decompression, as lzma.compress/decompress."""
import io
from typing import Optional

from .compressor import StateSMixCompressor
from .decompressor import StateSMixDecompressor
from .options import Buffer, byte_view, check_memory_limit, check_threads
from .reader import StreamReader

__all__ = ["StateSMixCompressor", "StateSMixDecompressor", "compress", "decompress"]


def compress(data: Buffer, *, level: Optional[int] = None, preset: Optional[str] = None,
             threads: Optional[int] = None, block_size: Optional[int] = None,
             vocabulary: Optional[int] = None, memory_limit: Optional[int] = None) -> bytes:
    """Compress bytes-like `data` into one .ssx stream.  Its size is known
    here: it goes into the header (the model sizes its tables from it), so a
    StateSMixCompressor or StateSMixFile gives the same bytes when told the
    size (content_size=)."""
    with byte_view(data) as view:
        c = StateSMixCompressor(level, preset=preset, threads=threads, block_size=block_size,
                                vocabulary=vocabulary, content_size=view.nbytes,
                                memory_limit=memory_limit)
        return c.compress(view) + c.flush()


def decompress(data: Buffer, *, threads: Optional[int] = None,
               memory_limit: Optional[int] = None) -> bytes:
    """Decompress one or more concatenated .ssx streams (the rules of
    statesmix.reader: a truncated or empty input raises StateSMixEOFError,
    trailing junk after a complete stream is ignored).  `memory_limit`
    applies to each stream on its own (see StateSMixDecompressor)."""
    with byte_view(data) as view:
        fp = io.BytesIO(view)
    reader = StreamReader(fp, threads=check_threads(threads),
                          memory_limit=check_memory_limit(memory_limit))
    return reader.readall()
