"""rnnmath's cells and compositions against PyTorch autograd, in float64.

``python benchmarks/compose_torch.py`` (run by ``make bench``) computes the same losses and
gradients twice, with rnnmath's generated kernels wired together through ``backward`` and with
PyTorch autograd, and reports the worst elementwise relative error
``|a - b| / max(|a|, |b|, tiny)`` of every forward result and every gradient:

* every built-in cell alone (vanilla tanh and relu, LSTM, GRU), on dense inputs and token ids,
  one sequence and a batch (also a batch sharing one initial state): outputs, final states, and
  ``backward(fw, doutputs, dfinal)`` with random upstream gradients on both, giving the parameter,
  dense-input and initial-state gradients, with full BPTT and truncated (``truncate=2`` on a
  dense batch, ``truncate=0`` on one sequence of ids; PyTorch differentiates a graph whose errors
  travel back at most k steps, :meth:`TorchCell.run_truncated`).  PyTorch: ``nn.RNN``
  (``bias_hh`` held at zero, rnnmath's vanilla cell has one bias), ``nn.LSTM``, ``nn.GRU``, whose
  layouts rnnmath's LSTM and GRU use;
* the cells of the page "Derive your own cell" built with ``cells.define`` (IndRNN, minimal gated
  unit, peephole LSTM), the same way, against their equations written as explicit torch ops;
* the compositions of docs/composition.md (stacked, bidirectional, encoder-decoder with separate
  weights, min-char-rnn's chunks carrying the state), each against one autograd pass through the
  same network written with torch modules (min-char-rnn: one per chunk, the carried state
  detached).

Writes benchmarks/results_compose_torch.json, benchmarks/results_compose_torch.md and the table
between the compose-torch markers of docs/composition.md.  PyTorch is optional (the ``bench``
extra of pyproject.toml): without it the script says so and exits 0, leaving the results as they
are.  Exits 1 after writing the results if any error is not below ``LIMIT`` (NaN included).
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from rnnmath import cells, heads  # noqa: E402
from rnnmath.derive import cells as described  # noqa: E402
from rnnmath.numeric import relative_error  # noqa: E402

BEGIN, END = "<!-- compose-torch:begin -->", "<!-- compose-torch:end -->"
PAGE = ROOT / "docs/composition.md"
# Two float64 evaluations of the same function in a different order differ by rounding, a few
# units of 1e-16 per operation; 1e-9 is what benchmarks/gated.py also takes as a disagreement.
LIMIT = 1e-9
BUILTIN = ("rnn_tanh", "rnn_relu", "lstm", "gru")
DEFINED = ("indrnn", "mgu", "peephole_lstm")
CELL_SIZES = (7, 3, 4, 5)  # T, B, D, H of the cases of one cell alone


def _torch():
    try:
        import torch
    except Exception:  # not installed, or a broken install
        return None
    return torch


def compare(case: str, ours: dict, theirs: dict) -> dict:
    """Worst error of every gradient; both sides must have computed the same gradients."""
    if set(ours) != set(theirs):
        raise SystemExit(f"{case}: rnnmath gave gradients {sorted(ours)}, PyTorch "
                         f"{sorted(theirs)}")
    return {k: worst(ours[k], theirs[k]) for k in ours}


def worst(ours, theirs) -> float:
    """Largest elementwise relative error of rnnmath's array against PyTorch's tensor."""
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = np.asarray(ours, dtype=float)
    if ours.shape != theirs.shape:
        raise SystemExit(f"shape mismatch: rnnmath {ours.shape}, PyTorch {theirs.shape}")
    return float(relative_error(ours, theirs).max(initial=0.0))


# -- the rnnmath side ---------------------------------------------------------------------------
def init(cell, H, D, rng, scale=0.5):
    """Random parameters (biases included) with the shapes the cell declares."""
    dims = {"H": H, "D": D}

    def size(d):
        return int(np.prod([dims.get(f.strip()) or int(f) for f in d.split("*")]))
    return {k: scale * rng.normal(size=tuple(size(d) for d in s)) for k, s in cell.params.items()}


def define(name):
    """A cell of the page "Derive your own cell" through the public ``cells.define``."""
    d = getattr(described, name)()
    return cells.define(d.name, d.equations, states=d.states, output=d.output, blocks=d.blocks,
                        title=d.title)


def make_cell(name):
    if name in BUILTIN:
        return cells.rnn(name[4:]) if name.startswith("rnn") else getattr(cells, name)()
    return define(name)


# -- the PyTorch side ----------------------------------------------------------------------------
class TorchCell:
    """The same cell in PyTorch: leaves named like rnnmath's parameters, ``run(x, state0)``.

    Built-in cells are torch's own modules (their C++ loops, not a transcription of rnnmath's
    equations); the defined cells are their equations as torch ops, one Python step per time step.
    """

    def __init__(self, torch, name, params, H, D):
        self.torch, self.name, self.H = torch, name, H
        f64 = torch.float64
        if name in BUILTIN:
            if name.startswith("rnn"):
                net = torch.nn.RNN(D, H, nonlinearity=name[4:], dtype=f64)
                names = {"U": "weight_ih", "W": "weight_hh", "b": "bias_ih"}
            else:
                net = getattr(torch.nn, name.upper())(D, H, dtype=f64)
                names = {k: k for k in params}
            with torch.no_grad():
                for ours, theirs in names.items():
                    getattr(net, f"{theirs}_l0").copy_(torch.from_numpy(params[ours]))
                if name.startswith("rnn"):  # the vanilla cell has one bias: hold the other at 0
                    net.bias_hh_l0.zero_()
                    net.bias_hh_l0.requires_grad_(False)
            self.net = net
            self.leaves = {ours: getattr(net, f"{theirs}_l0") for ours, theirs in names.items()}
            self.states = ("h", "c") if name == "lstm" else (("s",) if name.startswith("rnn")
                                                             else ("h",))
        else:
            self.net = None
            self.leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
            self.states = ("h", "c") if name == "peephole_lstm" else ("h",)

    def run(self, x, state0):
        """(outputs, final states) for x (T, D) or (T, B, D) and initial states (H,) or (B, H)."""
        if self.net is not None:
            batched = x.dim() == 3

            def h0(s):
                v = state0[s]
                return (v.expand(x.shape[1], -1) if batched and v.dim() == 1 else v)[None]
            if self.name == "lstm":
                out, (h, c) = self.net(x, (h0("h"), h0("c")))
                return out, {"h": h[0], "c": c[0]}
            out, h = self.net(x, h0(self.states[0]))
            return out, {self.states[0]: h[0]}
        step = getattr(self, f"_step_{self.name}")
        state, outs = dict(state0), []
        for t in range(x.shape[0]):
            state = step(self.leaves, x[t], state)
            outs.append(state["h"])
        return self.torch.stack(outs), state

    def step_all(self, x, prev):
        """One step at every position at once: x (..., D), prev states (..., H) -> new states.

        torch's modules read the positions as a batch of sequences of length 1.
        """
        if self.net is None:
            return getattr(self, f"_step_{self.name}")(self.leaves, x, prev)
        lead = x.shape[:-1]
        inp = x.reshape(1, -1, x.shape[-1])
        flat = {s: v.reshape(1, -1, self.H) for s, v in prev.items()}
        if self.name == "lstm":
            _, (h, c) = self.net(inp, (flat["h"], flat["c"]))
            return {"h": h[0].reshape(lead + (self.H,)), "c": c[0].reshape(lead + (self.H,))}
        _, h = self.net(inp, flat[self.states[0]])
        return {self.states[0]: h[0].reshape(lead + (self.H,))}

    def run_truncated(self, x, state0, k):
        """(outputs, final states) whose graph carries every error back at most k steps.

        The levels of benchmarks/frameworks.py, for any cell: the states are computed without
        gradient tracking, level 0 recomputes every step from the untracked previous states and
        level j from level j - 1's, so what level k outputs at step t depends on the parameters
        through steps t - k .. t only, and on state0 only through step 1.  Every level holds the
        same values.
        """
        torch = self.torch
        with torch.no_grad():
            state, seq = dict(state0), []
            for t in range(x.shape[0]):
                state = self.step_all(x[t], state)
                seq.append(state)
        untracked = {s: torch.stack([st[s] for st in seq]) for s in self.states}

        def shifted(level):  # the previous state of every step: state0, then level[:-1]
            return {s: torch.cat([state0[s].expand(level[s].shape[1:])[None], level[s][:-1]])
                    for s in self.states}
        level = self.step_all(x, shifted(untracked))
        for _ in range(k):
            level = self.step_all(x, shifted(level))
        output = "h" if "h" in level else "s"
        return level[output], {s: v[-1] for s, v in level.items()}

    def _step_indrnn(self, p, x, st):
        return {"h": self.torch.relu(x @ p["W"].T + p["b"] + p["u"] * st["h"])}

    def _step_mgu(self, p, x, st):
        t, h = self.torch, st["h"]
        f = t.sigmoid(x @ p["W_f"].T + h @ p["U_f"].T + p["b_f"])
        g = t.tanh(x @ p["W_h"].T + (f * h) @ p["U_h"].T + p["b_h"])
        return {"h": (1 - f) * h + f * g}

    def _step_peephole_lstm(self, p, x, st):
        t, h, c = self.torch, st["h"], st["c"]
        ai, af, ag, ao = (x @ p["W"].T + h @ p["U"].T + p["b"]).chunk(4, dim=-1)
        i, f = t.sigmoid(ai + p["p_i"] * c), t.sigmoid(af + p["p_f"] * c)
        c = f * c + i * t.tanh(ag)
        o = t.sigmoid(ao + p["p_o"] * c)
        return {"h": o * t.tanh(c), "c": c}


def dense(torch, x, D, grad=False):
    """Token ids as one-hot rows (torch's modules read dense inputs), or rows as a leaf."""
    if np.asarray(x).dtype.kind in "iu":
        return torch.nn.functional.one_hot(torch.tensor(x), D).to(torch.float64)
    return torch.tensor(x, requires_grad=grad)


def torch_head(torch, outputs, y, V, c):
    """Summed softmax cross-entropy over z_t = V h_t + c, like heads.softmax_cross_entropy."""
    z = outputs @ V.T + c
    return torch.nn.functional.cross_entropy(z.reshape(-1, z.shape[-1]),
                                             torch.tensor(y).reshape(-1), reduction="sum")


def leaf(torch, a):
    return torch.tensor(a, requires_grad=True)


def grads(torch, loss, named):
    """{name: dloss/dtensor} in one autograd pass."""
    got = torch.autograd.grad(loss, list(named.values()))
    return dict(zip(named, got))


# -- the cases -----------------------------------------------------------------------------------
def cell_case(torch, name, ids, batched, shared_state0=False, seed=0, truncate=None):
    """One cell alone: forward results and backward with upstream gradients on both outputs."""
    rng = np.random.default_rng(seed)
    T, B, D, H = CELL_SIZES
    cell = make_cell(name)
    params = init(cell, H, D, rng)
    lead = (T, B) if batched else (T,)
    x = rng.integers(0, D, size=lead) if ids else rng.normal(size=lead + (D,))
    s_shape = (B, H) if batched and not shared_state0 else (H,)
    state0 = {s: 0.5 * rng.normal(size=s_shape) for s in cell.states}
    fw = cell.forward(x, params, state0)
    dout = rng.normal(size=fw.outputs.shape)
    dfinal = {s: rng.normal(size=v.shape) for s, v in fw.final.items()}
    g = cell.backward(fw, dout, dfinal, truncate=truncate)

    tc = TorchCell(torch, name, params, H, D)
    xt = dense(torch, x, D, grad=not ids)
    s0 = {s: leaf(torch, v) for s, v in state0.items()}
    out, final = tc.run(xt, s0)
    if truncate is not None:  # same values (compared below), the truncated graph
        out_k, final_k = tc.run_truncated(xt, s0, truncate)
    else:
        out_k, final_k = out, final
    wanted = {**{f"params {k}": v for k, v in tc.leaves.items()},
              **({} if ids else {"x": xt}), **{f"state0 {s}": v for s, v in s0.items()}}
    got = torch.autograd.grad([out_k] + [final_k[s] for s in cell.states], list(wanted.values()),
                              grad_outputs=[torch.tensor(dout)]
                              + [torch.tensor(dfinal[s]) for s in cell.states])
    theirs = dict(zip(wanted, got))
    ours = {**{f"params {k}": v for k, v in g.params.items()}, **({} if ids else {"x": g.x}),
            **{f"state0 {s}": v for s, v in g.state0.items()}}
    if ids and g.x is not None:
        raise SystemExit(f"{name}: g.x should be None for token ids, got {type(g.x).__name__}")
    forward = {"outputs": worst(fw.outputs, out),
               **{f"final {s}": worst(fw.final[s], final[s]) for s in cell.states}}
    label = (f"{'ids' if ids else 'dense x'}, "
             f"{'batch of 3' if batched else 'one sequence'}"
             f"{', state0 (H,) shared by the batch' if shared_state0 else ''}"
             f"{f', truncate={truncate}' if truncate is not None else ''}")
    return {"case": f"{name}: {label}", "group": "built-in cell" if name in BUILTIN
            else "cells.define", "forward": forward,
            "gradients": compare(f"{name}: {label}", ours, theirs)}


def stacked(torch, rng):
    """Two layers: a vanilla RNN over token ids under a GRU, softmax head (page: Stacked)."""
    layer1, layer2 = cells.rnn("tanh"), cells.gru()
    p1, p2 = init(layer1, 5, 4, rng), init(layer2, 3, 5, rng)
    V, c = rng.normal(size=(4, 3)), rng.normal(size=4)
    x, y = rng.integers(0, 4, size=6), rng.integers(0, 4, size=6)
    f1 = layer1.forward(x, p1)
    f2 = layer2.forward(f1.outputs, p2)
    head = heads.softmax_cross_entropy(f2.outputs, y, V, c)
    g2 = layer2.backward(f2, head.doutputs)
    g1 = layer1.backward(f1, g2.x)

    t1, t2 = TorchCell(torch, "rnn_tanh", p1, 5, 4), TorchCell(torch, "gru", p2, 3, 5)
    Vt, ct = leaf(torch, V), leaf(torch, c)
    zero = {"s": torch.zeros(5, dtype=torch.float64), "h": torch.zeros(3, dtype=torch.float64)}
    o1, _ = t1.run(dense(torch, x, 4), {"s": zero["s"]})
    o2, _ = t2.run(o1, {"h": zero["h"]})
    loss = torch_head(torch, o2, y, Vt, ct)
    theirs = grads(torch, loss, {**{f"layer 1: {k}": v for k, v in t1.leaves.items()},
                                 **{f"layer 2: {k}": v for k, v in t2.leaves.items()},
                                 "head: V": Vt, "head: c": ct, "g2.x": o1})
    ours = {**{f"layer 1: {k}": v for k, v in g1.params.items()},
            **{f"layer 2: {k}": v for k, v in g2.params.items()},
            "head: V": head.params["V"], "head: c": head.params["c"], "g2.x": g2.x}
    return ours, theirs, {"loss": worst(head.loss, loss), "layer 1 outputs": worst(f1.outputs, o1),
                          "layer 2 outputs": worst(f2.outputs, o2)}


def bidirectional(torch, rng):
    """A vanilla RNN left to right and an LSTM right to left over dense x (page: Bidirectional)."""
    fwd, bwd = cells.rnn("tanh"), cells.lstm()
    pf, pb = init(fwd, 3, 3, rng), init(bwd, 3, 3, rng)
    V, c = rng.normal(size=(2, 6)), rng.normal(size=2)
    x, y = rng.normal(size=(5, 3)), rng.integers(0, 2, size=5)
    a = fwd.forward(x, pf)
    b = bwd.forward(x[::-1], pb)
    both = np.concatenate([a.outputs, b.outputs[::-1]], axis=-1)
    head = heads.softmax_cross_entropy(both, y, V, c)
    ga = fwd.backward(a, head.doutputs[:, :3])
    gb = bwd.backward(b, head.doutputs[:, 3:][::-1])
    dx = ga.x + gb.x[::-1]

    tf, tb = TorchCell(torch, "rnn_tanh", pf, 3, 3), TorchCell(torch, "lstm", pb, 3, 3)
    Vt, ct, xt = leaf(torch, V), leaf(torch, c), leaf(torch, x)
    z3 = torch.zeros(3, dtype=torch.float64)
    at, _ = tf.run(xt, {"s": z3})
    bt, _ = tb.run(xt.flip(0), {"h": z3, "c": z3})
    loss = torch_head(torch, torch.cat([at, bt.flip(0)], dim=-1), y, Vt, ct)
    theirs = grads(torch, loss, {**{f"forward: {k}": v for k, v in tf.leaves.items()},
                                 **{f"backward: {k}": v for k, v in tb.leaves.items()},
                                 "head: V": Vt, "head: c": ct, "dx": xt})
    ours = {**{f"forward: {k}": v for k, v in ga.params.items()},
            **{f"backward: {k}": v for k, v in gb.params.items()},
            "head: V": head.params["V"], "head: c": head.params["c"], "dx": dx}
    return ours, theirs, {"loss": worst(head.loss, loss), "forward outputs": worst(a.outputs, at),
                          "backward outputs": worst(b.outputs, bt)}


def encoder_decoder(torch, rng):
    """Separate LSTM encoder and decoder, T_x = 6, T_y = 3 (page: Encoder-decoder)."""
    enc, dec = cells.lstm(), cells.lstm()
    pe, pd = init(enc, 3, 4, rng), init(dec, 3, 5, rng)
    V, c = rng.normal(size=(5, 3)), rng.normal(size=5)
    x = rng.integers(1, 4, size=6)
    y = rng.integers(1, 5, size=3)
    y_in = np.concatenate([[0], y[:-1]])
    fe = enc.forward(x, pe)
    fd = dec.forward(y_in, pd, state0=fe.final)
    head = heads.softmax_cross_entropy(fd.outputs, y, V, c)
    gd = dec.backward(fd, head.doutputs)
    ge = enc.backward(fe, None, dfinal=gd.state0)

    te, td = TorchCell(torch, "lstm", pe, 3, 4), TorchCell(torch, "lstm", pd, 3, 5)
    Vt, ct = leaf(torch, V), leaf(torch, c)
    z3 = torch.zeros(3, dtype=torch.float64)
    _, fin = te.run(dense(torch, x, 4), {"h": z3, "c": z3})
    out, _ = td.run(dense(torch, y_in, 5), fin)
    loss = torch_head(torch, out, y, Vt, ct)
    theirs = grads(torch, loss, {**{f"encoder: {k}": v for k, v in te.leaves.items()},
                                 **{f"decoder: {k}": v for k, v in td.leaves.items()},
                                 "head: V": Vt, "head: c": ct,
                                 "gd.state0: h": fin["h"],
                                 "gd.state0: c": fin["c"]})
    ours = {**{f"encoder: {k}": v for k, v in ge.params.items()},
            **{f"decoder: {k}": v for k, v in gd.params.items()},
            "head: V": head.params["V"], "head: c": head.params["c"],
            "gd.state0: h": gd.state0["h"], "gd.state0: c": gd.state0["c"]}
    return ours, theirs, {"loss": worst(head.loss, loss),
                          "encoder final h": worst(fe.final["h"], fin["h"]),
                          "encoder final c": worst(fe.final["c"], fin["c"]),
                          "decoder outputs": worst(fd.outputs, out)}


def min_char_rnn(torch, rng):
    """Four chunks of 25 characters, each starting from the state the previous one ended in.

    Every chunk is compared (gradients stop at the chunk boundary: PyTorch gets the carried state
    detached, as a leaf, so its gradient is the one rnnmath returns as g.state0 and drops).
    """
    rnn = cells.rnn("tanh")
    H, K, L = 8, 6, 25
    p = init(rnn, H, K, rng)
    V, c = rng.normal(size=(K, H)), rng.normal(size=K)
    data = rng.integers(0, K, size=4 * L + 1)
    tr = TorchCell(torch, "rnn_tanh", p, H, K)
    Vt, ct = leaf(torch, V), leaf(torch, c)
    state, tstate = None, torch.zeros(H, dtype=torch.float64)
    ours_all, theirs_all, forward = [], [], {"loss": 0.0, "carried state": 0.0}
    for start in range(0, 4 * L, L):
        x, y = data[start:start + L], data[start + 1:start + L + 1]
        fw = rnn.forward(x, p, state)
        head = heads.softmax_cross_entropy(fw.outputs, y, V, c)
        g = rnn.backward(fw, head.doutputs)
        s0 = tstate.detach().requires_grad_(True)  # the chunk boundary
        out, fin = tr.run(dense(torch, x, K), {"s": s0})
        loss = torch_head(torch, out, y, Vt, ct)
        theirs_all.append(grads(torch, loss, {**{f"rnn: {k}": v for k, v in tr.leaves.items()},
                                              "head: V": Vt, "head: c": ct,
                                              "g.state0": s0}))
        ours_all.append({**{f"rnn: {k}": v for k, v in g.params.items()},
                         "head: V": head.params["V"], "head: c": head.params["c"],
                         "g.state0": g.state0["s"]})
        forward["loss"] = max(forward["loss"], worst(head.loss, loss))
        forward["carried state"] = max(forward["carried state"], worst(fw.final["s"], fin["s"]))
        state, tstate = fw.final, fin["s"]
    ours = {k: np.stack([o[k] for o in ours_all]) for k in ours_all[0]}  # every chunk's
    theirs = {k: torch.stack([t[k] for t in theirs_all]) for k in theirs_all[0]}
    return ours, theirs, forward


# title (in the results file) -> (the page's name for it, the builder)
COMPOSITIONS = {
    "Stacked: vanilla RNN (ids) under a GRU": ("Stacked", stacked),
    "Bidirectional: vanilla RNN and LSTM over dense x": ("Bidirectional", bidirectional),
    "Encoder-decoder: two LSTMs, T_x = 6, T_y = 3": ("Encoder–decoder", encoder_decoder),
    "min-char-rnn: 4 chunks of 25 carrying the state (every chunk)":
        ("min-char-rnn, 4 chunks of 25", min_char_rnn),
}


def composition_case(torch, title, build, seed, label=None):
    ours, theirs, forward = build(torch, np.random.default_rng(seed))
    return {"case": title, "label": label or title, "group": "composition", "forward": forward,
            "gradients": compare(title, ours, theirs)}


def run(torch) -> dict:
    torch.set_num_threads(1)
    cases = []
    for name in BUILTIN + DEFINED:
        for ids in (False, True):
            for batched in (False, True):
                cases.append(cell_case(torch, name, ids, batched, seed=len(cases)))
        cases.append(cell_case(torch, name, True, True, shared_state0=True, seed=len(cases)))
        cases.append(cell_case(torch, name, False, True, seed=len(cases), truncate=2))
        cases.append(cell_case(torch, name, True, False, seed=len(cases), truncate=0))
    for seed, (title, (label, build)) in enumerate(COMPOSITIONS.items()):
        cases.append(composition_case(torch, title, build, seed, label))
    for case in cases:
        values = list(case["forward"].values()) + list(case["gradients"].values())
        case["worst"] = float(np.max(values))  # NaN (a non-finite result) propagates
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "unknown"
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
            "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "limit": LIMIT,
            "cell sizes": dict(zip("TBDH", CELL_SIZES)),
            "error": "max over entries of |a - b| / max(|a|, |b|, 1e-300), float64",
            "cases": cases}


