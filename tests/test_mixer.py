"""StateSMix+ (learned mixing): round trips, bit-exactness where the coding
softmax runs in parallel segments, the ablation switches, and that learning the
mixture beats the fixed published one."""
import random

import numpy as np
import pytest

import statesmix
from statesmix import core, presets
from statesmix import tokenizer as tk
from statesmix.errors import StateSMixError
from textgen import make_text

MIX, NO_SSE, NO_NOVEL, NO_SHAPE, NO_CACHE, NO_SPARSE, NO_CLASS = 8, 16, 32, 64, 128, 256, 512


def _wide_vocab_text():
    """Text with more distinct tokens than SSX_PAR_CODING_ROWS (4096), so the
    coding softmax and its dot products run in parallel segments."""
    v = tk.get_vocabulary(tk.default_vocabulary_id())
    rng = random.Random(7)
    words = [v.decode([i]) for i in rng.sample(range(300, v.size), 5000)]
    parts = words + [rng.choice(words[:600]) for _ in range(4000)]
    return b" ".join(parts)


WIDE = _wide_vocab_text()


def test_wide_text_engages_parallel_coding():
    v = tk.get_vocabulary(tk.default_vocabulary_id())
    assert len(set(v.encode(WIDE).tolist())) > 4096


@pytest.mark.parametrize("preset", ["ngram-plus", "plus", "cm", "cm3", "cm4"])
def test_threads_do_not_change_output(preset):
    one = statesmix.compress(WIDE, preset=preset, threads=1)
    assert statesmix.compress(WIDE, preset=preset, threads=2) == one
    assert statesmix.compress(WIDE, preset=preset, threads=3) == one
    assert statesmix.decompress(one, threads=2) == WIDE


@pytest.mark.skipif(not core.simd_available(), reason="CPU without AVX2/FMA")
@pytest.mark.parametrize("preset,size", [("ngram-plus", len(WIDE)), ("plus", 6000),
                                         ("cm", 6000), ("cm3", 6000), ("cm4", 6000)])
def test_scalar_and_simd_identical(preset, size):
    data = WIDE[:size]        # the scalar SSM is slow: a short slice for plus
    was = core.simd_enabled()
    try:
        out = []
        for level in range(core.simd_available(), -1, -1):   # AVX-512, AVX2, scalar
            core.set_simd(level)
            out.append(statesmix.compress(data, preset=preset, threads=2))
        core.set_simd(True)
        assert statesmix.decompress(out[-1], threads=1) == data
    finally:
        core.set_simd(was)
    assert all(o == out[0] for o in out[1:])


def _compress_with(components, data):
    c = statesmix.StateSMixCompressor(preset="ngram-plus", threads=1,
                                      config={"components": components})
    return c.compress(data) + c.flush()


def test_ablation_switches_round_trip_and_matter():
    data = make_text(40000, seed=3)
    comp = presets.PRESETS[presets.BY_NAME["ngram-plus"]][1]
    full = _compress_with(comp, data)
    seen = {full}
    for off in (NO_SSE, NO_NOVEL, NO_SHAPE, NO_CACHE, NO_SPARSE, NO_CLASS,
                NO_SSE | NO_NOVEL | NO_SHAPE | NO_CACHE | NO_SPARSE | NO_CLASS):
        out = _compress_with(comp | off, data)
        assert statesmix.decompress(out) == data   # the header carries the switches
        seen.add(out)
    assert len(seen) == 8                          # every switch changes the coding


@pytest.mark.parametrize("components", [
    1 | NO_SSE, 1 | 4 | NO_NOVEL, 1 | 4 | NO_SPARSE, 1 | NO_CLASS, 1 | 2 | 4 | 2048,
    # the SSM's tree head needs the SSM and the tree; each byte mixer version the one before
    1 | 2 | presets.SSM_TREE, 1 | presets.TREE | presets.SSM_TREE,
    1 | presets.TREE | presets.CM_V3, 1 | presets.TREE | presets.CM_V2 | presets.CM_V4])
