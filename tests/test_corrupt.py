"""Corrupt, truncated and hostile input: every failure is a StateSMixError,
raised promptly, and nothing wrong is ever returned as if it were valid."""
import sys
import faulthandler
import io
import os
import random
import resource
import struct
import time
import tracemalloc

import pytest

import statesmix
import statesmix.presets
import statesmix.tokenizer
from statesmix import StateSMixDecompressor, StateSMixError, StateSMixFile
from statesmix import container as ct
from statesmix.core import xxh64

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from textgen import make_text  # noqa: E402
from v1format import v1_stream  # noqa: E402


# Two blocks (block size 1024) with the fast count preset: cheap enough to
# try every truncation and hundreds of mutations.
COUNT_DATA = make_text(1500, 1) + bytes([0, 255, 128, 10])
COUNT_STREAM = statesmix.compress(COUNT_DATA, preset="count", block_size=1024)
COUNT_SIZED = COUNT_STREAM               # compress() records the size in the header
# the same without it (as a stream of unknown length): the total in the trailer
_c = statesmix.StateSMixCompressor(preset="count", block_size=1024)
COUNT_UNSIZED = _c.compress(COUNT_DATA) + _c.flush()
# The default preset, one small block: the same container, the default model.
DEFAULT_DATA = make_text(240, 2)
DEFAULT_STREAM = statesmix.compress(DEFAULT_DATA, threads=1)


def outcome(stream, expected, threads=1):
    """'error' or 'same'; anything else (wrong data, another exception) fails."""
    try:
        out = statesmix.decompress(stream, threads=threads)
    except StateSMixError:
        return "error"
    assert out == expected, "corrupt input decoded to different data without an error"
    return "same"