# -- reports -------------------------------------------------------------------------------------
def _e(v: float) -> str:
    return "0" if v == 0 else f"{v:.0e}"


def _errors(d: dict) -> str:
    return " · ".join(f"{k} {_e(v)}" for k, v in d.items())


def markdown(results: dict) -> str:
    """Every case: the worst relative error of each forward result and each gradient."""
    lines = [f"Measured {results['date']}, rnnmath at commit {results['commit']}, PyTorch "
             f"{results['torch']}, NumPy {results['numpy']}, Python {results['python']}. "
             f"Every entry is the worst relative error of rnnmath against PyTorch autograd "
             f"({results['error']}); a case disagrees at {_e(results['limit'])}. Cells alone: "
             + ", ".join(f"{k} = {v}" for k, v in results["cell sizes"].items())
             + "; the compositions have the sizes of docs/composition.md (min-char-rnn: chunks "
             "of 25, H = 8, a vocabulary of 6).", "",
             "| Case | Kind | Forward | Gradients | Worst |", "|---|---|---|---|--:|"]
    for c in results["cases"]:
        lines.append(f"| {c['case']} | {c['group']} | {_errors(c['forward'])} | "
                     f"{_errors(c['gradients'])} | {_e(c['worst'])} |")
    return "\n".join(lines) + "\n"


