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


def check_threads(threads, name="threads"):
    """None (the default), 0 (all cores) or a positive number of threads, or
    of worker processes (threads.for_model and for_workers cap it at the
    cores)."""
    if threads is None:
        return None
    threads = _integer(threads, name)
    if threads < 0:
        raise ValueError("%s must be >= 0 (0: all cores), not %d" % (name, threads))
    return threads


def check_memory_limit(limit):
    """None or a positive number of bytes."""
    if limit is None:
        return None
    limit = _integer(limit, "memory_limit")
    if limit <= 0:
        raise ValueError("memory_limit must be a positive number of bytes, not %d" % limit)
    return limit


def _between(value, name, lo, hi):
    value = _integer(value, name)
    if not lo <= value <= hi:
        raise ValueError("%s must be between %d and %d, not %d" % (name, lo, hi, value))
    return value


def check_block_size(block_size):
    if block_size is None:
        return ct.DEFAULT_BLOCK_SIZE
    return _between(block_size, "block_size", ct.MIN_BLOCK_SIZE, ct.MAX_BLOCK_SIZE)


def check_frame_size(frame_size):
    """None (one stream, no frames) or the largest frame in bytes."""
    if frame_size is None:
        return None
    return _between(frame_size, "frame_size", ct.MIN_FRAME_SIZE, ct.MAX_FRAME_SIZE)


def check_in_flight(in_flight):
    """None (the default) or a positive number of frames."""
    if in_flight is None:
        return None
    in_flight = _integer(in_flight, "in_flight")
    if in_flight < 1:
        raise ValueError("in_flight must be at least 1, not %d" % in_flight)
    return in_flight


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
