"""Golden streams (tests/golden/README.md): committed streams of a committed
input decode to it on this machine, and compressing the input today gives
exactly the committed bytes.  A change to the model, the tokenizer, the
coder or the container that alters one bit fails here, on every machine
the suite runs on."""
import dataclasses
import io
import pathlib

import pytest

import statesmix
from statesmix import container as ct
from statesmix.presets import PRESETS

GOLDEN = pathlib.Path(__file__).resolve().parent / "golden"
INPUT = (GOLDEN / "input.bin").read_bytes()
BLOCK_SIZE = 1024          # several blocks, two of them stored
NAMES = sorted(name for name, _ in PRESETS.values())


def _golden(name):
    path = GOLDEN / ("%s.ssx" % name)
    # every preset has its stream from the day it ships (README.md there)
    assert path.exists(), "no golden stream for preset %r: add %s (tests/golden/README.md)" \
        % (name, path.name)
    return path.read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_golden_stream_decodes(name):
    stream = _golden(name)
    assert statesmix.decompress(stream, threads=1) == INPUT
    with statesmix.open(io.BytesIO(stream)) as f:
        assert f.read() == INPUT
    header = ct.parse_header(stream, 0)[0]
    assert header.version == ct.VERSION and header.config is None


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("threads", [1, 2])
def test_compressing_today_gives_the_golden_bytes(name, threads):
    golden = _golden(name)
    # the streaming compressor, told the size, writes the committed bytes
    c = statesmix.StateSMixCompressor(preset=name, block_size=BLOCK_SIZE, threads=threads,
                                      content_size=len(INPUT))
    assert c.compress(INPUT) + c.flush() == golden
    # compress() also records in the header the memory the model took
    # (machine-independent: a count of what the core allocates); the rest
    # of the stream is the committed bytes
    out = statesmix.compress(INPUT, preset=name, block_size=BLOCK_SIZE, threads=threads)
    header, pos = ct.parse_header(out, 0)
    plain, gpos = ct.parse_header(golden, 0)
    assert dataclasses.replace(header, memory=None) == plain
    assert plain.pack() == golden[:gpos] and out[pos:] == golden[gpos:]


# The wide SSM serves inputs of presets.WIDE_FROM bytes and more, too long to
# commit: a stream per preset that widens (presets.GROWS) carries that
# configuration in its header.
WIDE_PRESETS = ("cm2-grow", "cm3", "cm4")


def _wide_compressor(name, threads):
    from statesmix.presets import BY_NAME, PRESETS, SSM_WIDE
    config = {"components": PRESETS[BY_NAME[name]][1] | SSM_WIDE}
    return statesmix.StateSMixCompressor(preset=name, block_size=BLOCK_SIZE,
                                         threads=threads, content_size=len(INPUT),
                                         config=config)


def test_every_growing_preset_has_a_wide_stream():
    from statesmix.presets import GROWS, preset_name
    assert {preset_name(p) for p in GROWS} == set(WIDE_PRESETS)


@pytest.mark.parametrize("name", WIDE_PRESETS)
@pytest.mark.parametrize("threads", [1, 2])
def test_wide_ssm_stream(name, threads):
    golden = (GOLDEN / ("%s-wide.ssx" % name)).read_bytes()
    assert statesmix.decompress(golden, threads=threads) == INPUT
    c = _wide_compressor(name, threads)
    assert c.compress(INPUT) + c.flush() == golden
    # a configuration in the header, and other model bits than the narrow
    # stream's after it
    narrow = (GOLDEN / ("%s.ssx" % name)).read_bytes()
    nh, wh = ct.parse_header(narrow, 0), ct.parse_header(golden, 0)
    assert nh[0].config is None and wh[0].config is not None
    assert golden[wh[1]:] != narrow[nh[1]:]


def test_version_1_stream_still_decodes():
    """Made before format version 2 by the code of its day: streams in the
    wild must keep decoding."""
    stream = (GOLDEN / "v1-default.ssx").read_bytes()
    assert ct.parse_header(stream, 0)[0].version == 1
    assert statesmix.decompress(stream, threads=1) == INPUT
    d = statesmix.StateSMixDecompressor(threads=1)
    out = b"".join(d.decompress(stream[i:i + 100], max_length=500)
                   + d.decompress(b"", max_length=10**6) for i in range(0, len(stream), 100))
    assert out == INPUT and d.eof
