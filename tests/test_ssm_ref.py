"""Tests of the float64 numpy reference model (tests/ssm_ref.py).

The gradient checks use central finite differences (h = 1e-6) of the chunk loss
with the chunk's start state held FIXED; agreement therefore also shows that the
analytic gradient is the truncated-BPTT one (no term through the start state).
"""

import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ssm_ref as R  # noqa: E402

FD_H = 1e-6
REL_TOL = 1e-5
# Central differences of an O(1) float64 loss carry ~1e-16*|L|/h ~ 1e-10 of
# roundoff noise, so an entry whose gradient is itself < ~1e-5 cannot reach a
# 1e-5 relative error.  Such entries must instead agree to ABS_FLOOR (~10x the
# observed noise, which is <= ~5e-10 at the real sizes).  Every group must
# additionally pass a group-level relative error check (norm of the difference
# over the sum of norms) and contain at least one entry with |grad| >= 1e-4
# that passes the plain relative test, so no group check is vacuous.
ABS_FLOOR = 2e-9
GROUP_TOL = 1e-6

SMALL = dict(DM=8, DI=16, DS=4, DC=4, NL=2)


def rel_err(a, b):
    return abs(a - b) / max(1e-8, abs(a) + abs(b))


def randomize(params, rng, wscale):
    """Replace the init values by generic random values (so every nonlinearity
    is exercised and gradients are well above the FD noise floor)."""
    p = {}
    for k, a in params.items():
        if k.endswith(('ln_g', '.D')) or k == 'lnf_g':
            p[k] = 1.0 + 0.3 * rng.standard_normal(a.shape)
        elif k.endswith('A_log'):
            p[k] = a + 0.3 * rng.standard_normal(a.shape)
        elif k.endswith(('ln_b', 'conv_b', 'dt_b')) or k == 'lnf_b':
            p[k] = 0.3 * rng.standard_normal(a.shape)
        else:
            p[k] = wscale * rng.standard_normal(a.shape)
    return p


def random_state(params, rng, scale=1.0):
    s = R.zero_state(params)
    return {'h': scale * rng.standard_normal(s['h'].shape),
            'conv': scale * rng.standard_normal(s['conv'].shape)}


def fd_entry(params, key, idx, loss_fn, h=FD_H):
    orig = params[key][idx]
    params[key][idx] = orig + h
    lp = loss_fn(params)
    params[key][idx] = orig - h
    lm = loss_fn(params)
    params[key][idx] = orig
    return (lp - lm) / (2.0 * h)


def check_fd(params, grads, loss_fn, picks):
    """picks: dict key -> list of index tuples.  Asserts agreement."""
    bad = []
    for key, idxs in picks.items():
        an = np.array([grads[key][i] for i in idxs])
        fd = np.array([fd_entry(params, key, i, loss_fn) for i in idxs])
        for i, a, b in zip(idxs, an, fd):
            if not (rel_err(a, b) < REL_TOL or abs(a - b) < ABS_FLOOR):
                bad.append((key, i, a, b, rel_err(a, b)))
        gerr = np.linalg.norm(an - fd) / max(1e-12, np.linalg.norm(an) + np.linalg.norm(fd))
        if gerr > GROUP_TOL:
            bad.append((key, 'group', gerr))
        # the group must not be trivially small (otherwise the check is vacuous)
        strong = [rel_err(a, b) < REL_TOL for a, b in zip(an, fd) if abs(b) >= 1e-4]
        assert strong and all(strong), (key, 'no sizeable entry checked', np.max(np.abs(fd)))
    assert not bad, bad[:10]


def small_setup(seed=0, ve=7, T=5):
    rng = np.random.default_rng(seed)
    p = randomize(R.init_params(ve, rng, **SMALL), rng, 0.4)
    st = random_state(p, rng)
    ti = rng.integers(0, ve, T)
    tg = rng.integers(0, ve, T)
    return p, st, ti, tg, rng


