"""The C SSM against the float64 numpy reference (tests/ssm_ref.py): forward
logits, loss, every gradient group, Adam training, and bit-exactness across
kernel paths and thread counts."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import ssm_ref as R  # noqa: E402

from statesmix import core  # noqa: E402
from statesmix._core import ffi, lib  # noqa: E402
from statesmix.presets import CM_BITS_MIN  # noqa: E402

NAMES = ["E", "W"] + ["l%d.%s" % (l, g) for l in range(R.NL) for g in R.LAYER_KEYS] + \
        ["lnf_g", "lnf_b"]


class CModel:
    """A C model with `ve` live tokens, driven through the test entry points."""

    def __init__(self, ve, threads=1, wide=False, tree=False):
        cfg = ffi.new("ssx_config *")
        lib.ssx_config_default(cfg)
        cfg.components = lib.SSX_USE_COUNT | lib.SSX_USE_SSM | (lib.SSX_SSM_WIDE if wide else 0)
        if tree:  # the tree head needs the token tree; its byte mixer stays idle
            cfg.components |= lib.SSX_USE_TREE | lib.SSX_SSM_TREE
            cfg.cm_bits = CM_BITS_MIN
        cfg.vocab_size = max(ve, 2)
        err = ffi.new("int *")
        ptr = lib.ssx_model_new(cfg, err)
        assert ptr != ffi.NULL
        self.m = ffi.gc(ptr, lib.ssx_model_free)
        lib.ssx_model_set_threads(self.m, threads)
        assert lib.ssx_test_add_tokens(self.m, ve) == 0

    def set_params(self, params):
        for i, n in enumerate(NAMES):
            if n not in params:  # the tree head has no W
                continue
            a = np.ascontiguousarray(params[n], dtype=np.float32).ravel()
            assert lib.ssx_test_ssm_group(self.m, i, 0, ffi.from_buffer("float[]", a),
                                          a.size, 1) == a.size

    def group(self, i, shape, grad):
        a = np.zeros(int(np.prod(shape)), np.float32)
        assert lib.ssx_test_ssm_group(self.m, i, grad, ffi.from_buffer("float[]", a),
                                      a.size, 0) == a.size
        return a.reshape(shape).astype(np.float64)

    def params(self, ref):
        return {n: self.group(i, ref[n].shape, 0) for i, n in enumerate(NAMES)}

    def grads(self, ref):
        return {n: self.group(i, ref[n].shape, 1) for i, n in enumerate(NAMES)}

    def set_state(self, st):
        h = np.ascontiguousarray(st["h"], np.float32).ravel()
        c = np.ascontiguousarray(st["conv"], np.float32).ravel()
        lib.ssx_test_ssm_state(self.m, ffi.from_buffer("float[]", h),
                               ffi.from_buffer("float[]", c), 1)

    def get_state(self, like):
        h = np.zeros(like["h"].size, np.float32)
        c = np.zeros(like["conv"].size, np.float32)
        lib.ssx_test_ssm_state(self.m, ffi.from_buffer("float[]", h),
                               ffi.from_buffer("float[]", c), 0)
        return {"h": h.reshape(like["h"].shape).astype(np.float64),
                "conv": c.reshape(like["conv"].shape).astype(np.float64)}

    def chunk_grads(self, tin, tgt, ve):
        tin = np.ascontiguousarray(tin, np.int32)
        tgt = np.ascontiguousarray(tgt, np.int32)
        lg = np.zeros((len(tin), ve), np.float32)
        loss = lib.ssx_test_ssm_grads(self.m, ffi.from_buffer("int32_t[]", tin),
                                      ffi.from_buffer("int32_t[]", tgt), len(tin),
                                      ffi.from_buffer("float[]", lg))
        return loss, lg

    def train(self, tin, tgt, steps):
        tin = np.ascontiguousarray(tin, np.int32)
        tgt = np.ascontiguousarray(tgt, np.int32)
        lib.ssx_test_ssm_train(self.m, ffi.from_buffer("int32_t[]", tin),
                               ffi.from_buffer("int32_t[]", tgt), len(tin), steps)


def as_f32(d):
    """Round the reference inputs to float32 so both sides see the same values."""
    return {k: np.asarray(v, np.float32).astype(np.float64) for k, v in d.items()}


# the C core's two model widths: SSX_SSM_WIDE doubles it
WIDTHS = [(False, R.DM), (True, 2 * R.DM)]


def random_setup(ve, T, seed, scale=10.0, dm=R.DM):
    """Parameters away from the tiny init values, so every path carries signal."""
    rng = np.random.default_rng(seed)
    p = R.init_params(ve, rng, DM=dm)
    for k in p:
        if k in ("E", "W") or k.endswith(("in_w", "x_w", "out_w", "conv_w", "dt_w")):
            p[k] = p[k] * scale
    st = R.zero_state(p)
    st["h"] = rng.normal(size=st["h"].shape) * 0.5
    st["conv"] = rng.normal(size=st["conv"].shape) * 0.5
    tin = rng.integers(0, ve, T)
    tgt = rng.integers(0, ve, T)
    return as_f32(p), as_f32(st), tin, tgt


def rel_err(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


def check_against_ref(ve, T, seed, tin=None, tgt=None, wide=False, dm=R.DM):
    p, st, rin, rtg = random_setup(ve, T, seed, dm=dm)
    tin = rin if tin is None else np.asarray(tin)
    tgt = rtg if tgt is None else np.asarray(tgt)
    m = CModel(ve, wide=wide)
    m.set_params(p)
    m.set_state(st)
    loss, logits = m.chunk_grads(tin, tgt, ve)
    ref_logits, _, _ = R.forward_chunk(p, tin, st)
    ref_loss, ref_grads = R.loss_and_grads(p, tin, tgt, st, eps=R.LABEL_SMOOTH)
    assert rel_err(logits, ref_logits) < 2e-5
    assert abs(loss - ref_loss) < 1e-5 * abs(ref_loss)
    grads = m.grads(p)
    for n in NAMES:
        assert rel_err(grads[n], ref_grads[n]) < 2e-4, n
        assert np.abs(ref_grads[n]).max() > 0, n  # every group carries gradient


@pytest.mark.parametrize("wide,dm", WIDTHS)
@pytest.mark.parametrize("ve,T,seed", [(7, 5, 0), (37, 12, 1), (300, 32, 2), (1100, 20, 3)])
def test_forward_and_gradients_match_reference(ve, T, seed, wide, dm):
    check_against_ref(ve, T, seed, wide=wide, dm=dm)


def test_gradients_on_real_text():
    """A real chunk: compact ids of a sentence's BPE tokens."""
    from statesmix.tokenizer import default_vocabulary_id, get_vocabulary
    vocab = get_vocabulary(default_vocabulary_id())
    ids = vocab.encode(b"The quick brown fox jumps over the lazy dog; the dog sleeps "
                       b"while the fox runs over the hills and far away, again and again.")
    _, compact = np.unique(ids, return_inverse=True)
    ve = int(compact.max()) + 1
    T = min(32, len(compact) - 1)
    check_against_ref(ve, T, 4, compact[:T], compact[1:T + 1])