def test_core_rejects_bad_component_masks(components):
    with pytest.raises(StateSMixError):
        core.Model({"components": components, "vocab_size": 1000})


def test_learned_mixing_beats_fixed():
    data = make_text(60000, seed=11)
    fixed = statesmix.compress(data, preset="ngram", threads=1)
    learned = statesmix.compress(data, preset="ngram-plus", threads=1)
    assert len(learned) < 0.9 * len(fixed)


def test_default_is_cm4():
    d = statesmix.StateSMixDecompressor()
    d.decompress(statesmix.compress(b"hello hello hello"))
    assert presets.preset_name(d.header.preset) == "cm4"


def test_cm4_matches_survive_changed_bytes():
    """Copies of random bytes with a byte in 50 changed (+3): the fourth
    byte mixer keeps each match through a miss, where the third loses it
    until six bytes match again.  Both round-trip."""
    import random
    rng = random.Random(5)
    base = bytes(rng.randrange(256) for _ in range(8000))
    data = base
    for k in (1, 2):
        copy = bytearray(base)
        for i in range(20 + k, len(copy), 50):
            copy[i] = (copy[i] + 3) & 0xFF
        data += bytes(copy)
    size = {}
    for name in ("cm3", "cm4"):
        out = statesmix.compress(data, preset=name, threads=1)
        assert statesmix.decompress(out) == data
        size[name] = len(out)
    # the copies cost cm3 911 bytes, cm4 769 (2026-12-04)
    assert size["cm4"] < size["cm3"] - 80


def test_default_ssm_widens_with_the_input():
    """`cm2-grow` is `cm2` below WIDE_FROM bytes (and when the size is not
    known), with the wide SSM from there; `cm3` and `cm4` widen their SSM
    likewise.
    The header's content size decides, so the decoder derives the same
    configuration."""
    grow, cm2 = presets.BY_NAME["cm2-grow"], presets.BY_NAME["cm2"]
    for size in (None, 0, 10**6, presets.WIDE_FROM - 1):
        cfg = presets.model_config(grow, 50_000, size)
        assert cfg == presets.model_config(cm2, 50_000, size)
        assert not cfg["components"] & presets.SSM_WIDE
        assert presets.model_config(presets.BY_NAME["cm3"], 50_000, size)["components"] \
            == presets.CM3
        assert presets.model_config(presets.BY_NAME["cm4"], 50_000, size)["components"] \
            == presets.CM4
    for size in (presets.WIDE_FROM, 8 * 10**6):
        cfg = presets.model_config(grow, 50_000, size)
        assert cfg == dict(presets.model_config(cm2, 50_000, size),
                           components=presets.PRESETS[cm2][1] | presets.SSM_WIDE)
        assert presets.model_config(presets.BY_NAME["cm3"], 50_000, size)["components"] \
            == presets.CM3 | presets.SSM_WIDE
        assert presets.model_config(presets.BY_NAME["cm4"], 50_000, size)["components"] \
            == presets.CM4 | presets.SSM_WIDE
    # the older presets never widen
    for pid in presets.PRESETS:
        if pid not in presets.GROWS:
            assert not presets.model_config(pid, 50_000, 10**8)["components"] & presets.SSM_WIDE


def test_high_levels_take_the_default_on_long_inputs():
    """Levels 7-9 (more SSM training) lose to the default's wide SSM at
    8 MB, so from WIDE_FROM bytes of known input they take its preset; a
    preset asked for by name, smaller or unknown sizes keep theirs.  The
    stream records the preset used, so decoding does not depend on it."""
    grow = presets.LEVELS[presets.DEFAULT_LEVEL]
    for level in range(1, 10):
        own = presets.LEVELS[level]
        for size in (None, 0, presets.WIDE_FROM - 1):
            assert presets.resolve(level, content_size=size) == own
        want = grow if level in (7, 8, 9) else own
        for size in (presets.WIDE_FROM, 10**9):
            assert presets.resolve(level, content_size=size) == want
    for name in ("cm4-32", "cm4-16", "cm4-8", "cm3-8", "max2"):
        assert presets.resolve(preset=name, content_size=10**9) == presets.BY_NAME[name]
    # through the compressor's plan: the header says what the decoder builds
    from statesmix.compressor import plan
    for size, want in ((presets.WIDE_FROM - 1, "cm4-8"), (presets.WIDE_FROM, "cm4")):
        header = plan(9, None, None, None, size, None)[1]
        assert presets.preset_name(header.preset) == want and header.level == 9
        assert header.content_size == size


