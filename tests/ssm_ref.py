"""Float64 numpy reference implementation of the statesmix SSM model.

This module is the independent reference that the C implementation is checked
against.  It is deliberately plain: parameters, gradients, Adam moments and the
recurrent state are dicts of float64 numpy arrays, and every size is inferred
from the array shapes, so tests can use tiny models.

Model (one position, input token a):
    x = E[a]
    for each layer k:
        u  = LN(x; ln_g, ln_b)                     (eps 1e-5, biased variance)
        v  = in_w @ u;  xs = v[:DI];  z = v[DI:]
        window = [conv[k][0], ..., conv[k][DC-2], xs]        (oldest first)
        xconv_i = conv_b_i + sum_j conv_w[i, j] * window[j]_i
        conv[k] = window[1:]
        xc = silu(xconv)
        p  = x_w @ xc;  B = p[:DS];  C = p[DS:2DS];  delta = p[2DS]
        Delta_i = softplus(delta * dt_w_i + dt_b_i)
        A_ij = -exp(A_log_ij)
        h_ij = exp(Delta_i A_ij) h_ij + Delta_i B_j xc_i
        y_i  = sum_j h_ij C_j + D_i xc_i
        g_i  = y_i * silu(z_i)
        x    = x + out_w @ g
    logits = W @ LN(x; lnf_g, lnf_b)

Loss over a chunk (label smoothing eps):
    L = (1/T) sum_t [ -(1-eps) log p_t[b_t] - (eps/ve) sum_v log p_t[v] ]
Gradients are exact backprop through the chunk, with the chunk's start state
treated as a constant (truncated BPTT).
"""

import numpy as np

# Default sizes (the real model).  Functions infer sizes from array shapes.
DM = 32   # model width
DS = 16   # SSM state size per channel
DC = 4    # causal conv width
DI = 64   # inner width
NL = 2    # number of layers

LN_EPS = 1e-5
LABEL_SMOOTH = 0.12

LAYER_KEYS = ('ln_g', 'ln_b', 'in_w', 'conv_w', 'conv_b', 'x_w',
              'dt_w', 'dt_b', 'A_log', 'D', 'out_w')


# ----------------------------------------------------------------------------
# small helpers