# ----------------------------------------------------------------------------
# finite differences


def test_fd_small_all_entries_every_group():
    p, st, ti, tg, _ = small_setup()
    st0 = R.copy_state(st)
    loss, g = R.loss_and_grads(p, ti, tg, st)
    assert set(g) == set(p) == set(R.param_names(2))
    for k in p:
        assert g[k].shape == p[k].shape and g[k].dtype == np.float64
    fn = lambda q: R.loss_only(q, ti, tg, st)
    assert abs(fn(p) - loss) < 1e-14
    picks = {k: list(np.ndindex(p[k].shape)) for k in p}   # every entry
    check_fd(p, g, fn, picks)
    # the state passed in is never modified
    assert np.array_equal(st['h'], st0['h']) and np.array_equal(st['conv'], st0['conv'])


def test_fd_tree_head_every_entry():
    """The tree head's loss: its gradients of every parameter the decisions
    reach (W is not used) and of every decision row, against central
    differences; a row two positions share and a row one path repeats."""
    p, st, ti, _, rng = small_setup(seed=3, T=6)
    dm = p['E'].shape[1]
    rows = {11: rng.standard_normal(dm + 1), 40: rng.standard_normal(dm + 1),
            7: rng.standard_normal(dm + 1)}
    paths = [[(11, 1), (40, 0)], [], [(11, 0), (11, 0), (7, 1)], [(40, 1)], [(7, 0)],
             [(11, 1), (7, 1), (40, 0)]]
    loss, g, rg = R.tree_loss_and_grads(p, ti, paths, rows, st)
    fn = lambda q: R.tree_loss_and_grads(q, ti, paths, rows, st)[0]
    assert abs(fn(p) - loss) < 1e-14
    assert not g['W'].any()
    check_fd(p, g, fn, {k: list(np.ndindex(p[k].shape)) for k in p if k != 'W'})
    for r, w in rows.items():
        fd = np.empty_like(w)
        for i in range(w.size):
            orig = w[i]
            w[i] = orig + FD_H
            lp = fn(p)
            w[i] = orig - FD_H
            lm = fn(p)
            w[i] = orig
            fd[i] = (lp - lm) / (2 * FD_H)
        assert np.abs(rg[r] - fd).max() < 1e-7 * max(1.0, np.abs(fd).max()), r


def test_fd_small_long_chunk_and_repeated_tokens():
    # T=9 > DC so xs values flow from positions fully inside the chunk, and
    # repeated input tokens exercise accumulation into the same E row.
    rng = np.random.default_rng(5)
    ve = 5
    p = randomize(R.init_params(ve, rng, **SMALL), rng, 0.4)
    st = random_state(p, rng, 0.5)
    ti = np.array([1, 1, 3, 1, 0, 3, 3, 2, 1])
    tg = rng.integers(0, ve, len(ti))
    _, g = R.loss_and_grads(p, ti, tg, st, eps=0.3)
    fn = lambda q: R.loss_only(q, ti, tg, st, eps=0.3)
    picks = {}
    for k in p:
        all_idx = list(np.ndindex(p[k].shape))
        sel = rng.choice(len(all_idx), size=min(12, len(all_idx)), replace=False)
        picks[k] = [all_idx[i] for i in sel]
    picks['E'] = [(r, c) for r in (0, 1, 2, 3) for c in range(8)]
    check_fd(p, g, fn, picks)
    assert np.all(g['E'][4] == 0.0)   # token 4 never used as input