@pytest.fixture
def watchdog():
    """Dump the stacks and exit if a test hangs."""
    faulthandler.dump_traceback_later(240, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def test_streams_are_valid():
    assert statesmix.decompress(COUNT_STREAM) == COUNT_DATA
    assert statesmix.decompress(DEFAULT_STREAM) == DEFAULT_DATA
    header, pos = ct.parse_header(COUNT_STREAM, 0)
    nblocks = 0
    while True:
        block, pos = ct.parse_block_header(COUNT_STREAM, pos, header)
        if block == ct.END:
            break
        nblocks += 1
        pos += block.size
    assert nblocks == 2


@pytest.mark.parametrize("which", ["count", "default"])
def test_every_truncation(which, watchdog):
    stream, data = ((COUNT_STREAM, COUNT_DATA) if which == "count"
                    else (DEFAULT_STREAM, DEFAULT_DATA))
    for i in range(len(stream)):
        with pytest.raises(StateSMixError):
            statesmix.decompress(stream[:i], threads=1)


def test_truncation_incremental(watchdog):
    """Fed to a StateSMixDecompressor, a truncated stream never reaches eof and
    yields at most a prefix of the data (decoded, checksummed-later blocks)."""
    for i in range(0, len(COUNT_STREAM), 3):
        d = StateSMixDecompressor(threads=1)
        try:
            out = d.decompress(COUNT_STREAM[:i])
        except StateSMixError:
            continue
        assert not d.eof
        assert d.needs_input
        assert COUNT_DATA.startswith(out)


def _mutations(stream, n, seed):
    rng = random.Random(seed)
    for k in range(n):
        b = bytearray(stream)
        p = rng.randrange(len(b))
        if k % 2:
            b[p] ^= 1 << rng.randrange(8)
        else:
            b[p] = (b[p] + rng.randrange(1, 256)) & 0xFF    # always a change
        yield p, bytes(b)


def test_random_mutations_count(watchdog):
    results = {"error": 0, "same": 0}
    for _, mutated in _mutations(COUNT_STREAM, 700, seed=3):
        results[outcome(mutated, COUNT_DATA)] += 1
    assert results["error"] > 600


def test_random_mutations_default(watchdog):
    results = {"error": 0, "same": 0}
    for _, mutated in _mutations(DEFAULT_STREAM, 150, seed=4):
        results[outcome(mutated, DEFAULT_DATA)] += 1
    assert results["error"] > 100


def test_every_header_bit_flip():
    """The stream header is covered by its own checksum: any flip is caught."""
    _, hlen = ct.parse_header(COUNT_STREAM, 0)
    for p in range(hlen):
        for bit in range(8):
            b = bytearray(COUNT_STREAM)
            b[p] ^= 1 << bit
            with pytest.raises(StateSMixError):
                statesmix.decompress(bytes(b))


def test_mutations_through_file_and_incremental():
    for p, mutated in _mutations(COUNT_STREAM, 40, seed=5):
        try:
            with StateSMixFile(io.BytesIO(mutated)) as f:
                out = f.read()
        except StateSMixError:
            pass
        else:
            assert out == COUNT_DATA
        d = StateSMixDecompressor(threads=1)
        try:
            out = b"".join(d.decompress(mutated[i:i + 50])
                           for i in range(0, len(mutated), 50))
        except StateSMixError:
            continue
        # Blocks are released before the trailer is checked (as lzma does),
        # but a stream that reaches eof has passed its checksum.
        if d.eof:
            assert out == COUNT_DATA and d.unused_data == b""


def test_garbage_and_empty():
    with pytest.raises(StateSMixError):
        statesmix.decompress(b"")
    rng = random.Random(6)
    for _ in range(300):
        garbage = rng.randbytes(rng.randrange(1, 400))
        with pytest.raises(StateSMixError):
            statesmix.decompress(garbage)
        with pytest.raises(StateSMixError):          # right magic, then garbage
            statesmix.decompress(ct.MAGIC + garbage)
    for n in range(1, len(ct.MAGIC) + 1):
        with pytest.raises(StateSMixError):
            statesmix.decompress(ct.MAGIC[:n])


def test_valid_header_then_garbage():
    _, hlen = ct.parse_header(COUNT_STREAM, 0)
    header = COUNT_STREAM[:hlen]
    rng = random.Random(7)
    for _ in range(300):
        tail = rng.randbytes(rng.randrange(0, 300))
        try:
            out = statesmix.decompress(header + tail)
        except StateSMixError:
            continue
        pytest.fail("garbage after a header decoded to %r" % out[:40])


def test_trailing_garbage():
    """After a complete stream, what cannot start a stream is ignored (as
    lzma and bz2 do); what starts with the magic number is a stream."""
    for junk in (b"\0", b"x", b"garbage after the stream", b"\0" * 8):
        assert statesmix.decompress(COUNT_STREAM + junk) == COUNT_DATA
    for junk in (ct.MAGIC, ct.MAGIC[:2], COUNT_STREAM[:50]):
        with pytest.raises(statesmix.StateSMixEOFError):
            statesmix.decompress(COUNT_STREAM + junk)
    with pytest.raises(StateSMixError, match="bad magic"):
        statesmix.decompress(b"x" + COUNT_STREAM)
    # a complete second stream is fine
    assert statesmix.decompress(COUNT_STREAM * 2) == COUNT_DATA * 2


def test_wrong_checksum_and_total():
    end = len(COUNT_STREAM)
    for p in range(end - 8, end):                      # the xxHash64
        b = bytearray(COUNT_STREAM)
        b[p] ^= 0x10
        with pytest.raises(StateSMixError, match="checksum"):
            statesmix.decompress(bytes(b))
    # without a content size in the header the trailer has the total
    stream = COUNT_UNSIZED
    head = ct.parse_header(stream, 0)[0]
    tail = ct.pack_trailer(head, len(COUNT_DATA), xxh64(COUNT_DATA))
    assert stream.endswith(tail)
    for total in (len(COUNT_DATA) - 1, len(COUNT_DATA) + 1, 0):
        bad = stream[:-len(tail)] + ct.pack_trailer(head, total, xxh64(COUNT_DATA))
        with pytest.raises(StateSMixError, match="size"):
            statesmix.decompress(bad)


# ---------------------------------------------------------------- hostile headers

def _head(**changes):
    """The header of COUNT_STREAM with some fields changed (a `config` dict
    updates the preset's configuration and is written into the header)."""
    header, _ = ct.parse_header(COUNT_STREAM, 0)
    fields = dict(preset=header.preset, level=header.level, vocab_id=header.vocab_id,
                  vocab_hash=header.vocab_hash, block_size=header.block_size,
                  config=None, content_size=None)
    if "config" in changes:
        vsize = statesmix.tokenizer.get_vocabulary(header.vocab_id).size
        fields["config"] = dict(statesmix.presets.model_config(header.preset, vsize),
                                **changes.pop("config"))
    fields.update(changes)
    return ct.Header(**fields)


def _header(**changes):
    return _head(**changes).pack()


def _fix_check(b):
    """A version-2 header (alone) with its check recomputed."""
    struct.pack_into("<H", b, len(b) - 2, xxh64(bytes(b[:-2])) & 0xFFFF)
    return bytes(b)


def _fails_at_once(data):
    """Both decoders reject `data` quickly and without a big allocation."""
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(StateSMixError):
            statesmix.decompress(data)
        d = StateSMixDecompressor()
        with pytest.raises(StateSMixError):
            d.decompress(data)          # raises now, does not wait for more input
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - t0 < 5
    assert peak < 32 << 20
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert rss1 - rss0 < 256 * 1024      # KiB on Linux: no 256 MiB jump


def test_absurd_block_sizes():
    head = _header()
    assert statesmix.decompress(head + ct.pack_trailer(_head(), 0, xxh64(b""))) == b""
    # a block claiming 2^40 bytes (more than the stream's block size)
    _fails_at_once(head + ct.pack_varint(1 << 40) + ct.pack_varint(1) + ct.pack_varint(64))
    # a block body of 2^60 bytes
    _fails_at_once(head + ct.pack_varint(100) + ct.pack_varint(10) + ct.pack_varint(1 << 60))
    # more tokens than bytes, zero tokens
    _fails_at_once(head + ct.pack_varint(100) + ct.pack_varint(1 << 40) + ct.pack_varint(64))
    _fails_at_once(head + ct.pack_varint(100) + ct.pack_varint(0) + ct.pack_varint(64))
    # body shorter than the minimum
    _fails_at_once(head + ct.pack_varint(100) + ct.pack_varint(10) + ct.pack_varint(2))
    # a varint that never ends, a non-canonical one
    _fails_at_once(head + b"\xff" * 12)
    _fails_at_once(head + b"\x80\x00" + b"\0" * 20)


def test_absurd_header_fields():
    # block size field out of range (the largest u32, and below the minimum)
    _fails_at_once(_header(block_size=(1 << 32) - 1))
    _fails_at_once(_header(block_size=ct.MIN_BLOCK_SIZE - 1))
    # a vocabulary of 2^31 tokens, of 2^32 - 1, of 0
    for size in (1 << 31, (1 << 32) - 1, 0):
        _fails_at_once(_header(config={"vocab_size": size}))
    # model configuration that does not fit the C structure or is invalid
    _fails_at_once(_header(config={"components": (1 << 32) - 1}))
    _fails_at_once(_header(config={"components": 0}))
    _fails_at_once(_header(config={"chunk": 1 << 31}))
    _fails_at_once(_header(config={"count_scale": float("nan")}))
    _fails_at_once(_header(config={"train_steps": 1 << 31}))
    # unknown vocabulary, wrong vocabulary hash, unknown preset, bad level
    _fails_at_once(_header(vocab_id=0xFFFF))
    _fails_at_once(_header(vocab_hash=b"\0" * 4))
    _fails_at_once(_header(preset=200))
    b = bytearray(_header())
    b[5] |= 0xA0                                   # level 10
    _fails_at_once(_fix_check(b))
    # unknown version / flags / configuration length (check fixed up)
    base = bytearray(_header(config={}))
    n = len(ct.config_bytes(_head(config={}).config))
    cfg_len_at = len(base) - 2 - n - 1            # before the configuration and the check
    assert base[cfg_len_at] == n
    for offset, value in ((4, 3), (5, 0x08), (cfg_len_at, 99), (cfg_len_at, 30),
                          (cfg_len_at, n + 4)):
        b = bytearray(base)
        b[offset] = value
        _fails_at_once(_fix_check(b))


def test_absurd_content_size():
    """A header announcing 2^60 bytes allocates nothing for it and fails when
    the stream ends with fewer."""
    _, hlen = ct.parse_header(COUNT_SIZED, 0)
    stream = _header(content_size=1 << 60) + COUNT_SIZED[hlen:]
    _fails_at_once(stream)


def test_absurd_block_body():
    """Hand-made bodies: a new-token count of 2^31, a huge Rice length, a Rice
    parameter over 30, an all-ones Rice code."""
    head = _header()

    def block(body, raw_len=50, n_tokens=10):
        return head + ct.pack_block(raw_len, n_tokens, body)

    v = ct.pack_varint
    _fails_at_once(block(v(1 << 31) + b"\x00" + v(0) + b"\0" * 16))
    _fails_at_once(block(v(3) + b"\x00" + v(1 << 40) + b"\0" * 16))
    _fails_at_once(block(v(3) + b"\x1f" + v(2) + b"\0" * 16))
    _fails_at_once(block(v(3) + b"\x00" + v(8) + b"\xff" * 24))
    _fails_at_once(block(v(0) + b"\x00" + v(0) + b"\0" * 16))   # no live tokens


def test_every_bit_flip_count(watchdog):
    """All single-bit flips of the two-block stream (the count preset is fast)."""
    results = {"error": 0, "same": 0}
    for p in range(len(COUNT_STREAM)):
        for bit in range(8):
            b = bytearray(COUNT_STREAM)
            b[p] ^= 1 << bit
            results[outcome(bytes(b), COUNT_DATA)] += 1
    # only slack bits (Rice padding, the coder's last bytes) may go unnoticed
    assert results["same"] < len(COUNT_STREAM)


# ---------------------------------------------------------------- 64-bit sizes

def test_content_size_over_4gib_then_garbage():
    """A header announcing 2^33 (or 2^63 - 1) bytes followed by garbage fails
    promptly, allocating nothing of that size, in every reader."""
    rng = random.Random(33)
    for size in (1 << 32, 1 << 33, (1 << 33) + 1, (1 << 63) - 1):
        head = _header(content_size=size)
        assert ct.parse_header(head, 0)[0].content_size == size
        for tail in (b"\xff" * 40, rng.randbytes(64), b"\x00" + b"\xff" * 16):
            _fails_at_once(head + tail)
            with pytest.raises(StateSMixError):
                with StateSMixFile(io.BytesIO(head + tail)) as f:
                    f.read()
        # a correct end marker and trailer for an empty stream: the size
        # disagrees with the recorded content size
        _fails_at_once(head + ct.pack_trailer(_head(), 0, xxh64(b"")))


def test_trailer_total_over_4gib():
    """Totals that differ from the real one by a multiple of 2^32 (what a
    32-bit counter would wrap to) are caught."""
    _, hlen = ct.parse_header(COUNT_SIZED, 0)
    unsized = COUNT_UNSIZED
    head = ct.parse_header(unsized, 0)[0]
    tail = ct.pack_trailer(head, len(COUNT_DATA), xxh64(COUNT_DATA))
    for extra in (1 << 32, 1 << 33, 1 << 62):
        # in the trailer
        _fails_at_once(unsized[:-len(tail)] + ct.pack_trailer(head, len(COUNT_DATA) + extra,
                                                              xxh64(COUNT_DATA)))
        # in the header's content size
        stream = _header(content_size=len(COUNT_DATA) + extra) + COUNT_SIZED[hlen:]
        _fails_at_once(stream)


def test_block_lengths_over_4gib():
    """Block header fields of 2^32 .. 2^63 - 1 (the largest 9-byte varint)
    are refused as soon as they are read, before any body is awaited."""
    head = _header()
    v = ct.pack_varint
    for big in ((1 << 32), (1 << 32) + 100, 1 << 33, (1 << 63) - 1):
        assert ct.parse_varint(v(big), 0) == (big, len(v(big)))
        _fails_at_once(head + v(big) + v(1) + v(64))                 # raw_len
        _fails_at_once(head + v(1000) + v(big) + v(64))              # n_tokens
        _fails_at_once(head + v(1000) + v(500) + v(big))             # body_len
        _fails_at_once(head + v(big))          # incomplete, but already wrong
    # 2^63 needs ten bytes: refused as too long
    with pytest.raises(StateSMixError):
        ct.parse_varint(v(1 << 63), 0)
    # the incremental decoder rejects a huge body length without waiting for it
    d = StateSMixDecompressor()
    with pytest.raises(StateSMixError):
        d.decompress(head + v(1000) + v(500) + v((1 << 40) + 7))


def test_memory_limit_refuses_hostile_config():
    """A header asking for 1 TiB of n-gram tables and the largest vocabulary
    and block size is refused under a memory limit before a model exists."""
    head = _header(config={"components": 5, "ngram_mem_mb": 1 << 20})
    d = StateSMixDecompressor(memory_limit=1 << 30)
    with pytest.raises(StateSMixError, match="memory limit"):
        d.decompress(head)
    with pytest.raises(StateSMixError, match="memory limit"):
        statesmix.decompress(_header(block_size=ct.MAX_BLOCK_SIZE) + b"\0" * 17,
                             memory_limit=64 << 20)


@pytest.mark.parametrize("steps", [0, 9])
def test_bad_train_steps(steps):
    """With the SSM the training steps must be 1..8."""
    data = b"abc abc abd " * 40
    good = statesmix.compress(data, preset="ssm", block_size=1024)
    hlen = ct.parse_header(good, 0)[1]
    bad = _header(preset=statesmix.presets.BY_NAME["ssm"],
                  config={"train_steps": steps}) + good[hlen:]
    with pytest.raises(StateSMixError):
        statesmix.decompress(bad)


def test_version_1_streams_decode():
    """Version-1 streams (full configuration in the header, u64 sizes)
    decode, including those written before train_steps existed: a 32-byte
    configuration, decoded with the 2 steps their SSM took."""
    data = b"the cat sat on the mat; " * 60
    new = statesmix.compress(data, preset="paper", block_size=1024)
    for n_fields in (9, 8):
        old = v1_stream(new, n_fields)
        header, hlen = ct.parse_header(old, 0)
        assert header.version == 1 and header.config["train_steps"] == 2
        assert statesmix.decompress(old) == data
        for p in range(hlen):                         # the header's own check
            b = bytearray(old)
            b[p] ^= 0x04
            with pytest.raises(StateSMixError):
                statesmix.decompress(bytes(b))
    # a version-1 stream of plus (one step) cut to 8 fields takes 2: wrong model
    # (past the warm-up's ten chunks)
    data = make_text(8000, 3)
    plus = statesmix.compress(data, preset="plus", block_size=1024)
    assert statesmix.decompress(v1_stream(plus)) == data
    with pytest.raises(StateSMixError):
        statesmix.decompress(v1_stream(plus, 8))