def test_levels_climb():
    """Every level's preset is at least as heavy as the one below: the
    ladder never drops a component, and a heavier SSM schedule only comes
    at the top (bench/results/levels.md measures it)."""
    comps = [presets.PRESETS[presets.LEVELS[lv]][1] for lv in range(1, 10)]
    assert presets.LEVELS[presets.DEFAULT_LEVEL] == presets.BY_NAME["cm4"]
    for low, high in zip(comps, comps[1:]):
        core_bits = presets.COUNT | presets.SSM | presets.NGRAM | presets.MIX | presets.TREE
        assert low & core_bits == low & high & core_bits


def test_token_classes():
    cls = tk.token_class
    assert [cls(b" the"), cls(b" The"), cls(b"ing"), cls(b"Th"), cls(b"1990"), cls(b" 19")] \
        == [0, 1, 2, 3, 4, 4]
    assert [cls(b"\n"), cls(b" "), cls(b"  x"), cls(b"[["), cls(b"\xc3"), cls(b"")] \
        == [5, 5, 5, 6, 7, 7]
    v = tk.get_vocabulary(tk.default_vocabulary_id())
    assert v.classes.dtype.name == "uint8" and len(v.classes) == v.size
    assert v.classes.max() < 8 and len(set(v.classes.tolist())) == 8


def test_set_classes_checks():
    v = tk.get_vocabulary(tk.default_vocabulary_id())
    cfg = presets.model_config(presets.BY_NAME["plus"], v.size)
    m = core.Model(cfg)
    with pytest.raises(StateSMixError):
        m.set_classes(v.classes[:-1])              # wrong length
    bad = v.classes.copy()
    bad[5] = 8
    with pytest.raises(StateSMixError):
        m.set_classes(bad)                         # class out of range
    m.set_classes(v.classes)


def test_classes_change_the_coding(monkeypatch):
    """The decoder must use the same classes as the encoder: other classes
    give another stream (and the real ones round-trip)."""
    data = make_text(20000, seed=5)
    real = statesmix.compress(data, preset="ngram-plus", threads=1)
    v = tk.get_vocabulary(tk.default_vocabulary_id())
    monkeypatch.setattr(type(v), "classes", property(lambda self: np.zeros(self.size, np.uint8)))
    assert statesmix.compress(data, preset="ngram-plus", threads=1) != real
    monkeypatch.undo()
    assert statesmix.decompress(real) == data


@pytest.mark.parametrize("components", [1 | MIX, 1 | 2 | MIX, 1 | 2 | MIX | NO_CLASS | NO_SSE])
def test_learned_mixing_without_ngrams(components):
    data = make_text(12000, seed=9) + bytes(range(256))
    out = _compress_with(components, data)
    assert statesmix.decompress(out) == data