def by_piece(gradients: dict) -> dict:
    """Worst error per piece of a composition: "layer 1: U" and "layer 1: W" -> "layer 1"."""
    out = {}
    for key, v in gradients.items():
        piece = key.partition(":")[0]
        out[piece] = max(out.get(piece, 0.0), v)
    return out


def page_table(results: dict, indent: str = "    ") -> str:
    """The compositions only, for docs/composition.md (indented like its markers: a fold).

    One line per piece in a cell, and no line break inside a number or a piece's name (a
    non-breaking hyphen and spaces, as HTML entities), so that the table stays readable on a phone.
    """
    def keep(text):
        return text.replace("-", "&#8209;").replace(" ", "&nbsp;")
    lines = [f"Measured {results['date']} with PyTorch {results['torch']}, rnnmath at "
             f"{results['commit']}. Worst relative error over every entry of the forward results "
             "(loss, outputs, states) and of each piece's gradients (all its parameters):", "",
             "| Network | Forward | Gradients |", "|---|--:|---|"]
    for c in results["cases"]:
        if c["group"] == "composition":
            pieces = "<br>".join(keep(f"{k} {_e(v)}") for k, v in by_piece(c["gradients"]).items())
            lines.append(f"| {c['label']} | {keep(_e(max(c['forward'].values())))} | {pieces} |")
    lines.append("")  # the end marker after a blank line, or it would be read as a table row
    return "\n".join(indent + line if line else "" for line in lines)


