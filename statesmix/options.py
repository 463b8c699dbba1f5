"""Checks of the arguments the public API shares, before anything is done
with them: a wrong type raises TypeError, a wrong value ValueError (as the
stdlib compression modules do)."""
import array
import mmap
import operator
from typing import Union

from . import container as ct

# what the API takes as bytes: any object with the buffer protocol
Buffer = Union[bytes, bytearray, memoryview, array.array, mmap.mmap]


def _integer(value, name):
    if isinstance(value, bool):
        raise TypeError("%s must be an integer, not bool" % name)
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError("%s must be an integer or None, not %s"
                        % (name, type(value).__name__)) from None


def check_threads(threads):
    """None or 0 (all cores) or a positive number of threads."""
    if threads is None:
        return None
    threads = _integer(threads, "threads")
    if threads < 0:
        raise ValueError("threads must be >= 0 (0: all cores), not %d" % threads)
    return threads


def check_memory_limit(limit):
    """None or a positive number of bytes."""
    if limit is None:
        return None
    limit = _integer(limit, "memory_limit")
    if limit <= 0:
        raise ValueError("memory_limit must be a positive number of bytes, not %d" % limit)
    return limit


def check_block_size(block_size):
    if block_size is None:
        return ct.DEFAULT_BLOCK_SIZE
    block_size = _integer(block_size, "block_size")
    if not ct.MIN_BLOCK_SIZE <= block_size <= ct.MAX_BLOCK_SIZE:
        raise ValueError("block_size must be between %d and %d, not %d"
                         % (ct.MIN_BLOCK_SIZE, ct.MAX_BLOCK_SIZE, block_size))
    return block_size


def check_content_size(size):
    """None (unknown) or the number of bytes that will be compressed."""
    if size is None:
        return None
    size = _integer(size, "content_size")
    if not 0 <= size < 1 << 63:
        raise ValueError("content_size must be between 0 and 2**63 - 1, not %d" % size)
    return size


def check_max_length(max_length):
    """An integer; negative means no limit."""
    return _integer(max_length, "max_length")


def byte_view(data):
    """A flat byte memoryview of a bytes-like object; TypeError for other
    objects, BufferError for a non-contiguous buffer (as lzma)."""
    view = memoryview(data)
    if not view.c_contiguous:
        view.release()
        raise BufferError("a contiguous buffer is required")
    return view.cast("B") if view.ndim != 1 or view.format != "B" else view