def test_fd_real_sizes():
    rng = np.random.default_rng(1)
    ve, T = 50, 8
    p = randomize(R.init_params(ve, rng), rng, 0.15)
    st = random_state(p, rng, 0.5)
    ti = rng.integers(0, ve, T)
    tg = rng.integers(0, ve, T)
    _, g = R.loss_and_grads(p, ti, tg, st)
    fn = lambda q: R.loss_only(q, ti, tg, st)
    picks = {}
    for k in p:
        shape = p[k].shape
        if k == 'E':   # rows actually used as inputs
            picks[k] = [(int(ti[j]), int(rng.integers(0, shape[1]))) for j in range(4)]
        else:
            picks[k] = [tuple(int(rng.integers(0, n)) for n in shape) for _ in range(4)]
        # plus the two entries with the largest analytic gradient (many A_log
        # entries have tiny gradients: exp(Delta*A) ~ 0 for large A_log)
        top = np.argsort(np.abs(g[k]).ravel())[-2:]
        picks[k] += [np.unravel_index(int(i), shape) for i in top]
    check_fd(p, g, fn, picks)


def test_fd_real_sizes_init_params():
    # With the actual test init (weights N(0, 0.02^2)) the gradients of the
    # deep groups are tiny; check the groups that carry sizeable gradients
    # per entry, and every group at the group-norm level with absolute floor.
    rng = np.random.default_rng(2)
    ve, T = 50, 8
    p = R.init_params(ve, rng)
    st = random_state(p, rng, 0.5)
    ti = rng.integers(0, ve, T)
    tg = rng.integers(0, ve, T)
    _, g = R.loss_and_grads(p, ti, tg, st)
    fn = lambda q: R.loss_only(q, ti, tg, st)
    for k in ('W', 'lnf_g', 'lnf_b'):
        idxs = [tuple(int(rng.integers(0, n)) for n in p[k].shape) for _ in range(4)]
        for i in idxs:
            a, b = g[k][i], fd_entry(p, k, i, fn)
            assert rel_err(a, b) < REL_TOL or abs(a - b) < ABS_FLOOR, (k, i, a, b)
    for k in p:
        i = tuple(int(rng.integers(0, n)) for n in p[k].shape)
        if k == 'E':
            i = (int(ti[0]), i[1])
        a, b = g[k][i], fd_entry(p, k, i, fn)
        assert abs(a - b) < ABS_FLOOR or rel_err(a, b) < REL_TOL, (k, i, a, b)


# ----------------------------------------------------------------------------
# truncated BPTT


def test_truncated_bptt_start_state_is_constant():
    """How truncation is tested:

    Two chunks A then B.  The start state of B is S = state after A, which is a
    function of the params.  Full BPTT would give d/dθ L_B(θ, S(θ)); truncated
    BPTT gives d/dθ L_B(θ, S) with S frozen.  We check that loss_and_grads on B
    matches FD of L_B with S frozen (to 1e-5) and that it measurably DIFFERS
    from FD of the composite θ -> L_B(θ, S(θ)) (so the test can tell them
    apart), i.e. no gradient flows into the previous chunk or the start state.
    """
    p, st0, _, _, rng = small_setup(seed=3)
    ve = p['W'].shape[0]
    ta = rng.integers(0, ve, 5)
    tb = rng.integers(0, ve, 5)
    tgb = rng.integers(0, ve, 5)
    _, S, _ = R.forward_chunk(p, ta, st0)
    _, g = R.loss_and_grads(p, tb, tgb, S)

    frozen = lambda q: R.loss_only(q, tb, tgb, S)
    composite = lambda q: R.loss_only(q, tb, tgb, R.forward_chunk(q, ta, st0)[1])

    n_diff = 0
    for k in ('l0.in_w', 'l0.conv_w', 'l0.x_w', 'l0.A_log', 'l1.out_w', 'E'):
        for i in [tuple(int(rng.integers(0, n)) for n in p[k].shape) for _ in range(3)]:
            if k == 'E':
                i = (int(ta[0]), i[1])   # row used in chunk A only if not in B
            a = g[k][i]
            f_frozen = fd_entry(p, k, i, frozen)
            f_full = fd_entry(p, k, i, composite)
            assert rel_err(a, f_frozen) < REL_TOL or abs(a - f_frozen) < ABS_FLOOR
            if abs(f_full - f_frozen) > 1e-6:
                n_diff += 1
                assert abs(a - f_full) > 1e-6
    assert n_diff >= 5