@pytest.mark.parametrize("wide,dm", WIDTHS)
def test_adam_training_matches_reference(wide, dm):
    ve, T, steps = 40, 16, 3
    p, st, tin, tgt = random_setup(ve, T, 5, scale=3.0, dm=dm)
    m = CModel(ve, wide=wide)
    m.set_params(p)
    m.set_state(st)
    m.train(tin, tgt, steps)
    ref_p, _, _, t, ref_state = R.train_chunk(p, R.zeros_like(p), R.zeros_like(p), 0,
                                              tin, tgt, st, steps)
    assert t == steps
    got = m.params(p)
    lr = 0.002
    for n in NAMES:
        # Adam's first steps move each weight by about lr * sign(g), so an entry
        # whose gradient is float32 noise may move the other way: require almost
        # all entries to agree closely, and none to be off by more than the steps.
        d = np.abs(got[n] - ref_p[n])
        assert np.median(d) < 1e-7, n
        assert (d > 1e-6).mean() < 0.01, n
        assert d.max() <= 2 * lr * steps, n
        assert np.abs(ref_p[n] - p[n]).max() > 1e-4, n  # it did train
    got_state = m.get_state(st)
    assert rel_err(got_state["h"], ref_state["h"]) < 1e-3
    assert rel_err(got_state["conv"], ref_state["conv"]) < 1e-3


def _all_grads_bits(ve, threads, T=32, wide=False, dm=R.DM):
    p, st, tin, tgt = random_setup(ve, T, 6, dm=dm)
    m = CModel(ve, threads, wide)
    m.set_params(p)
    m.set_state(st)
    loss, logits = m.chunk_grads(tin, tgt, ve)
    m.train(tin, tgt, 2)
    return [logits.tobytes()] + [g.tobytes() for g in m.grads(p).values()] + \
           [x.tobytes() for x in m.params(p).values()]


@pytest.mark.parametrize("wide,dm", WIDTHS)
def test_bit_exact_across_threads(wide, dm):
    ve = 2000  # several super-blocks of the vocabulary
    bits = [_all_grads_bits(ve, t, wide=wide, dm=dm) for t in (1, 2, 3)]
    assert bits[0] == bits[1] == bits[2]


