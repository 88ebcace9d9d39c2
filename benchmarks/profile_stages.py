"""Where rnnmath.rnn_gradients spends its time, stage by stage, on the benchmark workloads.

``python benchmarks/profile_stages.py [WORKLOADS]`` times each statement of
``rnnmath.gradients.rnn_gradients`` separately (median of many calls, one thread), by calling the
same internal functions in the same order with the same arguments: validation, the cell's
forward kernel, the output head (logits, loss, its backward), the cell's backward kernel and the
result test.  It reads package internals (``rnnmath.gradients``, the cell's generated module,
``heads._logits``), so it is a diagnostic for whoever tunes the engine, not part of ``make bench``
(which times the whole call against the bare kernels); if those internals change it says so and
stops (tests/test_profile_stages.py calls every stage once).

Each stage is timed in a tight loop, where its data and code stay in the caches; inside the
call, right after the kernels ran, the small stages cost two to three times as much, so the
stages add up to less than the call.
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
    """The statements of rnn_gradients, each callable on its own with its real inputs."""
    try:
        from rnnmath import cells, heads
        from rnnmath import gradients as G
        from rnnmath import validate as check

        def validation():
            with check.quiet():  # as rnn_gradients holds it: the weights' dot products
                prob = G._prepare(wl.x, wl.U, wl.W, wl.V, None, None, None, "tanh")
                return prob, G._labels(wl.y, prob, "softmax"), check.truncate(wl.truncate)

        prob, Y, k = validation()
        cell = cells.rnn(prob.activation)
        kernels = cell.kernels
        xb = prob.x if prob.batched else prob.x[:, None]

        def forward():
            return kernels.forward(xb, prob.ids, prob.U, prob.W, prob.b, prob.s0)

        (S,) = forward()
        outputs = S[1:] if prob.batched else S[1:, 0]
        Z = heads._logits(outputs, prob.V, prob.c)
        loss, DO = heads._loss_kernel(Z, Y, None, "softmax")
        du, dV, dc = heads.backward(outputs, DO, prob.V)
        du = du if prob.batched else du[:, None]

        def backward():
            return kernels.backward(xb, prob.ids, S, prob.U, prob.W, prob.b, du, 0.0, truncate=k)

        signals = backward()[3]

        def result_test():
            with check.quiet():
                return G._results_finite(prob, S, loss, DO, signals["a"])

        result_test()
    except (AttributeError, TypeError, ImportError, KeyError, ValueError) as e:
        raise SystemExit(f"rnnmath's internals changed ({e!r}); update this diagnostic")
    return {
        "validation (_prepare, _labels, truncate)": validation,
        "input projection bound (_check_projection)": lambda: G._check_projection(prob, cell),
        "cell forward (generated kernel)": forward,
        "logits (head)": lambda: heads._logits(outputs, prob.V, prob.c),
        "softmax + cross-entropy (head)": lambda: heads._loss_kernel(Z, Y, None, "softmax"),
        "head backward (doutputs, dV, dc)": lambda: heads.backward(outputs, DO, prob.V),
        "cell backward (generated kernel)": backward,
        "result test (three sums of squares, bounds)": result_test,
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