def test_start_state_matters_but_has_no_gradient_entry():
    p, st, ti, tg, rng = small_setup(seed=4)
    loss1, g1 = R.loss_and_grads(p, ti, tg, st)
    loss0, g0 = R.loss_and_grads(p, ti, tg, R.zero_state(p))
    assert abs(loss1 - loss0) > 1e-6          # the state does affect the loss ...
    assert max(np.max(np.abs(g1[k] - g0[k])) for k in p) > 1e-6   # ... and grads
    assert set(g1) == set(p)                  # ... but is not a gradient target
    # perturbing only the conv state / only h both change the loss
    for key in ('h', 'conv'):
        s2 = R.copy_state(st)
        s2[key] = s2[key] + 0.1
        assert abs(R.loss_only(p, ti, tg, s2) - loss1) > 1e-8


def test_embedding_rows_and_head_rows():
    rng = np.random.default_rng(6)
    ve = 9
    p = randomize(R.init_params(ve, rng, **SMALL), rng, 0.4)
    ti = np.array([2, 5, 2, 7])
    tg = np.array([1, 1, 3, 0])
    _, g = R.loss_and_grads(p, ti, tg, random_state(p, rng))
    used = set(ti.tolist())
    for r in range(ve):
        if r in used:
            assert np.any(g['E'][r] != 0)
        else:
            assert np.all(g['E'][r] == 0)
        assert np.any(g['W'][r] != 0)   # softmax: every head row gets gradient


# ----------------------------------------------------------------------------
# forward


def literal_position_forward(params, a, state):
    """Scalar-loop transcription of the spec, independent of the vectorised code."""
    nl = R.num_layers(params)
    h = np.array(state['h'], copy=True)
    conv = np.array(state['conv'], copy=True)
    x = [float(params['E'][a][c]) for c in range(params['E'].shape[1])]
    sig = lambda q: 1.0 / (1.0 + math.exp(-q))

    def ln(x, gn, bn):
        n = len(x)
        mu = sum(x) / n
        var = sum((xi - mu) ** 2 for xi in x) / n
        return [gn[i] * (x[i] - mu) / math.sqrt(var + 1e-5) + bn[i] for i in range(n)]

    for k in range(nl):
        P = lambda n: params[f'l{k}.{n}']
        di, ds = P('A_log').shape
        dc = P('conv_w').shape[1]
        dm = len(x)
        u = ln(x, P('ln_g'), P('ln_b'))
        v = [sum(P('in_w')[r][c] * u[c] for c in range(dm)) for r in range(2 * di)]
        xs, z = v[:di], v[di:]
        window = [list(conv[k][j]) for j in range(dc - 1)] + [xs]
        xconv = [P('conv_b')[i] + sum(P('conv_w')[i][j] * window[j][i] for j in range(dc))
                 for i in range(di)]
        conv[k] = np.array(window[1:])
        xc = [q * sig(q) for q in xconv]
        pp = [sum(P('x_w')[r][i] * xc[i] for i in range(di)) for r in range(2 * ds + 1)]
        B, C, delta = pp[:ds], pp[ds:2 * ds], pp[2 * ds]
        y = []
        for i in range(di):
            Dl = math.log(1.0 + math.exp(delta * P('dt_w')[i] + P('dt_b')[i]))
            for j in range(ds):
                A = -math.exp(P('A_log')[i][j])
                h[k][i][j] = math.exp(Dl * A) * h[k][i][j] + Dl * B[j] * xc[i]
            y.append(sum(h[k][i][j] * C[j] for j in range(ds)) + P('D')[i] * xc[i])
        gg = [y[i] * z[i] * sig(z[i]) for i in range(di)]
        x = [x[c] + sum(P('out_w')[c][i] * gg[i] for i in range(di)) for c in range(dm)]
    xf = ln(x, params['lnf_g'], params['lnf_b'])
    logits = np.array([sum(params['W'][r][c] * xf[c] for c in range(len(xf)))
                       for r in range(params['W'].shape[0])])
    return logits, {'h': h, 'conv': conv}