def write(results: dict, page: Path = PAGE, bench_dir: Path = HERE) -> None:
    """The results file, its markdown table and the table between the page's markers."""
    (bench_dir / "results_compose_torch.json").write_text(json.dumps(results, indent=2) + "\n")
    (bench_dir / "results_compose_torch.md").write_text(markdown(results))
    text = page.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{page.name}: the markers {BEGIN} and {END} are missing")
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    indent = text[text.rindex("\n", 0, stop) + 1:stop]  # the end marker's own indentation
    table = page_table(results, indent)
    page.write_text(text[:start] + "\n" + table + "\n" + indent + text[stop:])


def main(argv) -> int:
    torch = _torch()
    if torch is None:
        print("compose_torch: skipped, PyTorch is not installed (the optional `bench` extra: "
              "pip install torch==2.13.0); results_compose_torch.* left as they are")
        return 0
    results = run(torch)
    for c in results["cases"]:
        print(f"{c['worst']:.1e}  {c['case']}", flush=True)
    bad = [c for c in results["cases"] if not c["worst"] < LIMIT]  # NaN disagrees too
    if "--no-write" not in argv:
        write(results)
        print("wrote benchmarks/results_compose_torch.json, benchmarks/results_compose_torch.md "
              "and the table of docs/composition.md")
    if bad:
        for c in bad:
            worse = {k: v for k, v in {**c["forward"], **c["gradients"]}.items() if not v < LIMIT}
            print(f"DISAGREES with PyTorch: {c['case']}: {_errors(worse)}", file=sys.stderr)
        return 1
    print(f"every case agrees with PyTorch autograd below {LIMIT:.0e}; worst "
          f"{max(c['worst'] for c in results['cases']):.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
