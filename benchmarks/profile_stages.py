"""Where rnnmath.rnn_gradients spends its time, stage by stage, on the benchmark workloads.

``python benchmarks/profile_stages.py [WORKLOADS]`` times each statement of
``rnnmath.gradients.rnn_gradients`` separately (median of many calls, one thread), by calling the
same internal functions in the same order with the same arguments.  It reads package internals
(``rnnmath.gradients._prepare`` and the generated kernels), so it is a diagnostic for whoever
tunes the generated templates, not part of ``make bench``; if those internals change it says so
and stops.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import rnnmath  # noqa: E402

from run import WORKLOADS  # noqa: E402


def median_ms(fn, seconds=0.4, limit=3000):
    fn()
    out, end = [], time.perf_counter() + seconds
    while len(out) < limit:
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        out.append(t1 - t0)
        if t1 > end and len(out) >= 5:
            break
    return 1e3 * float(np.median(out))


def stages(wl):
    try:
        from rnnmath import _generated as gen
        from rnnmath import gradients as G
        from rnnmath import validate as check
        prob = G._prepare(wl.x, wl.U, wl.W, wl.V, None, None, None, "tanh")
        Y = G._labels(wl.y, prob, "softmax")
        project = gen.projection_ids if prob.ids else gen.projection_dense
        P = project(prob.x, prob.U, prob.b)
        S = gen.forward_tanh(P, prob.W, prob.s0)
        Z = gen.logits(S, prob.V, prob.c)
        _, DO = G._loss(Z, Y, None, "softmax")
        k = check.truncate(wl.truncate)
        DL = gen.backward(gen.fprime_tanh(S), DO, prob.W, prob.V, k)
    except (AttributeError, TypeError, ImportError) as e:
        raise SystemExit(f"rnnmath's internals changed ({e}); update this diagnostic")
    in_grad = ((lambda: gen.input_gradient_ids(prob.x, DL, prob.U.shape[1])) if prob.ids
               else (lambda: gen.input_gradient_dense(prob.x, DL)))
    return {
        "validation (_prepare, _labels, truncate)":
            lambda: (G._labels(wl.y, G._prepare(wl.x, wl.U, wl.W, wl.V, None, None, None, "tanh"),
                               "softmax"), check.truncate(wl.truncate)),
        "projection (hoisted U x + b)": lambda: project(prob.x, prob.U, prob.b),
        "forward time loop": lambda: gen.forward_tanh(P, prob.W, prob.s0),
        "logits": lambda: gen.logits(S, prob.V, prob.c),
        "softmax + cross-entropy": lambda: G._loss(Z, Y, None, "softmax"),
        "backward (F, G, loop or lags)": lambda: gen.backward(gen.fprime_tanh(S), DO, prob.W, prob.V, k),
        "parameter_gradients (dV dc dW db ds0)": lambda: gen.parameter_gradients(S, DO, DL, prob.W),
        "input gradient dU": in_grad,
    }


def main(argv):
    names = argv[0] if argv else "ABCD"
    for wl in WORKLOADS:
        if wl.name not in names:
            continue
        wl.build(seed=ord(wl.name))
        total = median_ms(lambda: rnnmath.rnn_gradients(wl.x, wl.y, wl.U, wl.W, wl.V,
                                                        truncate=wl.truncate))
        print(f"\n[{wl.name}] {wl.describe()}: rnn_gradients {total:.3f} ms")
        parts = {name: median_ms(fn) for name, fn in stages(wl).items()}
        for name, ms in parts.items():
            print(f"  {ms:9.3f} ms  {100 * ms / total:5.1f}%  {name}")
        print(f"  {sum(parts.values()):9.3f} ms  sum of stages")


if __name__ == "__main__":
    main(sys.argv[1:])
