"""Replays the fuzzing seeds and every committed fuzzer finding.

fuzz/corpus/container/ and fuzz/regressions/container/ hold .ssx inputs of
fuzz/fuzz_container.py; fuzz/corpus/decode/ and fuzz/regressions/decode/ hold
inputs of the C harness fuzz/fuzz_decode.c, whose input layout is re-read
here so that the same block bodies go through the same C entry point.  Run
under `make sanitize` these also catch memory errors that do not crash.
"""
import math
import os
import struct
import sys

import numpy as np
import pytest

import statesmix
from statesmix import StateSMixDecompressor, StateSMixError
from statesmix import container as ct
from statesmix.core import Model

FUZZ = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fuzz")


def _files(kind):
    out = []
    for top in ("corpus", "regressions"):
        d = os.path.join(FUZZ, top, kind)
        if os.path.isdir(d):
            out += [os.path.join(d, f) for f in sorted(os.listdir(d))
                    if not f.startswith(".")]
    return out


def _id(path):
    return os.path.relpath(path, FUZZ)


# ------------------------------------------------------- the container harness

def _fix_header_check(data):
    """fuzz_container.py's fix_header_check (odd lengths get a correct
    header checksum)."""
    return ct.repair_header_check(data) if len(data) & 1 else data


@pytest.mark.parametrize("path", _files("container"), ids=_id)
def test_container_input(path):
    """As fuzz_container.py: StateSMixError or a result, both decoders agree."""
    with open(path, "rb") as f:
        data = _fix_header_check(f.read())
    try:
        whole = statesmix.decompress(data, threads=1)
    except StateSMixError:
        whole = None
    d = StateSMixDecompressor(threads=1)
    try:
        part = d.decompress(data)
    except StateSMixError:
        part = None
        assert whole is None
    if whole is not None:
        assert d.eof and whole.startswith(part)
    if "corpus" in path:
        assert whole is not None, "seed %s no longer decodes" % path


# ------------------------------------------------------------ the C harness

_SCALES = (0.1, 0.0, 1.0, 16.0, 0.5, math.nan, -1.0, 17.0)
_CHUNKS = (1, 7, 32, 64)
_COMPONENTS = (1, 5, 3, 7)


def _decode_input(data):
    """fuzz_decode.c's LLVMFuzzerTestOneInput, through the Python wrapper:
    (config, [(body, n_tokens)]) or None for an input the harness skips."""
    if len(data) < 7:
        return None
    sel = data[2]
    cfg = {"vocab_size": 2 + ((data[0] | (data[1] << 8)) & 0x0FFF),
           "components": _COMPONENTS[sel & 3], "count_scale": _SCALES[(sel >> 2) & 7],
           "chunk": _CHUNKS[(sel >> 5) & 3], "ngram_mem_mb": 1}
    if sel & 0x80:
        case = data[0] & 7
        if case == 0:
            cfg["vocab_size"] = 0
        elif case == 1:
            cfg["vocab_size"] = 1
        elif case == 2:
            cfg["vocab_size"] = (1 << 22) + 1
        elif case == 3:
            cfg["vocab_size"] = -5
        elif case == 4:
            cfg["components"] |= 8
        elif case == 5:
            cfg["components"] = 2
        elif case == 6:
            cfg["components"] |= 4
            cfg["ngram_mem_mb"] = 0
        else:
            cfg["components"] |= 2
            cfg["chunk"] = 65
    ntok = 16 if cfg["components"] & 2 else 64
    n1 = 1 + data[3] % ntok
    n2 = data[4] % (ntok + 1)
    (len1,) = struct.unpack_from("<H", data, 5)
    rest = data[7:]
    len1 = min(len1, len(rest))
    blocks = [(rest[:len1], n1)]
    if n2:
        blocks.append((rest[len1:], n2))
    return cfg, blocks


@pytest.mark.parametrize("path", _files("decode"), ids=_id)
def test_decode_input(path):
    with open(path, "rb") as f:
        parsed = _decode_input(f.read())
    if parsed is None:
        return
    cfg, blocks = parsed
    try:
        m = Model(cfg)
    except (StateSMixError, OverflowError):
        return
    m.set_threads(1)
    ok = []
    for body, n in blocks:          # the second block even after a failed first
        try:
            toks = m.decode_block(body, n)
        except StateSMixError:
            ok.append(False)
            continue
        assert toks.dtype == np.int32 and len(toks) == n
        assert ((toks >= 0) & (toks < cfg["vocab_size"])).all()
        ok.append(True)
    assert 0 <= m.live <= cfg["vocab_size"]
    if "corpus" in path:
        assert all(ok), "seed %s no longer decodes" % path