def test_forward_matches_literal_spec():
    p, st, ti, _, _ = small_setup(seed=7)
    s_lit = R.copy_state(st)
    s_vec = R.copy_state(st)
    for a in ti:
        l_lit, s_lit = literal_position_forward(p, int(a), s_lit)
        l_vec, s_vec = R.forward_step(p, int(a), s_vec)
        np.testing.assert_allclose(l_vec, l_lit, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(s_vec['h'], s_lit['h'], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(s_vec['conv'], s_lit['conv'], rtol=1e-12, atol=1e-12)


def test_forward_chunk_equals_repeated_steps():
    rng = np.random.default_rng(8)
    ve, T = 50, 8
    p = R.init_params(ve, rng)
    st = random_state(p, rng, 0.3)
    st_copy = R.copy_state(st)
    ti = rng.integers(0, ve, T)
    logits, new_state, cache = R.forward_chunk(p, ti, st)
    assert logits.shape == (T, ve) and len(cache) == T
    assert new_state['h'].shape == (R.NL, R.DI, R.DS)
    assert new_state['conv'].shape == (R.NL, R.DC - 1, R.DI)
    s = st
    for t in range(T):
        lt, s = R.forward_step(p, int(ti[t]), s)
        np.testing.assert_array_equal(lt, logits[t])
    np.testing.assert_array_equal(s['h'], new_state['h'])
    np.testing.assert_array_equal(s['conv'], new_state['conv'])
    # splitting the chunk anywhere gives the same result
    l1, s1, _ = R.forward_chunk(p, ti[:3], st)
    l2, s2, _ = R.forward_chunk(p, ti[3:], s1)
    np.testing.assert_array_equal(np.concatenate([l1, l2]), logits)
    np.testing.assert_array_equal(s2['h'], new_state['h'])
    # input state untouched
    np.testing.assert_array_equal(st['h'], st_copy['h'])
    np.testing.assert_array_equal(st['conv'], st_copy['conv'])


def test_conv_state_order_oldest_first():
    # Layer 0's xs depends only on the current token, so after >= DC-1
    # positions the layer-0 conv state is exactly the last DC-1 xs, oldest first.
    rng = np.random.default_rng(9)
    p = R.init_params(11, rng, **SMALL)
    ti = [3, 4, 5, 6, 7]
    _, s, _ = R.forward_chunk(p, ti, random_state(p, rng))
    di = p['l0.D'].shape[0]
    for j, a in enumerate(ti[-3:]):
        u, _, _ = R.layernorm(p['E'][a], p['l0.ln_g'], p['l0.ln_b'])
        np.testing.assert_allclose(s['conv'][0][j], (p['l0.in_w'] @ u)[:di], rtol=1e-13, atol=1e-15)


def test_param_count_and_shapes():
    rng = np.random.default_rng(10)
    for ve in (1, 50, 256):
        p = R.init_params(ve, rng)
        assert sum(a.size for a in p.values()) == 19776 + 2 * ve * R.DM
        assert list(p) == R.param_names(R.NL)
        assert p['l1.x_w'].shape == (2 * R.DS + 1, R.DI)
        assert p['l0.in_w'].shape == (2 * R.DI, R.DM)
        np.testing.assert_allclose(p['l0.A_log'][5], np.log(np.arange(1, R.DS + 1)))
        assert np.all(p['l0.D'] == 1.0) and np.all(p['lnf_b'] == 0.0)


def test_loss_value_uniform_logits():
    # zero head -> uniform softmax -> loss = log(ve) for any eps
    rng = np.random.default_rng(11)
    ve = 13
    p = R.init_params(ve, rng, **SMALL)
    p['W'][:] = 0.0
    ti = rng.integers(0, ve, 4)
    tg = rng.integers(0, ve, 4)
    for eps in (0.0, 0.12, 1.0):
        assert abs(R.loss_only(p, ti, tg, R.zero_state(p), eps=eps) - math.log(ve)) < 1e-12


def test_chunk_loss_hand_value():
    logits = np.array([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]])
    targets = [2, 0]
    eps = 0.12
    want = 0.0
    for t in range(2):
        lse = math.log(sum(math.exp(q) for q in logits[t]))
        lp = [q - lse for q in logits[t]]
        want += -(1 - eps) * lp[targets[t]] - (eps / 3) * sum(lp)
    want /= 2
    loss, dl = R.chunk_loss(logits, targets, eps)
    assert abs(loss - want) < 1e-14
    np.testing.assert_allclose(dl.sum(axis=1), 0.0, atol=1e-15)


def test_entropy_and_mix_scale():
    assert abs(R.entropy(np.zeros(256)) - math.log(256)) < 1e-12
    assert R.entropy(np.array([0.0, -1e4, -1e4])) < 1e-12
    lg = np.array([0.3, -1.2, 2.0, 0.0])
    pr = np.exp(lg) / np.exp(lg).sum()
    assert abs(R.entropy(lg) - (-(pr * np.log(pr)).sum())) < 1e-14
    np.testing.assert_allclose(R.entropy(np.stack([lg, np.zeros(4)])), [R.entropy(lg), math.log(4)])
    assert abs(R.mix_scale(0.0) - 0.4) < 1e-15
    assert abs(R.mix_scale(5.5) - 1.0) < 1e-15
    assert abs(R.mix_scale(2.75) - 0.7) < 1e-15
    assert R.mix_scale(100.0) == 2.5 and R.mix_scale(20.0) == 2.5
    assert abs(R.mix_scale(19.25) - 2.5) < 1e-15 and R.mix_scale(19.0) < 2.5
    assert R.mix_scale(-5.0) == 0.2


# ----------------------------------------------------------------------------
# Adam


def test_adam_hand_computation_with_and_without_clipping():
    lr, b1, b2, e = 0.002, 0.9, 0.999, 1e-8
    params = {'a': np.array([1.0, -2.0]), 'b': np.array([[0.5]])}
    zeros = {'a': np.zeros(2), 'b': np.zeros((1, 1))}
    # gnorm = sqrt(3^2 + 4^2) = 5: exactly at the threshold -> NOT clipped
    g_noclip = {'a': np.array([3.0, 0.0]), 'b': np.array([[4.0]])}
    # gnorm = 10 > 5 -> scaled by 0.5 -> same effective gradient as above
    g_clip = {'a': np.array([6.0, 0.0]), 'b': np.array([[8.0]])}
    # step 1: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2
    want_p = {'a': [1.0 - lr * 3.0 / (3.0 + e), -2.0], 'b': [[0.5 - lr * 4.0 / (4.0 + e)]]}
    want_m = {'a': [0.3, 0.0], 'b': [[0.4]]}
    want_v = {'a': [0.009, 0.0], 'b': [[0.016]]}
    for g in (g_noclip, g_clip):
        p1, m1, v1 = R.adam_step(params, g, zeros, zeros, 1)
        for k in params:
            np.testing.assert_allclose(p1[k], want_p[k], rtol=0, atol=1e-15)
            np.testing.assert_allclose(m1[k], want_m[k], rtol=1e-14)
            np.testing.assert_allclose(v1[k], want_v[k], rtol=1e-14)
    assert params['a'][0] == 1.0   # inputs untouched
    # step 2 (t=2), g = a:[-1, 2], b:[[0]], gnorm = sqrt(5): no clip
    g2 = {'a': np.array([-1.0, 2.0]), 'b': np.array([[0.0]])}
    p2, m2, v2 = R.adam_step(p1, g2, m1, v1, 2)
    # m = 0.9*m1 + 0.1*g2 ; v = 0.999*v1 + 0.001*g2^2
    m_a = [0.27 - 0.1, 0.2]
    v_a = [0.008991 + 0.001, 0.004]
    m_b, v_b = 0.36, 0.015984
    bc1, bc2 = 1 - 0.81, 1 - 0.998001
    want2 = {
        'a': [p1['a'][0] - lr * (m_a[0] / bc1) / (math.sqrt(v_a[0] / bc2) + e),
              -2.0 - lr * (m_a[1] / bc1) / (math.sqrt(v_a[1] / bc2) + e)],
        'b': [[p1['b'][0, 0] - lr * (m_b / bc1) / (math.sqrt(v_b / bc2) + e)]],
    }
    np.testing.assert_allclose(m2['a'], m_a, rtol=1e-13)
    np.testing.assert_allclose(v2['a'], v_a, rtol=1e-13)
    np.testing.assert_allclose(m2['b'], [[m_b]], rtol=1e-13)
    np.testing.assert_allclose(v2['b'], [[v_b]], rtol=1e-13)
    for k in params:
        np.testing.assert_allclose(p2[k], want2[k], rtol=0, atol=1e-15)
    # zero-gradient entries still move when momentum is non-zero (all rows updated)
    p3, _, _ = R.adam_step(p2, {'a': np.zeros(2), 'b': np.zeros((1, 1))}, m2, v2, 3)
    assert np.all(p3['a'] != p2['a']) and p3['b'][0, 0] != p2['b'][0, 0]


def test_adam_clip_uses_global_norm_across_groups():
    # each group alone is under the threshold, together they exceed it
    params = {'a': np.zeros(1), 'b': np.zeros(1)}
    z = {'a': np.zeros(1), 'b': np.zeros(1)}
    g = {'a': np.array([4.0]), 'b': np.array([4.0])}   # gnorm = 4*sqrt(2) > 5
    s = 5.0 / (4.0 * math.sqrt(2.0))
    _, m, v = R.adam_step(params, g, z, z, 1)
    np.testing.assert_allclose(m['a'], [0.1 * 4.0 * s], rtol=1e-14)
    np.testing.assert_allclose(v['b'], [0.001 * (4.0 * s) ** 2], rtol=1e-14)


# ----------------------------------------------------------------------------
# train_chunk


def test_train_chunk():
    rng = np.random.default_rng(12)
    ve = 6
    p = R.init_params(ve, rng, **SMALL)
    st = random_state(p, rng, 0.2)
    ti = rng.integers(0, ve, 6)
    tg = rng.integers(0, ve, 6)
    m, v = R.zeros_like(p), R.zeros_like(p)
    # n=1 equals a manual step
    loss, g = R.loss_and_grads(p, ti, tg, st)
    pm, mm, vm = R.adam_step(p, g, m, v, 1)
    p1, m1, v1, t1, s1 = R.train_chunk(p, m, v, 0, ti, tg, st, 1)
    assert t1 == 1
    for k in p:
        np.testing.assert_array_equal(p1[k], pm[k])
        np.testing.assert_array_equal(m1[k], mm[k])
        np.testing.assert_array_equal(v1[k], vm[k])
    _, s_want, _ = R.forward_chunk(pm, ti, st)
    np.testing.assert_array_equal(s1['h'], s_want['h'])
    np.testing.assert_array_equal(s1['conv'], s_want['conv'])
    # several steps reduce the chunk loss; t advances
    p5, m5, v5, t5, s5, losses = R.train_chunk(p1, m1, v1, t1, ti, tg, st, 20, return_losses=True)
    assert t5 == 21 and len(losses) == 20
    assert R.loss_only(p5, ti, tg, st) < losses[0] - 0.05
    _, s_want, _ = R.forward_chunk(p5, ti, st)
    np.testing.assert_array_equal(s5['h'], s_want['h'])
