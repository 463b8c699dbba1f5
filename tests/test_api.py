"""Round trips and lzma-like behaviour of the Python API (compress/decompress,
the incremental objects and statesmix.open)."""
import array
import builtins
import dataclasses
import io
import os
import pathlib
import pickle
import random
import subprocess
import sys
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import statesmix
import statesmix.presets
from statesmix import container as ct
from statesmix import core
from statesmix.presets import RECORD_MEMORY_MIN
from statesmix.tokenizer import get_vocabulary
from statesmix import (StateSMixCompressor, StateSMixDecompressor,
                       StateSMixError, StateSMixFile)

REPO = pathlib.Path(__file__).resolve().parent.parent

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from textgen import make_text  # noqa: E402


def blocks_of(stream):
    """The container.Block of every block of a one-stream buffer."""
    header, pos = ct.parse_header(stream, 0)
    out = []
    while True:
        block, pos = ct.parse_block_header(stream, pos, header)
        if block == ct.END:
            return out
        out.append(block)
        pos += block.size


RANDOM_4K = random.Random(42).randbytes(4096)
CASES = {
    "empty": b"",
    "one-byte": b"x",
    "one-nul": b"\0",
    "all-bytes": bytes(range(256)),
    "all-bytes-x4-shuffled": bytes(random.Random(1).sample(list(range(256)) * 4, 1024)),
    "random-4k": RANDOM_4K,
    "invalid-utf8": b"ok \xff\xfe bad \xc3( \xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 end\x80" * 20,
    "nuls": b"\0" * 3000 + b"a\0b\0" * 100,
    "text-100": make_text(100, 1),
    "text-3k": make_text(3000, 2),
    "text-10k": make_text(10000, 3),
    "crlf": make_text(2000, 4).replace(b"\n", b"\r\n"),
    "utf8-only": ("Grüße aus 東京 — ünïcödé ☃ " * 80).encode(),
    "repetitive": b"abc" * 3000,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip(name):
    data = CASES[name]
    comp = statesmix.compress(data)
    assert comp[:4] == ct.MAGIC
    assert statesmix.decompress(comp) == data


def test_compresses_text():
    data = CASES["text-10k"]
    assert len(statesmix.compress(data)) < len(data) * 0.7


def test_many_blocks():
    data = make_text(12000, 5)
    comp = statesmix.compress(data, block_size=1024)
    blocks = blocks_of(comp)
    assert len(blocks) >= 11
    assert all(raw <= 1024 for raw, _, _ in blocks)
    assert sum(raw for raw, _, _ in blocks) == len(data)
    assert statesmix.decompress(comp) == data
    # binary data (no newlines) is cut at the limit, also not inside UTF-8
    data = RANDOM_4K[:3000]
    comp = statesmix.compress(data, block_size=1024)
    assert len(blocks_of(comp)) >= 3
    assert statesmix.decompress(comp) == data


def test_block_size_limits():
    with pytest.raises(ValueError):
        statesmix.compress(b"x", block_size=ct.MIN_BLOCK_SIZE - 1)
    with pytest.raises(ValueError):
        statesmix.compress(b"x", block_size=ct.MAX_BLOCK_SIZE + 1)


def test_levels_and_presets():
    data = CASES["text-3k"]
    for level in (1, 6, 9):
        comp = statesmix.compress(data, level=level)
        d = StateSMixDecompressor()
        assert d.decompress(comp) == data
        assert d.header.level == level
    assert statesmix.decompress(statesmix.compress(data, preset="count")) == data
    with pytest.raises(ValueError):
        statesmix.compress(data, level=10)
    with pytest.raises(ValueError):
        statesmix.compress(data, preset="no-such-preset")
    with pytest.raises(TypeError):
        statesmix.compress(data, level=4.5)


@pytest.mark.parametrize("preset", sorted(statesmix.presets.BY_NAME))
def test_every_preset(preset):
    data = CASES["text-3k"][:1500] + CASES["invalid-utf8"][:100]
    comp = statesmix.compress(data, preset=preset, block_size=1024)
    d = StateSMixDecompressor()
    assert d.decompress(comp) == data and d.eof
    assert d.header.preset == statesmix.presets.BY_NAME[preset]
    assert d.header.level == 0


def test_header_and_stats():
    data = CASES["text-3k"]
    comp = statesmix.compress(data)
    d = StateSMixDecompressor()
    assert d.header is None
    assert d.decompress(comp) == data
    h = d.header
    assert h.content_size == len(data)
    assert h.block_size == ct.DEFAULT_BLOCK_SIZE
    st = d.stats()
    for key in ("tokens", "new_tokens", "ideal_bits", "coded_bits", "payload_bytes",
                "vocab_bytes", "live"):
        assert key in st
    assert st["output_bytes"] == len(data)
    assert 0 < st["live"] <= st["tokens"]
    assert st["new_tokens"] == st["live"]
    # the default codes tokens bit by bit, mixed with byte contexts: the
    # code length is its own (and all of it is in the payload, with the
    # new-token list)
    assert 8 * st["payload_bytes"] >= st["coded_bits"] + 8 * st["vocab_bytes"] - 64
    # a multi-symbol model's integer distribution is within 0.1% of its
    # float one (its floor of one count can make it slightly cheaper as
    # well as dearer)
    d = StateSMixDecompressor()
    d.decompress(statesmix.compress(data, preset="plus"))
    pst = d.stats()
    assert abs(pst["coded_bits"] - pst["ideal_bits"]) <= 1e-3 * pst["ideal_bits"]
    assert 8 * pst["payload_bytes"] >= pst["ideal_bits"]
    # the streaming compressor does not know the size (its byte mixer's
    # tables are the unknown size's), so its payload is its own: the
    # decompressor of its stream counts the same
    c = StateSMixCompressor()
    out = c.compress(data) + c.flush()
    cst = c.stats()
    assert cst["input_bytes"] == len(data)
    assert cst["tokens"] == st["tokens"]
    d = StateSMixDecompressor()
    assert d.decompress(out) == data
    assert cst["payload_bytes"] == d.stats()["payload_bytes"]


# ---------------------------------------------------------------- streaming

def pieces(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


PIECES_DATA = make_text(2500, 6) + RANDOM_4K[:300] + make_text(600, 7)
_one_shot = {}


def one_shot(sized):
    """Reference outputs, computed once: a compressor given everything in one
    call (sized: with content_size)."""
    if sized not in _one_shot:
        c = StateSMixCompressor(block_size=1024,
                                content_size=len(PIECES_DATA) if sized else None)
        _one_shot[sized] = c.compress(PIECES_DATA) + c.flush()
    return _one_shot[sized]


@pytest.mark.parametrize("size", [1, 7, 1000, 1023, 1025, 4099])
def test_compressor_pieces_equal_one_shot(size):
    data = PIECES_DATA
    sized = size % 2 == 1          # half the cases announce the size
    c = StateSMixCompressor(block_size=1024, content_size=len(data) if sized else None)
    out = b"".join(c.compress(p) for p in pieces(data, size)) + c.flush()
    assert out == one_shot(sized)
    assert len(blocks_of(out)) >= 3


def test_compressor_emits_progressively():
    data = make_text(8000, 8)
    c = StateSMixCompressor(block_size=1024)
    first = c.compress(data[:3000])
    assert first.startswith(ct.MAGIC)
    assert len(first) > 100      # header and at least one block came out already
    rest = c.compress(data[3000:]) + c.flush()
    assert statesmix.decompress(first + rest) == data


def test_compressor_misuse():
    c = StateSMixCompressor()
    c.compress(b"abc")
    c.flush()
    with pytest.raises(ValueError):
        c.flush()
    with pytest.raises(ValueError):
        c.compress(b"more")
    with pytest.raises(TypeError):
        StateSMixCompressor().compress("text is not bytes")
    c = StateSMixCompressor(content_size=10)
    c.compress(b"12345")
    with pytest.raises(StateSMixError):
        c.flush()
    # nothing compressed: a valid empty stream
    c = StateSMixCompressor()
    assert statesmix.decompress(c.flush()) == b""


def test_decompressor_byte_by_byte():
    data = make_text(3000, 9)
    comp = statesmix.compress(data, block_size=1024)
    d = StateSMixDecompressor()
    out = []
    for i in range(len(comp)):
        assert not d.eof
        assert d.needs_input
        out.append(d.decompress(comp[i:i + 1]))
    assert d.eof
    assert not d.needs_input
    assert d.unused_data == b""
    assert b"".join(out) == data
    with pytest.raises(EOFError):
        d.decompress(b"x")


@pytest.mark.parametrize("size,max_length", [(1, 1), (7, 100), (1000, 333), (3, 4096),
                                             (4096, 1), (50000, 7)])
def test_decompressor_max_length(size, max_length):
    data = make_text(2500, 10)
    comp = statesmix.compress(data, block_size=1024)
    d = StateSMixDecompressor()
    out = []
    pos = 0
    calls = 0
    while not d.eof:
        if d.needs_input:
            assert pos < len(comp), "needs_input with all input consumed"
            chunk = comp[pos:pos + size]
            pos += size
        else:
            chunk = b""
        r = d.decompress(chunk, max_length=max_length)
        assert len(r) <= max_length
        out.append(r)
        calls += 1
        assert calls < 100000
    assert b"".join(out) == data
    assert d.unused_data == b""


def test_decompressor_needs_input_semantics():
    data = make_text(3000, 11)
    comp = statesmix.compress(data)
    d = StateSMixDecompressor()
    assert d.decompress(comp, max_length=0) == b""
    assert not d.needs_input            # unconsumed input is buffered
    first = d.decompress(b"", max_length=100)
    assert first == data[:100]
    assert not d.needs_input and not d.eof   # decoded output still buffered
    rest = d.decompress(b"")
    assert first + rest == data
    assert d.eof and not d.needs_input
    # incomplete input: the decompressor asks for more
    d = StateSMixDecompressor()
    assert d.decompress(comp[:30]) == b""
    assert d.needs_input and not d.eof


def test_concatenated_streams():
    parts = [make_text(1000, 12), b"", RANDOM_4K[:200], b"z"]
    comp = b"".join(statesmix.compress(p) for p in parts)
    assert statesmix.decompress(comp) == b"".join(parts)
    # a stream decompressor stops at the end of its stream
    d = StateSMixDecompressor()
    assert d.decompress(comp) == parts[0]
    assert d.eof
    assert d.unused_data == comp[len(statesmix.compress(parts[0])):]


def test_unused_data():
    comp = statesmix.compress(b"hello world")
    d = StateSMixDecompressor()
    assert d.decompress(comp + b"trailing junk") == b"hello world"
    assert d.eof
    assert d.unused_data == b"trailing junk"
    d = StateSMixDecompressor()
    assert d.decompress(comp[:-3]) == b"hello world"   # blocks come out early
    assert not d.eof and d.unused_data == b""
    assert d.decompress(comp[-3:] + b"!") == b""
    assert d.eof and d.unused_data == b"!"


def test_bytes_like_inputs():
    data = make_text(700, 13)
    comp = statesmix.compress(data)
    for obj in (bytearray(data), memoryview(data), array.array("B", data)):
        assert statesmix.compress(obj) == comp
    ints = array.array("I", range(100))
    assert statesmix.decompress(statesmix.compress(ints)) == ints.tobytes()
    assert statesmix.decompress(statesmix.compress(memoryview(ints))) == ints.tobytes()
    for obj in (bytearray(comp), memoryview(comp), array.array("B", comp)):
        assert statesmix.decompress(obj) == data
        d = StateSMixDecompressor()
        assert d.decompress(obj) == data
    c = StateSMixCompressor()
    out = c.compress(bytearray(data[:300])) + c.compress(memoryview(data)[300:]) + c.flush()
    assert statesmix.decompress(out) == data
    with pytest.raises(TypeError):
        statesmix.compress("str")


# ---------------------------------------------------------------- open()

def test_open_binary_modes(tmp_path):
    path = tmp_path / "f.ssx"
    data = make_text(2000, 14)
    with statesmix.open(path, "wb") as f:
        assert isinstance(f, StateSMixFile)
        assert f.writable() and not f.readable() and not f.seekable()
        assert f.mode == "wb"
        assert f.write(data[:1000]) == 1000
        assert f.write(memoryview(data)[1000:]) == len(data) - 1000
        assert f.tell() == len(data)
        assert f.name == str(path)
        assert isinstance(f.fileno(), int)
    assert f.closed
    f.close()                                  # closing twice is fine
    assert statesmix.decompress(path.read_bytes()) == data
    for mode in ("rb", "r"):
        with statesmix.open(path, mode) as f:
            assert f.readable() and not f.writable()
            assert f.mode == "rb"
            assert f.read() == data
            assert f.read() == b""
    with statesmix.open(str(path)) as f:           # str, default mode
        assert f.read(10) == data[:10]
    with statesmix.open(os.fsencode(path)) as f:   # bytes path
        assert f.read(10) == data[:10]
    with pytest.raises(FileExistsError):
        statesmix.open(path, "xb")
    with pytest.raises(FileExistsError):
        statesmix.open(path, "x")
    with statesmix.open(tmp_path / "new.ssx", "x") as f:
        f.write(b"exclusive")
    assert statesmix.decompress((tmp_path / "new.ssx").read_bytes()) == b"exclusive"
    with statesmix.open(path, "w") as f:            # truncates
        f.write(b"short")
    assert statesmix.decompress(path.read_bytes()) == b"short"


def test_open_append_makes_concatenated_streams(tmp_path):
    path = tmp_path / "log.ssx"
    with statesmix.open(path, "ab") as f:
        f.write(b"first\n")
    with statesmix.open(path, "a") as f:
        f.write(b"second\n")
    with statesmix.open(path, "at", encoding="utf-8") as f:
        f.write("third ☃\n")
    raw = path.read_bytes()
    assert raw.count(ct.MAGIC) == 3
    assert statesmix.decompress(raw) == "first\nsecond\nthird ☃\n".encode()
    with statesmix.open(path, "rt", encoding="utf-8") as f:
        assert f.readlines() == ["first\n", "second\n", "third ☃\n"]


def test_open_text_modes(tmp_path):
    path = tmp_path / "t.ssx"
    text = make_text(4000, 15).decode() + "ünïcödé\r\nend"
    with statesmix.open(path, "wt", encoding="utf-8", newline="") as f:
        assert isinstance(f, io.TextIOWrapper)
        f.write(text)
    with statesmix.open(path, "rt", encoding="utf-8", newline="") as f:
        assert f.read() == text
    with statesmix.open(path, "rt", encoding="utf-8") as f:    # universal newlines
        lines = list(f)
    assert "".join(lines) == text.replace("\r\n", "\n")
    with statesmix.open(tmp_path / "x.ssx", "xt", encoding="latin-1") as f:
        f.write("café")
    assert statesmix.decompress((tmp_path / "x.ssx").read_bytes()) == "café".encode("latin-1")
    with statesmix.open(tmp_path / "e.ssx", "wt", encoding="ascii", errors="replace") as f:
        f.write("naïve")
    assert statesmix.decompress((tmp_path / "e.ssx").read_bytes()) == b"na?ve"
    with pytest.raises(ValueError):
        statesmix.open(path, "rb", encoding="utf-8")
    with pytest.raises(ValueError):
        statesmix.open(path, "rb", errors="strict")
    with pytest.raises(ValueError):
        statesmix.open(path, "rb", newline="\n")
    with pytest.raises(ValueError):
        statesmix.open(path, "rtb")


def test_open_file_objects():
    data = make_text(6000, 16)
    buf = io.BytesIO()
    with statesmix.open(buf, "wb", block_size=1024) as f:
        f.write(data[:4000])
        # compressed blocks reach the file object before close()
        assert len(buf.getvalue()) > 200
        f.write(data[4000:])
    assert not buf.closed                  # a file object is not closed
    comp = buf.getvalue()
    assert statesmix.decompress(comp) == data
    src = io.BytesIO(comp)
    with statesmix.open(src) as f:
        assert f.read() == data
    assert not src.closed
    with StateSMixFile(io.BytesIO(comp)) as f:
        assert f.read(100) == data[:100]
    with pytest.raises(TypeError):
        StateSMixFile(12.5)
    with pytest.raises(ValueError):
        StateSMixFile(io.BytesIO(), "rw")
    with pytest.raises(ValueError):
        StateSMixFile(io.BytesIO(comp), "rb", level=3)


def test_file_reading_api():
    data = make_text(2600, 17)
    comp = statesmix.compress(data[:1500], block_size=1024) + statesmix.compress(data[1500:])
    f = StateSMixFile(io.BytesIO(comp))
    assert f.seekable()
    assert f.peek()[:5] == data[:5]
    assert f.tell() == 0
    line = f.readline()
    assert line == data[:data.index(b"\n") + 1]
    assert f.readline(3) == data[len(line):len(line) + 3]
    f.seek(0)
    lines = list(f)
    assert b"".join(lines) == data
    assert all(x.endswith(b"\n") for x in lines[:-1])
    f.seek(100)
    buf = bytearray(50)
    assert f.readinto(buf) == 50 and bytes(buf) == data[100:150]
    r = f.read1(10)
    assert 1 <= len(r) <= 10 and r == data[150:150 + len(r)]
    f.seek(1490)
    assert f.read(20) == data[1490:1510]           # across the stream boundary
    assert f.seek(-10, io.SEEK_END) == len(data) - 10
    assert f.read() == data[-10:]
    assert f.seek(-5, io.SEEK_CUR) == len(data) - 5
    assert f.seek(3) == 3
    assert f.read(4) == data[3:7]
    assert f.seek(len(data) + 100) == len(data)
    assert f.read(1) == b"" and f.read1() == b"" and f.peek() == b""
    f.close()
    assert f.closed
    with pytest.raises(ValueError):
        f.read()
    with pytest.raises(ValueError):
        f.readable()
    with StateSMixFile(io.BytesIO(comp)) as f:
        with pytest.raises(io.UnsupportedOperation):
            f.write(b"x")
    with StateSMixFile(io.BytesIO(), "wb") as f:
        with pytest.raises(io.UnsupportedOperation):
            f.read()
        with pytest.raises(io.UnsupportedOperation):
            f.seek(0)


def test_file_empty_and_bad_input():
    """The rules of statesmix.reader, the same through every reader."""
    comp = statesmix.compress(b"some data here")
    readers = (statesmix.decompress, lambda b: StateSMixFile(io.BytesIO(b)).read())
    for read in readers:
        for truncated in (b"", comp[:1], comp[:-1]):
            with pytest.raises(statesmix.StateSMixEOFError) as e:
                read(truncated)
            assert isinstance(e.value, EOFError) and isinstance(e.value, StateSMixError)
        with pytest.raises(StateSMixError, match="bad magic"):
            read(b"not a statesmix file")
        # junk after a complete stream is ignored, as lzma and bz2 do ...
        for junk in (b"garbage", b"\0" * 8, b"x"):
            assert read(comp + junk) == b"some data here"
        # ... but what starts like a stream is one
        with pytest.raises(statesmix.StateSMixEOFError):
            read(comp + ct.MAGIC[:2])
        with pytest.raises(StateSMixError):
            read(comp + ct.MAGIC + b"\xff" * 20)


@pytest.mark.parametrize("bad", [
    {"level": 10}, {"level": 0}, {"level": "6"}, {"preset": "nope"}, {"block_size": 5},
    {"vocabulary": 999}, {"threads": "x"}, {"threads": -1}, {"memory_limit": 0},
    {"content_size": -1}, {"preset": "count", "memory_limit": 1 << 20}])
def test_open_checks_every_argument_before_touching_the_file(tmp_path, bad):
    path = tmp_path / "keep.ssx"
    path.write_bytes(b"precious")
    for mode in ("w", "wb", "x", "a", "wt"):
        with pytest.raises((StateSMixError, TypeError, ValueError)):
            statesmix.open(path, mode, **bad)
        assert path.read_bytes() == b"precious"


def test_every_writer_agrees():
    """compress(), the compressor and the file give the same bytes for the
    same input, settings and knowledge of the size."""
    data = make_text(5000, 17)
    one_shot = statesmix.compress(data, block_size=1024)
    for size in (None, len(data)):
        c = StateSMixCompressor(block_size=1024, content_size=size)
        out = c.compress(data[:1234]) + c.compress(data[1234:]) + c.flush()
        buf = io.BytesIO()
        with StateSMixFile(buf, "w", block_size=1024, content_size=size) as f:
            f.write(data[:99])
            f.write(data[99:])
        assert buf.getvalue() == out
        # compress() knows the size and records it; the streaming paths do
        # when told.  Without it the total goes into the trailer instead.
        # (compress() may also record the model's memory in the header.)
        assert (out == without_memory(one_shot)) == (size is not None)
        assert statesmix.decompress(out) == data
    c = StateSMixCompressor(block_size=1024, content_size=len(data), record_memory=True)
    out = c.compress(data) + c.flush()
    head = c.header()
    assert ct.parse_header(head, 0)[0].memory > 0
    assert without_memory(head + out[len(head):]) == without_memory(one_shot)


def test_a_file_told_the_size_writes_compress_bytes(tmp_path):
    """From RECORD_MEMORY_MIN bytes on compress() records the model's memory
    in the header; a file told the size goes back to write it, where it can."""
    data = make_text(RECORD_MEMORY_MIN + 5000, 23)
    one_shot = statesmix.compress(data, preset="count")
    assert ct.parse_header(one_shot, 0)[0].memory > 0
    buf = io.BytesIO(b"before")
    buf.seek(6)
    with StateSMixFile(buf, "wb", preset="count", content_size=len(data)) as f:
        f.write(data[:777])
        f.write(data[777:])
    assert buf.getvalue() == b"before" + one_shot
    path = tmp_path / "f.ssx"
    with statesmix.open(path, "wb", preset="count", content_size=len(data)) as f:
        f.write(data)
    assert path.read_bytes() == one_shot
    # append modes cannot go back: the stream has no memory record
    with statesmix.open(path, "ab", preset="count", content_size=len(data)) as f:
        f.write(data)
    second = path.read_bytes()[len(one_shot):]
    assert ct.parse_header(second, 0)[0].memory is None
    assert second == without_memory(one_shot)
    fd = os.open(tmp_path / "g.ssx", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    with builtins.open(fd, "wb") as raw:
        assert "a" not in raw.mode      # only the descriptor knows
        with StateSMixFile(raw, "wb", preset="count", content_size=len(data)) as f:
            f.write(data)
    assert (tmp_path / "g.ssx").read_bytes() == without_memory(one_shot)


def without_memory(blob):
    """A stream with its header's memory record taken out."""
    header, pos = ct.parse_header(blob, 0)
    return dataclasses.replace(header, memory=None).pack() + blob[pos:]


def test_decoding_streams_inside_a_block():
    """Output comes as tokens are decoded: 100 bytes of a 300 KB one-block
    stream cost at most a few steps of tokens, through every reader."""
    data = make_text(300_000, 18)
    comp = statesmix.compress(data, preset="count")
    assert len(blocks_of(comp)) == 1
    d = StateSMixDecompressor()
    assert d.decompress(comp, max_length=100) == data[:100]
    assert 0 < d.stats()["tokens"] <= 100
    assert d.decompress(b"", max_length=5000) == data[100:5100]
    assert d.stats()["tokens"] <= 5100
    with StateSMixFile(io.BytesIO(comp)) as f:
        assert f.read(100) == data[:100]
        # the file's buffer asks the reader for 1 KiB
        assert f._buffer.raw._decomp.stats()["tokens"] <= 1024
        f.seek(200_000)
        assert f.read(10) == data[200_000:200_010]


def test_lzma_like_argument_handling(tmp_path):
    comp = statesmix.compress(b"hello hello")
    d = StateSMixDecompressor()
    with pytest.raises(TypeError):
        d.decompress(b"foo", b"bar")            # changes nothing ...
    assert d.decompress(comp) == b"hello hello"   # ... so this still works
    for attr in ("eof", "unused_data", "needs_input"):
        with pytest.raises(AttributeError):
            setattr(d, attr, True)
    with pytest.raises(BufferError):
        StateSMixDecompressor().decompress(memoryview(comp)[::2])
    with pytest.raises(BufferError):
        StateSMixCompressor().compress(memoryview(b"abcdef")[::2])
    with pytest.raises(TypeError):
        StateSMixDecompressor(memory_limit=b"qw")
    with StateSMixFile(io.BytesIO(comp)) as f:
        for call, arg in ((f.read, 0.0), (f.read, -1.0), (f.read1, None), (f.peek, 1.5)):
            with pytest.raises(TypeError):
                call(arg)
    f.flush()                                    # closed: nothing to do, as LZMAFile
    for proto in range(2, 5):
        with pytest.raises(TypeError):
            pickle.dumps(StateSMixCompressor(preset="count"), proto)
        with pytest.raises(TypeError):
            pickle.dumps(StateSMixDecompressor(), proto)
    # a failed decompressor keeps failing, it never resumes on garbage
    d = StateSMixDecompressor()
    with pytest.raises(StateSMixError):
        d.decompress(b"nonsense")
    with pytest.raises(StateSMixError):
        d.decompress(comp)


def test_file_memory_limit(tmp_path):
    data = make_text(2000, 19)
    path = tmp_path / "p.ssx"
    path.write_bytes(statesmix.compress(data, preset="paper", threads=1))
    # a 2 KB stream needs about 106 MiB (the process's base and small tables)
    with pytest.raises(StateSMixError, match="memory limit"):
        with statesmix.open(path, memory_limit=96 << 20) as f:
            f.read()
    with statesmix.open(path, memory_limit=128 << 20) as f:
        assert f.read() == data
    # writing, the size is unknown: the n-gram tables' 2 GiB are cut to fit
    with statesmix.open(tmp_path / "w.ssx", "w", preset="paper", memory_limit=256 << 20,
                        threads=1) as f:
        f.write(data)
    blob = (tmp_path / "w.ssx").read_bytes()
    assert ct.parse_header(blob, 0)[0].config["ngram_mem_mb"] < 2048
    assert statesmix.decompress(blob, memory_limit=256 << 20) == data
    # under the process's base nothing fits, and no file is left
    with pytest.raises(StateSMixError, match="memory limit"):
        statesmix.open(tmp_path / "x.ssx", "w", preset="paper", memory_limit=96 << 20)
    assert not (tmp_path / "x.ssx").exists()


def _bound(n):
    """The most a stream of n incompressible bytes may take."""
    return n + n // 1000 + 64


@pytest.mark.parametrize("level", range(1, 10))
def test_random_data_does_not_grow(level):
    """Blocks that coding would expand are stored: random bytes cost a few
    bytes more than their size at every level (8 KB here; 200 KB: below)."""
    data = random.Random(level).randbytes(8192)
    comp = statesmix.compress(data, level=level, threads=1)
    assert len(comp) <= _bound(len(data))
    assert [b.stored for b in blocks_of(comp)] == [True]
    assert statesmix.decompress(comp, threads=1) == data


# every level's model once (levels that share a preset code alike); some
# seconds each, the SSM's the most
_LEVEL_OF_PRESET = {pid: min(lv for lv, p in statesmix.presets.LEVELS.items() if p == pid)
                    for pid in set(statesmix.presets.LEVELS.values())}


@pytest.mark.parametrize("level", sorted(_LEVEL_OF_PRESET.values()))
def test_random_200k_at_every_level(level):
    data = random.Random(200).randbytes(200 * 1024)
    assert len(statesmix.compress(data, level=level, threads=1)) <= _bound(len(data))


def test_small_inputs():
    # the compact header: an empty input, one byte, with and without the size
    assert len(statesmix.compress(b"")) <= 24
    assert len(statesmix.compress(b"x")) <= 40
    assert len(StateSMixCompressor().flush()) <= 24
    c = StateSMixCompressor()
    assert len(c.compress(b"x") + c.flush()) <= 40


def test_stored_blocks_keep_the_model_in_step():
    """Text after stored blocks codes as it would have: the decoder runs the
    stored tokens through the model, as the encoder did."""
    text = make_text(3000, 21)
    noise = random.Random(21).randbytes(3000)
    for preset in ("count", "plus"):
        comp = statesmix.compress(text + noise + text, preset=preset, block_size=1024)
        kinds = [b.stored for b in blocks_of(comp)]
        assert True in kinds and kinds[-1] is False
        assert statesmix.decompress(comp) == text + noise + text


def test_file_writes_from_threads():
    """Writes from several threads each land whole (the file and the
    compressor take a lock, as BZ2File and lzma's objects do)."""
    piece = b"1" * 20_000
    buf = io.BytesIO()
    with StateSMixFile(buf, "w", preset="count", block_size=1024) as f:
        def write():
            for _ in range(5):
                f.write(piece)
        threads = [threading.Thread(target=write) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert statesmix.decompress(buf.getvalue()) == piece * 20


def test_truncated_trailer_gives_the_data_then_eof():
    comp = statesmix.compress(make_text(3000, 22), preset="count")
    with StateSMixFile(io.BytesIO(comp[:-3])) as f:
        assert f.read(3000) == make_text(3000, 22)
        with pytest.raises(statesmix.StateSMixEOFError):
            f.read(1)


# ---------------------------------------------------------------- properties

@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_property_round_trip(data):
    assert statesmix.decompress(statesmix.compress(data)) == data


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=300), st.integers(1, 50))
def test_property_streaming(text, piece):
    data = text.encode("utf-8", "surrogatepass")
    c = StateSMixCompressor(content_size=len(data))
    out = b"".join(c.compress(p) for p in pieces(data, piece)) + c.flush()
    assert out == without_memory(statesmix.compress(data))
    d = StateSMixDecompressor()
    got = b"".join(d.decompress(p) for p in pieces(out, piece))
    assert got == data and d.eof


# ---------------------------------------------------------------- determinism

DET_DATA = make_text(1300, 18) + RANDOM_4K[:200]
# the scalar kernels are several times slower: a smaller input (two blocks)
SCALAR_DATA = DET_DATA[:1100]


def test_threads_do_not_change_output():
    one = statesmix.compress(DET_DATA, threads=1, block_size=1024)
    two = statesmix.compress(DET_DATA, threads=2, block_size=1024)
    assert one == two
    assert statesmix.compress(DET_DATA, threads=0, block_size=1024) == one
    assert statesmix.decompress(one, threads=2) == DET_DATA


def test_scalar_and_simd_identical():
    if not core.simd_available():
        pytest.skip("no AVX2/FMA on this machine: only the scalar kernels exist")
    before = core.simd_enabled()
    try:
        core.set_simd(True)
        assert core.simd_enabled()
        simd = statesmix.compress(SCALAR_DATA, block_size=1024)
        core.set_simd(False)
        assert not core.simd_enabled()
        scalar = statesmix.compress(SCALAR_DATA, block_size=1024)
        assert scalar == simd
        assert statesmix.decompress(simd) == SCALAR_DATA      # scalar decodes SIMD
    finally:
        core.set_simd(before)


def _compress_in_subprocess(tmp_path, **env_vars):
    """(kernel level in use, SCALAR_DATA compressed) in a fresh interpreter
    started with the given environment variables."""
    src = tmp_path / "in.bin"
    src.write_bytes(SCALAR_DATA)
    code = ("import sys, statesmix, statesmix.core as c; "
            "sys.stdout.buffer.write(bytes([c.simd_enabled()]) + "
            "statesmix.compress(open(sys.argv[1], 'rb').read(), block_size=1024))")
    env = dict(os.environ, **env_vars,
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH")])))
    r = subprocess.run([sys.executable, "-c", code, str(src)], capture_output=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout[0], r.stdout[1:]


@pytest.mark.skipif(core.simd_available() < 2, reason="CPU without AVX-512")
def test_no_avx512_env_subprocess_identical(tmp_path):
    level, out = _compress_in_subprocess(tmp_path, STATESMIX_NO_AVX512="1")
    assert level == 1                  # the environment variable stopped at AVX2
    assert out == statesmix.compress(SCALAR_DATA, block_size=1024)


def test_scalar_env_subprocess_identical(tmp_path):
    level, out = _compress_in_subprocess(tmp_path, STATESMIX_SCALAR="1")
    assert level == 0                  # the environment variable forced scalar
    assert out == statesmix.compress(SCALAR_DATA, block_size=1024)


class _FailingSink(io.BytesIO):
    """A file object whose write() raises OSError (no space left) once more
    than `room` bytes would be in it; `transient` lets later writes succeed."""

    def __init__(self, room, transient=False):
        super().__init__()
        self.room = room
        self.transient = transient
        self.failures = 0

    def write(self, b):
        if self.tell() + len(memoryview(b).cast("B")) > self.room and \
                not (self.transient and self.failures):
            self.failures += 1
            raise OSError(28, "No space left on device")
        return super().write(b)


@pytest.mark.parametrize("transient", [False, True])
def test_file_write_failure_midway(transient):
    """A write that fails mid-way through a StateSMixFile propagates, leaves
    the caller's data and file object alone, and never lets close() finish
    the stream: what was written is a truncated stream that decoders reject."""
    data = bytearray(make_text(6000, 11))
    before = bytes(data)
    sink = _FailingSink(room=400, transient=transient)
    f = statesmix.StateSMixFile(sink, "wb", preset="count", block_size=1024)
    with pytest.raises(OSError, match="No space left"):
        for i in range(0, len(data), 700):
            f.write(memoryview(data)[i:i + 700])
    assert sink.failures == 1
    with pytest.raises(OSError):
        f.write(b"more")                 # the stream is broken for good
    f.close()                            # no end marker, no second error
    assert f.closed and not sink.closed
    assert bytes(data) == before
    written = sink.getvalue()
    assert 0 < len(written) <= 400
    with pytest.raises(statesmix.StateSMixError):
        statesmix.decompress(written)
    with pytest.raises(statesmix.StateSMixError):
        with statesmix.open(io.BytesIO(written)) as r:
            r.read()


def test_file_write_failure_in_with_block_and_close():
    """The OSError of a failed write leaves a `with` block unmasked; a failure
    while close() writes the end of the stream is raised by close()."""
    sink = _FailingSink(room=300)
    with pytest.raises(OSError, match="No space left"):
        with statesmix.open(sink, "wb", preset="count", block_size=1024) as f:
            f.write(make_text(5000, 12))
    assert not sink.closed
    # everything fits until the trailer: close() raises, the file is closed
    small = b"short text\n" * 5
    ref = io.BytesIO()
    with statesmix.open(ref, "wb", preset="count") as g:
        g.write(small)
    full = ref.getvalue()
    sink = _FailingSink(room=len(full) - 5)
    f = statesmix.open(sink, "wb", preset="count")
    f.write(small)
    with pytest.raises(OSError):
        f.close()
    assert f.closed
    with pytest.raises(statesmix.StateSMixError):
        statesmix.decompress(sink.getvalue())


# ---------------------------------------------------------------- memory limit

def test_memory_estimate():
    est = statesmix.presets.memory_estimate
    V = 43194
    cfg = {p: statesmix.presets.model_config(i, V)
           for i, (p, _) in statesmix.presets.PRESETS.items()}
    bs = 1 << 20
    assert est(cfg["count"], bs) < est(cfg["ssm"], bs) < est(cfg["ngram"], bs) \
        < est(cfg["paper"], bs)
    assert est(cfg["ngram"], bs) >= 1024 << 20          # the n-gram limit counts
    assert est(cfg["count"], 1 << 24) > est(cfg["count"], 1 << 20)
    small = dict(cfg["paper"], ngram_mem_mb=1)
    assert est(small, bs) < est(cfg["paper"], bs) - (1000 << 20)


def test_memory_limit_makes_the_tables_fit():
    """As xz lowers its dictionary: a preset over the limit compresses with
    smaller byte-mixer and n-gram tables, and its stream carries that
    configuration, which decodes within the same limit."""
    presets = statesmix.presets

    def header(**kw):
        return ct.parse_header(StateSMixCompressor(**kw).header(), 0)[0]

    big = header(preset="cm", content_size=8 << 20)
    assert big.config is None
    size = get_vocabulary(big.vocab_id).size
    full = presets.model_config(presets.BY_NAME["cm"], size, 8 << 20)
    limit = 1 << 30
    assert presets.memory_estimate(full, 1 << 20, 8 << 20, compressing=True) > limit
    cfg = header(preset="cm", content_size=8 << 20, memory_limit=limit).config
    assert presets.memory_estimate(cfg, 1 << 20, 8 << 20, compressing=True) <= limit
    assert cfg["cm_bits"] <= full["cm_bits"] and cfg["ngram_mem_mb"] < full["ngram_mem_mb"]
    # nothing else changed (compared as the header stores them: floats in f32)
    assert ct.config_bytes(dict(cfg, cm_bits=0, ngram_mem_mb=0)) == \
        ct.config_bytes(dict(full, cm_bits=0, ngram_mem_mb=0))
    # a real stream: 60 KB, its tables cut to fit a limit 1 MiB under their estimate
    data = make_text(60000, 15)
    std = presets.model_config(presets.BY_NAME["fast"], size, len(data))
    limit = presets.memory_estimate(std, 1 << 20, len(data), compressing=True) - (1 << 20)
    out = statesmix.compress(data, preset="fast", threads=1, memory_limit=limit)
    header = ct.parse_header(out, 0)[0]
    assert header.config is not None and header.config != std
    assert statesmix.decompress(out, memory_limit=limit) == data
    assert out != statesmix.compress(data, preset="fast", threads=1)
    # what cannot fit is still refused
    with pytest.raises(statesmix.StateSMixError, match="memory limit"):
        StateSMixCompressor(preset="cm", memory_limit=100 << 20)


def test_memory_limit():
    data = make_text(2000, 13)
    for bad, error in ((0, ValueError), (-1, ValueError), ("1G", TypeError),
                       (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error):
            statesmix.compress(data, preset="count", memory_limit=bad)
        with pytest.raises(error):
            StateSMixDecompressor(memory_limit=bad)
        with pytest.raises(error):
            StateSMixFile(io.BytesIO(), "w", memory_limit=bad)
    with pytest.raises(statesmix.StateSMixError, match="memory limit"):
        StateSMixCompressor(preset="paper", memory_limit=96 << 20)
    # a stream's estimate is sized by its content: 2 KB of count 102 MiB
    # (the floor: loading the vocabulary), 20 KB of paper about 130 MiB
    comp = statesmix.compress(data, preset="count", memory_limit=108 << 20)
    assert statesmix.decompress(comp, memory_limit=108 << 20) == data
    with pytest.raises(statesmix.StateSMixError, match="memory limit"):
        statesmix.decompress(comp, memory_limit=8 << 20)
    # the bound of the configuration, when the header records no measured memory
    text = make_text(20000, 14)
    c = StateSMixCompressor(preset="paper", threads=1, content_size=len(text))
    paper = c.compress(text) + c.flush()
    assert ct.parse_header(paper, 0)[0].memory is None
    with pytest.raises(statesmix.StateSMixError, match="memory limit of 108 MiB"):
        statesmix.decompress(paper, memory_limit=108 << 20)
    # refused on the header alone, before any block arrives
    d = StateSMixDecompressor(memory_limit=108 << 20)
    hlen = ct.parse_header(paper, 0)[1]
    with pytest.raises(statesmix.StateSMixError, match="memory limit"):
        d.decompress(paper[:hlen])
    assert statesmix.decompress(paper, memory_limit=2 << 30, threads=1) == text
    # each stream of a concatenation is checked on its own
    with pytest.raises(statesmix.StateSMixError, match="memory limit"):
        statesmix.decompress(comp + paper, memory_limit=108 << 20)
