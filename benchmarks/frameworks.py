"""Optional comparison rows: PyTorch and JAX autograd on the benchmark's workloads.

Neither framework is needed by the package, its tests or ``make bench``: each ``make_*`` function
returns None when its framework cannot be imported, and the benchmark prints that it skipped it.
(They are the ``bench`` extra of ``pyproject.toml``; PyTorch's CPU wheel is enough.)

Every implementation computes the same model in float64 as :func:`rnnmath.rnn_gradients` called
without biases or initial state: ``b`` and ``c`` are zero-valued leaves whose gradients are
computed (and compared) like the weights'.  Inputs and parameters are converted to framework
tensors once, outside the timed calls; a timed call is one forward pass plus one backward pass
returning ``dU, dW, dV, db, dc`` (JAX: one call of the jit-compiled gradient function, compiled
before timing, with ``block_until_ready``).

Truncated BPTT (``truncate=k``, each ``E_t`` sent back through at most ``k`` earlier steps) is not
one backward pass through the ordinary unrolled graph.  It is here computed exactly with ``k + 1``
*levels*: the states are first computed without gradient tracking, then level 0 recomputes every
state from the (untracked) previous state, and level ``j`` recomputes every state from level
``j - 1``'s previous state, each level for all steps at once.  Every level holds the same values,
and the loss read from level ``k`` has exactly ``k + 1`` terms per output, the seed's semantics.
"""
from __future__ import annotations

import numpy as np


def _torch():
    try:
        import torch
    except Exception:  # not installed, or a broken install: the row is skipped
        return None
    return torch


def make_torch(wl, threads: int, loop: bool = False):
    """Closures for PyTorch: nn.RNN (C++ time loop), or a Python loop of cell steps if ``loop``."""
    torch = _torch()
    if torch is None:
        return None
    torch.set_num_threads(threads)
    F = torch.nn.functional
    f64 = torch.float64
    H, D = wl.U.shape
    K = wl.V.shape[0]
    rnn = torch.nn.RNN(D, H, nonlinearity="tanh", dtype=f64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(wl.U))
        rnn.weight_hh_l0.copy_(torch.from_numpy(wl.W))
        rnn.bias_ih_l0.zero_()
        rnn.bias_hh_l0.zero_()
    rnn.bias_hh_l0.requires_grad_(False)  # nn.RNN's second bias: zero, not differentiated
    U, W, b = rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0
    V = torch.tensor(wl.V, dtype=f64, requires_grad=True)
    c = torch.zeros(K, dtype=f64, requires_grad=True)
    params = [U, W, V, b, c]
    y = torch.tensor(wl.y.reshape(-1), dtype=torch.long)
    if wl.ids:
        ids = torch.tensor(wl.x, dtype=torch.long)
        onehot = F.one_hot(ids, D).to(f64)  # nn.RNN needs dense inputs; built once, untimed
    else:
        xs = torch.tensor(wl.x, dtype=f64)
    h0 = torch.zeros(wl.x.shape[1:2] + (H,) if wl.batched else (H,), dtype=f64)

    def projection():
        return (U.t()[ids] if wl.ids else xs @ U.t()) + b

    def states_rnn():
        return rnn(onehot if wl.ids else xs, h0[None])[0]

    def states_loop():
        P = projection()
        h, out = h0, []
        Wt = W.t()
        for t in range(P.shape[0]):
            h = torch.tanh(P[t] + h @ Wt)
            out.append(h)
        return torch.stack(out)

    states = states_loop if loop else states_rnn

    def states_truncated(k):
        with torch.no_grad():
            S = states()
        P = projection()
        prev = torch.cat([h0[None], S[:-1]])
        level = torch.tanh(P + prev @ W.t())
        for _ in range(k):
            level = torch.tanh(P + torch.cat([h0[None], level[:-1]]) @ W.t())
        return level

    def loss_of(S):
        Z = F.linear(S, V, c)
        return F.cross_entropy(Z.reshape(-1, K), y, reduction="sum")

    T = wl.x.shape[0]
    truncated = wl.truncate is not None and wl.truncate < T - 1

    def gradients():
        S = states_truncated(wl.truncate) if truncated else states()
        return torch.autograd.grad(loss_of(S), params)

    def forward():
        with torch.no_grad():
            S = states()
            Z = F.linear(S, V, c)
            return S, Z, torch.softmax(Z, dim=-1)

    def grad_dict(g):
        return dict(zip("UWVbc", (t.numpy() for t in g)))

    def fwd_dict(out):
        return {"states": out[0].numpy(), "probs": out[2].numpy()}

    return {"gradients": (gradients, grad_dict), "forward": (forward, fwd_dict),
            "version": torch.__version__}


def _jax():
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_platforms", "cpu")
        import jax.numpy as jnp
        from jax import lax
    except Exception:
        return None
    return jax, jnp, lax


def make_jax(wl, threads: int):
    """Closures for JAX: ``jax.jit(jax.grad(loss))`` of a ``lax.scan`` loop, compiled untimed."""
    mods = _jax()
    if mods is None:
        return None
    jax, jnp, lax = mods
    H, D = wl.U.shape
    K = wl.V.shape[0]
    T = wl.x.shape[0]
    truncated = wl.truncate is not None and wl.truncate < T - 1
    k = wl.truncate
    params = tuple(jnp.asarray(a) for a in (wl.U, wl.W, wl.V, np.zeros(H), np.zeros(K)))
    x = jnp.asarray(wl.x)
    y = jnp.asarray(wl.y)
    h0 = jnp.zeros(wl.x.shape[1:2] + (H,) if wl.batched else (H,))

    def projection(U, b, x):
        return (U.T[x] if wl.ids else x @ U.T) + b

    def scan_states(W, P):
        def step(h, p):
            h = jnp.tanh(p + h @ W.T)
            return h, h
        return lax.scan(step, h0, P)[1]

    def states(params, x):
        U, W, V, b, c = params
        P = projection(U, b, x)
        if not truncated:
            return scan_states(W, P)
        S = lax.stop_gradient(scan_states(W, P))
        level = jnp.tanh(P + jnp.concatenate([h0[None], S[:-1]]) @ W.T)
        for _ in range(k):
            level = jnp.tanh(P + jnp.concatenate([h0[None], level[:-1]]) @ W.T)
        return level

    def loss(params, x, y):
        V, c = params[2], params[4]
        Z = states(params, x) @ V.T + c
        logp = jax.nn.log_softmax(Z, axis=-1)
        return -jnp.sum(jnp.take_along_axis(logp, y[..., None], axis=-1))

    def fwd(params, x):
        U, W, V, b, c = params
        S = scan_states(W, projection(U, b, x))
        Z = S @ V.T + c
        return S, Z, jax.nn.softmax(Z, axis=-1)

    grad_fn = jax.jit(jax.grad(loss))
    fwd_fn = jax.jit(fwd)

    def gradients():
        return jax.block_until_ready(grad_fn(params, x, y))

    def forward():
        return jax.block_until_ready(fwd_fn(params, x))

    def grad_dict(g):
        return dict(zip("UWVbc", (np.asarray(t) for t in g)))

    def fwd_dict(out):
        return {"states": np.asarray(out[0]), "probs": np.asarray(out[2])}

    return {"gradients": (gradients, grad_dict), "forward": (forward, fwd_dict),
            "version": jax.__version__}