@pytest.mark.skipif(not core.simd_available(), reason="CPU without AVX2/FMA")
@pytest.mark.parametrize("wide,dm", WIDTHS)
@pytest.mark.parametrize("T", [32, 13])
def test_bit_exact_across_kernel_levels(T, wide, dm):
    """Scalar, AVX2 and (where the CPU has it) AVX-512 give the same bits; an
    odd chunk exercises every kernel's remainder paths, and 660 rows (82.5
    blocks of 8) leave blocks past the kernels' groups of four and two."""
    ve = 660
    was = core.simd_enabled()
    bits = []
    try:
        for level in range(core.simd_available() + 1):
            core.set_simd(level)
            assert core.simd_enabled() == level
            bits.append(_all_grads_bits(ve, 1, T, wide, dm))
    finally:
        core.set_simd(was)
    assert all(b == bits[0] for b in bits[1:])


def _zero_steps(p, m, v, ibc, deferred):
    p, m, v = p.copy(), m.copy(), v.copy()
    lib.ssx_test_adam_zero_steps(ffi.from_buffer("float[]", p), ffi.from_buffer("float[]", m),
                                 ffi.from_buffer("float[]", v), p.size, ibc.size // 2,
                                 ffi.from_buffer("float[]", ibc), deferred)
    return p.tobytes() + m.tobytes() + v.tobytes()


@pytest.mark.parametrize("n,steps,vmax", [(45, 1200, 1e-6), (8 * 70 + 3, 6000, 1e-36)])
def test_deferred_embedding_steps_are_the_plain_steps(n, steps, vmax):
    """The idle rows' kernel (the deferred zero-gradient steps of E, with the
    shortcut once a moment has decayed to +0, and the second moments decaying
    side by side to +0) gives the bits of the plain Adam kernel run step by
    step, at every kernel level: moments that underflow within the steps, +0
    and -0 moments, -0 parameters, a non-finite v, second moments that reach
    +0 within the steps, a length that leaves a remainder past the vector
    widths, and one longer than the kernel's block of 64 vectors."""
    rng = np.random.default_rng(5)
    p = rng.normal(0, 0.02, n).astype(np.float32)
    m = (rng.normal(0, 1e-3, n) * 10.0 ** rng.integers(-30, 1, n)).astype(np.float32)
    v = np.abs(rng.normal(0, vmax, n)).astype(np.float32) + np.float32(vmax * 1e-6)
    m[:4] = [0.0, -0.0, 0.0, -0.0]
    p[2:4] = -0.0
    m[40:] = 0.0  # a whole vector of +0 moments
    v[7] = np.inf
    k = np.arange(1, steps + 1, dtype=np.float64)
    ibc = np.stack([1.0 / (1.0 - 0.9 ** k), 1.0 / (1.0 - 0.999 ** k)], 1)
    ibc = ibc.astype(np.float32).ravel()
    was = core.simd_enabled()
    got = []
    try:
        for level in range(core.simd_available() + 1):
            core.set_simd(level)
            got.append(_zero_steps(p, m, v, ibc, 1))
            got.append(_zero_steps(p, m, v, ibc, 0))
    finally:
        core.set_simd(was)
    assert all(g == got[0] for g in got[1:])
    after = np.frombuffer(got[0], np.float32)
    assert np.all(after[n:2 * n][4:40] == 0.0)  # the moments did decay to zero
    assert after[:n].tobytes() != p.tobytes()
    if vmax < 1e-30:  # ... and so did the second moments, all but the infinite one
        assert np.count_nonzero(after[2 * n:]) == 1


def test_adam_bias_factors_settle_within_the_history():
    """ssm.c keeps Adam's float bias-correction factors for HIST_STEPS (16,640)
    steps and takes them as exactly 1 afterwards, for the deferred embedding
    steps: check that they do reach 1 before and stay there (double products
    as in the C code, rounded to float)."""
    p1 = p2 = 1.0
    first = None
    for k in range(1, 20000):
        p1 *= 0.9
        p2 *= 0.999
        ones = np.float32(1.0 / (1.0 - p1)) == 1.0 and np.float32(1.0 / (1.0 - p2)) == 1.0
        if ones and first is None:
            first = k
        assert ones or first is None
    assert first is not None and first < 16640


@pytest.mark.parametrize("preset,threads,wide", [("ssm", 1, 0), ("ssm", 2, 0), ("plus", 2, 0),
                                                 ("ssm", 2, 1), ("cm3", 1, 0), ("cm3", 2, 1)])