@pytest.mark.parametrize("preset", ["ngram-plus", "plus"])
def test_mixer_gradient_matches_finite_differences(preset):
    """Every weight the mixer would update at the next position: its analytic
    gradient of -log p(y), E_p[f] - f[y], against central differences of the
    loss of the logits the mixer produces (float logits: a small absolute
    tolerance)."""
    from statesmix._core import ffi, lib
    v = tk.get_vocabulary(tk.default_vocabulary_id())
    m = core.Model(presets.model_config(presets.BY_NAME[preset], v.size))
    m.set_classes(v.classes)
    m.encode_block(v.encode(make_text(30000, seed=2)).astype(np.int32))
    cap = 400
    ana, num = np.zeros(cap), np.zeros(cap)
    for y in (0, 3, m.live // 2, m.live - 1):
        n = lib.ssx_test_mixer_check(m._m, y, 1e-3, ffi.from_buffer("double[]", ana),
                                     ffi.from_buffer("double[]", num), cap)
        assert 100 < n < cap
        assert np.abs(ana[:n]).max() > 0.5           # the check has something to see
        np.testing.assert_allclose(ana[:n], num[:n], rtol=1e-3, atol=1e-3)


def test_rank_add_kernel_at_every_level():
    """The mixer's cache term (kernel rank_add): x[i] + w[bucket] where the
    rank is >= 0 (bucket 0 for rank 0, else 1 + floor(log2 rank)), x untouched
    elsewhere, the same bits at every kernel level; ranks cover every bucket
    of the cache, and the length leaves a remainder past the vector width."""
    from statesmix._core import ffi, lib
    rng = np.random.default_rng(11)
    n = 8 * 40 + 5
    x0 = rng.normal(0, 3, n).astype(np.float32)
    x0[:3] = [0.0, -0.0, 1e-30]
    rank = rng.integers(-1, 8192, n).astype(np.int32)
    rank[:24] = [-1, 0, -0, 1, 2, 3, 4, 7, 8, 127, 128, 255, 256, 4095, 4096, 8191,
                 -1, -1, 0, 5, 6, 1000, 2047, 2048]
    w = rng.normal(0, 1, 16).astype(np.float32)
    bucket = np.where(rank > 0, np.floor(np.log2(np.maximum(rank, 1))).astype(int) + 1, 0)
    want = np.where(rank >= 0, x0 + w[bucket], x0).astype(np.float32)
    was = core.simd_enabled()
    try:
        for level in range(core.simd_available() + 1):
            core.set_simd(level)
            x = x0.copy()
            lib.ssx_test_rank_add(ffi.from_buffer("float[]", x), ffi.from_buffer("int32_t[]", rank),
                                  n, ffi.from_buffer("float[]", w))
            assert x.tobytes() == want.tobytes(), level
    finally:
        core.set_simd(was)


def test_follow_sums_kernel_at_every_level():
    """The sums over a context's followers that the mixer's update needs
    (kernel follow_sums, follow.h): each a double sum in follower order, the
    same bits at every kernel level as a sequential float64 reference; e
    spread over many binades (so that the order of the additions shows),
    the fixed entry in and out of the list, counts on every bucket's edge
    and past the log table, every rank bucket and the runs between them."""
    from statesmix._core import ffi, lib
    rng = np.random.default_rng(11)
    ntab = lib.ssx_test_follow_logtab()
    logtab = np.log(np.maximum(np.arange(ntab), 1)).astype(np.float32)
    V = 700

    def count_bucket(c):
        return sum(int(c > t) for t in (1, 2, 3, 5, 8, 15, 31))

    def rank_bucket(i):
        return min(i, 5) + sum(int(i > t) for t in (6, 10, 20, 50))

    f32 = np.float32
    was = core.simd_enabled()
    try:
        for n in (0, 1, 6, 51, 8 * 17 + 3):
            tok = rng.permutation(V)[:n].astype(np.int32)
            cnt = rng.integers(1, 40, n).astype(np.uint32)
            edge = [1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 31, 32, 33, ntab - 1, ntab, 2 ** 32 - 1, 7, 7]
            cnt[:min(n, len(edge))] = edge[:n]
            cls = rng.integers(0, 8, V).astype(np.uint8)
            e = np.exp(rng.normal(0, 12, V)).astype(np.float32)
            ln, cm = f32(5.25), 7
            pairs = np.empty(2 * n, np.int32)
            pairs[0::2] = tok
            pairs[1::2] = cnt.view(np.int32)
            for fix in ((int(tok[n // 2]) if n else -1), V - 1 if V - 1 not in tok else -1, -1):
                efix = f32(0.375)
                ei = el = et = 0.0
                ec, er, e6 = [0.0] * 8, [0.0] * 10, [0.0] * 8
                for i in range(n):
                    t, c = int(tok[i]), int(cnt[i])
                    lg = logtab[c] if c < ntab else f32(np.log(c))
                    l, q = float(f32(lg - ln)), float(efix if t == fix else e[t])
                    ei += q
                    el += q * l
                    e6[cls[t]] += q
                    ec[count_bucket(c)] += q
                    er[rank_bucket(i)] += q
                    if c == cm:
                        et += q
                want = np.array([ei, el, et] + ec + er + e6)
                for level in range(core.simd_available() + 1):
                    core.set_simd(level)
                    out = np.full(len(want), np.nan)
                    lib.ssx_test_follow_sums(
                        ffi.from_buffer("double[]", out), ffi.from_buffer("int32_t[]", pairs), n,
                        ffi.from_buffer("float[]", e), fix, float(efix),
                        ffi.from_buffer("uint8_t[]", cls), float(ln), cm,
                        ffi.from_buffer("float[]", logtab))
                    assert out.tobytes() == want.tobytes(), (level, n, fix)
    finally:
        core.set_simd(was)


def test_follow_add_kernel_at_every_level():
    """The n-gram followers' terms (kernel follow_add, follow.h): for each
    follower whose token is in [v0, v0 + span), x[t] += v, v built one
    rounded float step at a time (log count from the table, or computed past
    it; class, count bucket, most frequent, recency rank), the same bits at
    every kernel level; tokens in and out of the range, counts on every
    bucket's edge and past the table, every rank bucket, a tail past the
    vector width, with and without the shape terms."""
    from statesmix._core import ffi, lib
    rng = np.random.default_rng(5)
    ntab = lib.ssx_test_follow_logtab()
    logtab = np.log(np.maximum(np.arange(ntab), 1)).astype(np.float32)
    V, n = 600, 8 * 12 + 5
    tok = rng.permutation(V)[:n].astype(np.int32)  # a context lists a token once
    cnt = rng.integers(1, 40, n).astype(np.uint32)
    cnt[:16] = [1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 31, 32, ntab - 1, 7, 7, 1]
    cnt[40] = ntab                    # a block with a count past the table ...
    cnt[n - 2] = 2 ** 32 - 1          # ... and one in the tail
    cls = rng.integers(0, 8, V).astype(np.uint8)
    w = rng.normal(0, 1, 30).astype(np.float32)
    w[2] = abs(w[2]) + 3.0            # ln: the log of the context's total
    cm = 7
    pairs = np.empty(2 * n, np.int32)
    pairs[0::2] = tok
    pairs[1::2] = cnt.view(np.int32)

    def count_bucket(c):
        return sum(int(c > t) for t in (1, 2, 3, 5, 8, 15, 31))

    def rank_bucket(i):
        return min(i, 5) + sum(int(i > t) for t in (6, 10, 20, 50))

    f32 = np.float32
    x0 = rng.normal(0, 2, V).astype(np.float32)
    was = core.simd_enabled()
    try:
        for shape in (1, 0):
            for v0, span in ((0, V), (137, 250), (300, 300), (0, 1), (V, 5)):
                want = x0.copy()
                for i in range(n):
                    t, c = int(tok[i]), int(cnt[i])
                    if not v0 <= t < v0 + span:
                        continue
                    lg = logtab[c] if c < ntab else f32(np.log(c))
                    v = f32(w[0] + f32(w[1] * f32(lg - w[2])))
                    v = f32(v + w[4 + cls[t]])
                    if shape:
                        v = f32(v + w[12 + count_bucket(c)])
                        if c == cm:
                            v = f32(v + w[3])
                        v = f32(v + w[20 + rank_bucket(i)])
                    want[t] = f32(want[t] + v)
                assert (want != x0).any() or span < 250  # the check has something to see
                for level in range(core.simd_available() + 1):
                    core.set_simd(level)
                    x = x0.copy()
                    lib.ssx_test_follow_add(
                        ffi.from_buffer("float[]", x), ffi.from_buffer("int32_t[]", pairs), n,
                        v0, span, ffi.from_buffer("uint8_t[]", cls), ffi.from_buffer("float[]", w),
                        cm, shape, ffi.from_buffer("float[]", logtab))
                    assert x.tobytes() == want.tobytes(), (level, shape, v0, span)
    finally:
        core.set_simd(was)