def sigmoid(a):
    a = np.asarray(a, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def silu(a):
    return a * sigmoid(a)


def dsilu(a):
    """Derivative of silu(a) = a * sigmoid(a)."""
    s = sigmoid(a)
    return s * (1.0 + a * (1.0 - s))


def softplus(a):
    """log(1 + exp(a)), computed without overflow."""
    return np.logaddexp(0.0, a)


def log_softmax(logits):
    logits = np.asarray(logits, dtype=np.float64)
    mx = np.max(logits, axis=-1, keepdims=True)
    sh = logits - mx
    return sh - np.log(np.sum(np.exp(sh), axis=-1, keepdims=True))


def softmax(logits):
    return np.exp(log_softmax(logits))


def entropy(logits):
    """Entropy (nats) of softmax(logits) along the last axis."""
    lp = log_softmax(logits)
    return -np.sum(np.exp(lp) * lp, axis=-1)


def mix_scale(H):
    """clip(0.4 + 0.6 * H / 5.5, 0.2, 2.5); H is the entropy in nats."""
    return np.clip(0.4 + 0.6 * np.asarray(H, dtype=np.float64) / 5.5, 0.2, 2.5)


def num_layers(params):
    n = 0
    while f'l{n}.ln_g' in params:
        n += 1
    return n


def sizes(params):
    """Return dict of sizes inferred from parameter shapes."""
    ve, dm = params['E'].shape
    di = params['l0.D'].shape[0]
    ds = params['l0.A_log'].shape[1]
    dc = params['l0.conv_w'].shape[1]
    return dict(ve=ve, DM=dm, DI=di, DS=ds, DC=dc, NL=num_layers(params))


def param_names(NL_=NL):
    names = ['E', 'W']
    for k in range(NL_):
        names += [f'l{k}.{n}' for n in LAYER_KEYS]
    names += ['lnf_g', 'lnf_b']
    return names


# ----------------------------------------------------------------------------
# init / state

def init_params(ve, rng, DM=DM, DI=DI, DS=DS, DC=DC, NL=NL):
    """Test initialisation (the C code uses its own generator)."""
    def w(*shape):
        return rng.normal(0.0, 0.02, size=shape)

    def b(*shape):
        return rng.normal(0.0, 0.1, size=shape)

    p = {'E': w(ve, DM), 'W': w(ve, DM)}
    for k in range(NL):
        pre = f'l{k}.'
        p[pre + 'ln_g'] = np.ones(DM)
        p[pre + 'ln_b'] = np.zeros(DM)
        p[pre + 'in_w'] = w(2 * DI, DM)
        p[pre + 'conv_w'] = w(DI, DC)
        p[pre + 'conv_b'] = b(DI)
        p[pre + 'x_w'] = w(2 * DS + 1, DI)
        p[pre + 'dt_w'] = w(DI)
        p[pre + 'dt_b'] = b(DI)
        p[pre + 'A_log'] = np.tile(np.log(np.arange(1, DS + 1, dtype=np.float64)), (DI, 1))
        p[pre + 'D'] = np.ones(DI)
        p[pre + 'out_w'] = w(DM, DI)
    p['lnf_g'] = np.ones(DM)
    p['lnf_b'] = np.zeros(DM)
    return {k: np.asarray(a, dtype=np.float64) for k, a in p.items()}


def zero_state(params):
    s = sizes(params)
    return {'h': np.zeros((s['NL'], s['DI'], s['DS'])),
            'conv': np.zeros((s['NL'], s['DC'] - 1, s['DI']))}


def copy_state(state):
    return {'h': np.array(state['h'], dtype=np.float64, copy=True),
            'conv': np.array(state['conv'], dtype=np.float64, copy=True)}


def zeros_like(params):
    return {k: np.zeros_like(a, dtype=np.float64) for k, a in params.items()}


# ----------------------------------------------------------------------------
# forward

def layernorm(x, g, b, eps=LN_EPS):
    mu = np.mean(x)
    xm = x - mu
    var = np.mean(xm * xm)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xm * rstd
    return g * xhat + b, xhat, rstd


def _layer_forward(params, k, x, h_prev, conv_prev):
    """One layer at one position.  Returns (x_out, h_new, conv_new, cache)."""
    P = lambda n: params[f'l{k}.{n}']
    di = P('D').shape[0]
    ds = P('A_log').shape[1]

    u, xhat, rstd = layernorm(x, P('ln_g'), P('ln_b'))
    v = P('in_w') @ u
    xs = v[:di]
    z = v[di:]
    window = np.concatenate([conv_prev, xs[None, :]], axis=0)      # [DC, DI]
    xconv = P('conv_b') + np.sum(P('conv_w').T * window, axis=0)
    conv_new = window[1:].copy()
    xc = silu(xconv)
    p = P('x_w') @ xc
    B = p[:ds]
    C = p[ds:2 * ds]
    delta = p[2 * ds]
    dt_pre = delta * P('dt_w') + P('dt_b')
    Delta = softplus(dt_pre)
    A = -np.exp(P('A_log'))
    dA = np.exp(Delta[:, None] * A)
    h = dA * h_prev + (Delta * xc)[:, None] * B[None, :]
    y = h @ C + P('D') * xc
    sz = silu(z)
    g = y * sz
    x_out = x + P('out_w') @ g
    cache = dict(x=x, u=u, xhat=xhat, rstd=rstd, z=z, window=window,
                 xconv=xconv, xc=xc, B=B, C=C, delta=delta, dt_pre=dt_pre,
                 Delta=Delta, A=A, dA=dA, h_prev=h_prev, h=h, y=y, sz=sz, g=g)
    return x_out, h, conv_new, cache


def _position_forward(params, a, h, conv):
    """Forward one position; h, conv are [NL,...] arrays (copied, not mutated)."""
    nl = num_layers(params)
    h_new = np.empty_like(h)
    conv_new = np.empty_like(conv)
    x = params['E'][a].astype(np.float64).copy()
    layer_caches = []
    for k in range(nl):
        x, h_new[k], conv_new[k], c = _layer_forward(params, k, x, h[k], conv[k])
        layer_caches.append(c)
    xf, xfhat, frstd = layernorm(x, params['lnf_g'], params['lnf_b'])
    logits = params['W'] @ xf
    cache = dict(a=int(a), layers=layer_caches, xL=x, xf=xf, xfhat=xfhat, frstd=frstd)
    return logits, h_new, conv_new, cache


def forward_step(params, a, state):
    """Single position.  Returns (logits [ve], new_state); state not modified."""
    logits, h, conv, _ = _position_forward(params, a, np.asarray(state['h'], dtype=np.float64),
                                           np.asarray(state['conv'], dtype=np.float64))
    return logits, {'h': h, 'conv': conv}


def forward_chunk(params, tokens_in, state):
    """Run positions in order.  Returns (logits [T, ve], new_state, cache)."""
    h = np.array(state['h'], dtype=np.float64, copy=True)
    conv = np.array(state['conv'], dtype=np.float64, copy=True)
    ve = params['W'].shape[0]
    T = len(tokens_in)
    logits = np.empty((T, ve))
    caches = []
    for t, a in enumerate(tokens_in):
        logits[t], h, conv, c = _position_forward(params, a, h, conv)
        caches.append(c)
    return logits, {'h': h, 'conv': conv}, caches


# ----------------------------------------------------------------------------
# loss and backward

def chunk_loss(logits, targets, eps=LABEL_SMOOTH):
    """Label-smoothed cross entropy averaged over positions, and dL/dlogits."""
    logits = np.asarray(logits, dtype=np.float64)
    T, ve = logits.shape
    lp = log_softmax(logits)
    tgt = np.full((T, ve), eps / ve)
    tgt[np.arange(T), np.asarray(targets)] += 1.0 - eps
    loss = -np.sum(tgt * lp) / T
    dlogits = (np.exp(lp) - tgt) / T     # since sum_v tgt[t, v] = 1
    return loss, dlogits


def layernorm_backward(du, xhat, rstd, g):
    """Returns (dx, dg, db) for u = g * xhat + b."""
    dxhat = du * g
    dx = rstd * (dxhat - np.mean(dxhat) - xhat * np.mean(dxhat * xhat))
    return dx, du * xhat, du


def _layer_backward(params, k, c, dx_out, dh_next, dconv_next, grads):
    """Backward of one layer at one position.

    dx_out:     dL/d(x_out) of this layer at this position
    dh_next:    dL/dh (the state this position produces), from later positions
    dconv_next: dL/d(conv state this position produces) [DC-1, DI]
    Accumulates parameter grads into `grads`; returns (dx_in, dh_prev, dconv_prev).
    """
    P = lambda n: params[f'l{k}.{n}']
    G = lambda n: grads[f'l{k}.{n}']
    ds = c['B'].shape[0]

    # residual: x_out = x + out_w @ g
    dx = dx_out.copy()
    G('out_w')[...] += np.outer(dx_out, c['g'])
    dg = P('out_w').T @ dx_out
    # g = y * silu(z)
    dy = dg * c['sz']
    dz = dg * c['y'] * dsilu(c['z'])
    # y = h @ C + D * xc
    dh = dh_next + np.outer(dy, c['C'])
    dC = c['h'].T @ dy
    G('D')[...] += dy * c['xc']
    dxc = dy * P('D')
    # h = dA * h_prev + Delta * xc * B
    ddA = dh * c['h_prev']
    dh_prev = dh * c['dA']
    t_dA = ddA * c['dA']                      # d/d(Delta_i A_ij) of exp(.)
    dDelta = np.sum(t_dA * c['A'], axis=1)
    G('A_log')[...] += (t_dA * c['Delta'][:, None]) * c['A']   # dA/dA_log = A
    dhB = dh @ c['B']
    dDelta += c['xc'] * dhB
    dxc += c['Delta'] * dhB
    dB = dh.T @ (c['Delta'] * c['xc'])
    # Delta = softplus(delta * dt_w + dt_b)
    dpre = dDelta * sigmoid(c['dt_pre'])
    G('dt_w')[...] += dpre * c['delta']
    G('dt_b')[...] += dpre
    ddelta = np.dot(dpre, P('dt_w'))
    # p = x_w @ xc
    dp = np.concatenate([dB, dC, [ddelta]])
    G('x_w')[...] += np.outer(dp, c['xc'])
    dxc += P('x_w').T @ dp
    # xc = silu(xconv); xconv = conv_b + sum_j conv_w[:, j] * window[j]
    dxconv = dxc * dsilu(c['xconv'])
    G('conv_b')[...] += dxconv
    G('conv_w')[...] += (dxconv[None, :] * c['window']).T
    dwindow = P('conv_w').T * dxconv[None, :]           # [DC, DI]
    dwindow[1:] += dconv_next                           # conv_new = window[1:]
    dxs = dwindow[-1]
    dconv_prev = dwindow[:-1]
    # v = in_w @ u
    dv = np.concatenate([dxs, dz])
    G('in_w')[...] += np.outer(dv, c['u'])
    du = P('in_w').T @ dv
    dxl, dlg, dlb = layernorm_backward(du, c['xhat'], c['rstd'], P('ln_g'))
    G('ln_g')[...] += dlg
    G('ln_b')[...] += dlb
    dx += dxl
    return dx, dh_prev, dconv_prev


def _backprop(params, caches, dxfs, state):
    """Gradients of every parameter from the gradients of the final features
    (dxfs[t], position t), through the chunk in reverse (truncated BPTT)."""
    grads = zeros_like(params)
    nl = num_layers(params)
    dh = np.zeros_like(np.asarray(state['h'], dtype=np.float64))
    dconv = np.zeros_like(np.asarray(state['conv'], dtype=np.float64))
    for t in range(len(caches) - 1, -1, -1):
        c = caches[t]
        dx, dg, db = layernorm_backward(dxfs[t], c['xfhat'], c['frstd'], params['lnf_g'])
        grads['lnf_g'] += dg
        grads['lnf_b'] += db
        for k in range(nl - 1, -1, -1):
            dx, dh[k], dconv[k] = _layer_backward(params, k, c['layers'][k], dx,
                                                  dh[k], dconv[k], grads)
        grads['E'][c['a']] += dx
    # dh, dconv now hold dL/d(start state); discarded (truncated BPTT).
    return grads


def loss_and_grads(params, tokens_in, targets, state, eps=LABEL_SMOOTH):
    """Chunk loss and exact gradients (truncated BPTT: start state is constant)."""
    if len(tokens_in) == 0 or len(tokens_in) != len(targets):
        raise ValueError('need 1 <= len(tokens_in) == len(targets)')
    logits, _, caches = forward_chunk(params, tokens_in, state)
    loss, dlogits = chunk_loss(logits, targets, eps)
    dxfs = [params['W'].T @ dlogits[t] for t in range(len(tokens_in))]
    grads = _backprop(params, caches, dxfs, state)
    for t, c in enumerate(caches):
        grads['W'] += np.outer(dlogits[t], c['xf'])
    return loss, grads


def tree_loss_and_grads(params, tokens_in, paths, rows, state):
    """The tree head (SSX_SSM_TREE): position t took the binary decisions
    paths[t] = [(row, bit), ...], each predicted by sigma(z), z = w . xf_t + b
    with rows[row] = [w..., b].  Loss: the mean over positions of the summed
    cross-entropies.  Returns (loss, grads of params (W unused), grads of the
    rows: a dict row -> array)."""
    _, _, caches = forward_chunk(params, tokens_in, state)
    T = len(tokens_in)
    loss = 0.0
    dxfs = []
    row_grads = {}
    for t, c in enumerate(caches):
        dxf = np.zeros_like(c['xf'])
        for row, bit in paths[t]:
            w = np.asarray(rows[row], dtype=np.float64)
            z = w[:-1] @ c['xf'] + w[-1]
            loss += np.logaddexp(0.0, -z if bit else z) / T
            g = (sigmoid(z) - bit) / T
            dxf += g * w[:-1]
            rg = row_grads.setdefault(row, np.zeros_like(w))
            rg[:-1] += g * c['xf']
            rg[-1] += g
        dxfs.append(dxf)
    return loss, _backprop(params, caches, dxfs, state), row_grads


def loss_only(params, tokens_in, targets, state, eps=LABEL_SMOOTH):
    logits, _, _ = forward_chunk(params, tokens_in, state)
    return chunk_loss(logits, targets, eps)[0]


# ----------------------------------------------------------------------------
# optimiser

def adam_step(params, grads, m, v, t, lr=0.002, b1=0.9, b2=0.999, eps=1e-8, clip=5.0):
    """One Adam step with global-norm clipping.  t is the 1-based step count.

    Returns (new_params, new_m, new_v); inputs are not modified.
    """
    gnorm = np.sqrt(sum(float(np.sum(np.square(g))) for g in grads.values()))
    scale = clip / gnorm if gnorm > clip else 1.0
    new_p, new_m, new_v = {}, {}, {}
    for k in params:
        g = grads[k] * scale
        mk = b1 * m[k] + (1.0 - b1) * g
        vk = b2 * v[k] + (1.0 - b2) * g * g
        mhat = mk / (1.0 - b1 ** t)
        vhat = vk / (1.0 - b2 ** t)
        new_p[k] = params[k] - lr * mhat / (np.sqrt(vhat) + eps)
        new_m[k] = mk
        new_v[k] = vk
    return new_p, new_m, new_v


def train_chunk(params, m, v, t, tokens_in, targets, state, n_steps, return_losses=False, **adam_kw):
    """n_steps Adam steps on this chunk's loss, each from the same start state.

    t is the number of Adam steps taken so far (0 before the first); each step
    increments it and uses the incremented value for bias correction.
    Returns (params, m, v, t, next_state) where next_state is the state after
    running the chunk forward from `state` with the final params.  With
    return_losses=True a list of the pre-step losses is appended.
    """
    losses = []
    for _ in range(n_steps):
        loss, grads = loss_and_grads(params, tokens_in, targets, state)
        losses.append(loss)
        t += 1
        params, m, v = adam_step(params, grads, m, v, t, **adam_kw)
    _, next_state, _ = forward_chunk(params, tokens_in, state)
    if return_losses:
        return params, m, v, t, next_state, losses
    return params, m, v, t, next_state