def test_encoder_lookahead_gives_the_one_position_bits(preset, threads, wide):
    """The encoder runs a chunk's known positions at once; the decoder cannot.
    Small blocks end in mid-chunk and bring new tokens there, so look-ahead
    runs are cut short and restarted with a grown vocabulary."""
    import statesmix
    from textgen import make_text
    data = make_text(4000, 5) + bytes(range(256)) * 2 + make_text(2500, 7)
    def run(on):
        from statesmix.presets import BY_NAME, PRESETS
        config = {"components": PRESETS[BY_NAME[preset]][1] | lib.SSX_SSM_WIDE} \
            if wide else None
        c = statesmix.StateSMixCompressor(preset=preset, threads=threads, block_size=1024,
                                          content_size=len(data), config=config)
        lib.ssx_test_lookahead(c._model._m, on)
        return c.compress(data) + c.flush()

    one, ahead = run(0), run(1)
    assert ahead == one
    assert statesmix.decompress(ahead, threads=threads) == data


# ---------------------------------------------------------------- tree head

class CTreeModel(CModel):
    """A model whose SSM predicts the token tree's decisions (SSX_SSM_TREE)."""

    def __init__(self, ve, threads=1, wide=False):
        super().__init__(ve, threads, wide, tree=True)

    def node_rows(self, nodes, dm, grad=False, values=None):
        n = len(nodes)
        keys = np.ascontiguousarray(nodes, np.uint32)
        buf = (np.zeros(n * (dm + 1), np.float32) if values is None
               else np.ascontiguousarray(values, np.float32).ravel())
        assert lib.ssx_test_ssm_node_rows(self.m, ffi.from_buffer("uint32_t[]", keys), n,
                                          int(grad), ffi.from_buffer("float[]", buf),
                                          int(values is not None)) == n * (dm + 1)
        return buf.reshape(n, dm + 1).astype(np.float64)

    def tree_grads(self, tin, paths):
        T, stride = len(tin), max(max(len(p) for p in paths), 1)
        nodes = np.zeros((T, stride), np.uint32)
        bits = np.zeros((T, stride), np.uint8)
        npath = np.array([len(p) for p in paths], np.int32)
        for t, p in enumerate(paths):
            for j, (row, bit) in enumerate(p):
                nodes[t, j], bits[t, j] = row, bit
        tin = np.ascontiguousarray(tin, np.int32)
        return lib.ssx_test_ssm_tree_grads(
            self.m, ffi.from_buffer("int32_t[]", tin), ffi.from_buffer("uint32_t[]", nodes),
            ffi.from_buffer("uint8_t[]", bits), ffi.from_buffer("int32_t[]", npath), stride, T)


@pytest.mark.parametrize("wide,dm", WIDTHS)
@pytest.mark.parametrize("ve,T,seed", [(7, 5, 0), (300, 32, 2)])
def test_tree_head_gradients_match_reference(ve, T, seed, wide, dm):
    p, st, tin, _ = random_setup(ve, T, seed, dm=dm)
    rng = np.random.default_rng(seed + 100)
    # decisions share rows across positions, and one row repeats in a path;
    # rows below 64, which every size of the row table has
    rows = sorted({int(r) for r in rng.integers(0, 64, 12)})
    values = rng.normal(size=(len(rows), dm + 1)).astype(np.float32).astype(np.float64)
    paths = [[(rows[int(rng.integers(len(rows)))], int(rng.integers(2)))
              for _ in range(int(rng.integers(0, 9)))] for _ in range(T)]
    paths[0] = paths[0][:1] * 2 if paths[0] else [(rows[0], 1)] * 2
    m = CTreeModel(ve, wide=wide)
    m.set_params({n: a for n, a in p.items() if n != "W"})
    m.set_state(st)
    m.node_rows(rows, dm, values=values)
    loss = m.tree_grads(tin, paths)
    ref_loss, ref_grads, ref_rows = R.tree_loss_and_grads(
        p, tin, paths, dict(zip(rows, values)), st)
    assert abs(loss - ref_loss) < 1e-5 * abs(ref_loss)
    for i, n in enumerate(NAMES):
        if n == "W":
            assert lib.ssx_test_ssm_group(m.m, i, 1, ffi.NULL, 0, 0) == -1  # no dense head
            continue
        g = m.group(i, p[n].shape, 1)
        assert rel_err(g, ref_grads[n]) < 2e-4, n
        assert np.abs(ref_grads[n]).max() > 0, n
    got = m.node_rows(rows, dm, grad=True)
    for i, r in enumerate(rows):
        want = ref_rows.get(r, np.zeros(dm + 1))
        assert np.abs(got[i] - want).max() <= 2e-4 * max(np.abs(want).max(), 1e-3), r
