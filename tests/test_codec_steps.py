"""Coding a block in steps (ssx_encode_begin/some/end, ssx_decode_begin/some/
end) gives exactly the bytes and tokens of coding it in one call, and the
step calls check their order."""
import numpy as np
import pytest

from statesmix._core import ffi, lib
from statesmix.core import Model
from statesmix.presets import BY_NAME, model_config
from statesmix.tokenizer import default_vocabulary_id, get_vocabulary

from textgen import make_text


def _model(preset, vocab):
    m = Model(model_config(BY_NAME[preset], vocab.size))
    m.set_classes(vocab.classes)
    return m


def _blocks(vocab):
    text = make_text(3000, 11)
    return [vocab.encode(text[:1500]), vocab.encode(text[1500:] + bytes(range(40)))]


@pytest.mark.parametrize("preset", ["count", "plus"])
@pytest.mark.parametrize("step", [1, 7, 1000])
def test_steps_match_one_call(preset, step):
    vocab = get_vocabulary(default_vocabulary_id())
    blocks = _blocks(vocab)
    whole = _model(preset, vocab)
    bodies = [whole.encode_block(b) for b in blocks]

    enc = _model(preset, vocab)
    for toks, body in zip(blocks, bodies):
        arr = np.ascontiguousarray(toks, dtype=np.int32)
        buf = ffi.from_buffer("int32_t[]", arr)
        assert lib.ssx_encode_begin(enc._m, buf, len(arr)) == 0
        done = 0
        while True:
            k = lib.ssx_encode_some(enc._m, step)
            assert 0 <= k <= step
            if k == 0:
                break
            done += k
        assert done == len(arr)
        out = ffi.new("uint8_t **")
        n = lib.ssx_encode_end(enc._m, out)
        assert bytes(ffi.buffer(out[0], n)) == body

    dec = _model(preset, vocab)
    for toks, body in zip(blocks, bodies):
        keep = ffi.from_buffer(body)
        assert lib.ssx_decode_begin(dec._m, keep, len(body), len(toks)) == 0
        got = []
        piece = np.empty(step, dtype=np.int32)
        while True:
            k = lib.ssx_decode_some(dec._m, ffi.from_buffer("int32_t[]", piece), step)
            assert 0 <= k <= step
            if k == 0:
                break
            got.extend(piece[:k].tolist())
        assert lib.ssx_decode_end(dec._m) == 0
        assert got == list(toks)


def test_step_calls_out_of_order_are_rejected():
    vocab = get_vocabulary(default_vocabulary_id())
    m = _model("count", vocab)
    toks = np.ascontiguousarray(_blocks(vocab)[0], dtype=np.int32)
    out = ffi.new("uint8_t **")
    assert lib.ssx_encode_some(m._m, 5) == lib.SSX_ERR_PARAM
    assert lib.ssx_decode_end(m._m) == lib.SSX_ERR_PARAM
    assert lib.ssx_encode_begin(m._m, ffi.from_buffer("int32_t[]", toks), len(toks)) == 0
    assert lib.ssx_encode_end(m._m, out) == lib.SSX_ERR_PARAM   # not all coded yet
    assert lib.ssx_encode_some(m._m, len(toks)) == len(toks)
    assert lib.ssx_encode_end(m._m, out) > 0
    assert lib.ssx_encode_end(m._m, out) == lib.SSX_ERR_PARAM   # already ended


def test_truncated_body_fails_at_end_or_before():
    vocab = get_vocabulary(default_vocabulary_id())
    toks = _blocks(vocab)[0]
    body = _model("plus", vocab).encode_block(toks)
    m = _model("plus", vocab)
    cut = body[:len(body) - 3]
    keep = ffi.from_buffer(cut)
    assert lib.ssx_decode_begin(m._m, keep, len(cut), len(toks)) == 0
    piece = np.empty(len(toks), dtype=np.int32)
    k = lib.ssx_decode_some(m._m, ffi.from_buffer("int32_t[]", piece), len(toks))
    assert k < 0 or lib.ssx_decode_end(m._m) == lib.SSX_ERR_CORRUPT
