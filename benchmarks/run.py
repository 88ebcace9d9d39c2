"""Time rnnmath.rnn_gradients and rnnmath.rnn_forward against other implementations.

``make bench`` (or ``python benchmarks/run.py``) times, in one process and in float64:

* ``rnnmath``: the public functions, validation included, as a user calls them;
* ``rnnmath kernels, no validation``: the generated kernels called as rnn_gradients calls them,
  without its input checks, so that the cost of being generated is measured on its own;
* ``hand-written NumPy``: benchmarks/reference.py, the best BPTT we could write by hand;
* ``seed 000 loop``: benchmarks/seed000.py, the seed's nested loop made runnable;
* ``PyTorch nn.RNN``, ``PyTorch cell loop``, ``JAX scan (jit)``: autograd, only where the
  framework is importable (benchmarks/frameworks.py).

Before anything is timed, every implementation's gradients (and forward states and
probabilities) are compared with rnnmath's: the largest absolute difference of each array,
divided by that array's largest magnitude, must be below 1e-9, or the run stops.

Timing: each (workload, implementation, pass) cell is warmed up, then timed call by call with
``time.perf_counter`` (garbage collector off) in several rounds that alternate between the
implementations of a workload, so a burst of load from elsewhere hits all of them alike.  A cell
gets about ``--budget`` seconds in total (at least ``--min-repeats`` calls, at most
``--max-repeats``); its median and interquartile range are reported.

Outputs: benchmarks/results.json, benchmarks/results.md, and the section of docs/performance.md
between ``<!-- bench:begin -->`` and ``<!-- bench:end -->`` (table and inline SVG plot).
"""
from __future__ import annotations

import argparse
import os
import sys

# Thread counts must be fixed before NumPy (OpenBLAS), PyTorch or XLA start their pools.  One
# thread by default: at these sizes the per-step work is small, and the machine is shared.
def _threads_from_argv() -> int:
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return 1


THREADS = _threads_from_argv()
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)
if THREADS == 1 and "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                               " intra_op_parallelism_threads=1").strip()

import gc  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The rnnmath of this checkout, whatever else the interpreter has installed (an editable install
# of another checkout, for instance): the results record this tree's commit.
sys.path[:0] = [str(ROOT), str(HERE)]

import rnnmath  # noqa: E402

import frameworks  # noqa: E402
import reference  # noqa: E402
import report  # noqa: E402
import seed000  # noqa: E402

TOLERANCE = 1e-9


@dataclass
class Workload:
    name: str
    title: str
    T: int
    B: int            # 1 means an unbatched sequence: x of shape (T,) or (T, D)
    D: int
    H: int
    K: int
    ids: bool
    truncate: int | None = None
    x: np.ndarray = field(default=None, repr=False)
    y: np.ndarray = field(default=None, repr=False)
    U: np.ndarray = field(default=None, repr=False)
    W: np.ndarray = field(default=None, repr=False)
    V: np.ndarray = field(default=None, repr=False)

    @property
    def batched(self) -> bool:
        return self.B > 1

    def describe(self) -> str:
        inputs = "token ids" if self.ids else "dense inputs"
        trunc = f", truncate={self.truncate}" if self.truncate is not None else ""
        return (f"T={self.T}, B={self.B}, {inputs}, D=K={self.D}, H={self.H}{trunc}")

    def build(self, seed: int) -> "Workload":
        """Random float64 parameters and data (a fixed seed per workload)."""
        rng = np.random.default_rng(seed)
        shape = (self.T, self.B) if self.batched else (self.T,)
        self.x = (rng.integers(0, self.D, size=shape) if self.ids
                  else rng.normal(size=shape + (self.D,)))
        self.y = rng.integers(0, self.K, size=shape)
        # Weights scaled so states and errors stay well inside float64's normal range over
        # 1000 steps (subnormal numbers would slow every implementation for the wrong reason).
        self.U = rng.normal(size=(self.H, self.D)) * (0.5 if self.ids else 1 / np.sqrt(self.D))
        self.W = rng.normal(size=(self.H, self.H)) / np.sqrt(self.H)
        self.V = rng.normal(size=(self.K, self.H)) / np.sqrt(self.H)
        return self


WORKLOADS = [
    Workload("A", "min-char-rnn size", T=25, B=1, D=65, H=100, K=65, ids=True),
    Workload("B", "dense batch", T=64, B=32, D=128, H=256, K=128, ids=False),
    Workload("C", "long sequence", T=1000, B=1, D=65, H=100, K=65, ids=True),
    Workload("D", "truncated BPTT", T=100, B=1, D=65, H=100, K=65, ids=True, truncate=10),
]

# --- implementations ---------------------------------------------------------------------------

def _fwd_states(S):
    return S[1:]


def make_rnnmath(wl):
    args = (wl.x, wl.y, wl.U, wl.W, wl.V)

    def gradients():
        return rnnmath.rnn_gradients(*args, truncate=wl.truncate)

    def forward():
        return rnnmath.rnn_forward(wl.x, wl.U, wl.W, wl.V)

    return {"gradients": (gradients, lambda g: {"U": g.dU, "W": g.dW, "V": g.dV, "b": g.db,
                                                 "c": g.dc, "s0": g.ds0}),
            "forward": (forward, lambda f: {"states": f.states[1:], "probs": f.probs})}


def make_kernels(wl):
    """The generated kernels called in the order rnn_gradients calls them, without its input
    validation: what being generated costs, against the hand-written code."""
    from rnnmath import _cell_rnn_tanh as cell
    from rnnmath import _generated as gen
    from rnnmath import heads

    x, y = np.asarray(wl.x), np.asarray(wl.y)
    H, K = wl.W.shape[0], wl.V.shape[0]
    ids = x.dtype.kind in "iu"
    b, c = np.zeros(H), np.zeros(K)
    xb, yb = (x, y) if wl.batched else (x[:, None], y[:, None])
    s0 = np.zeros(H)

    def states():
        (S,) = cell.forward(xb, ids, wl.U, wl.W, b, s0)
        return S, heads._logits(S[1:], wl.V, c)

    def gradients():
        S, Z = states()
        loss, DO = gen.softmax_cross_entropy_ids(Z, yb, 1.0)
        du, dV, dc = heads.backward(S[1:], DO, wl.V)
        grads, _, d0, _ = cell.backward(xb, ids, S, wl.U, wl.W, b, du, 0.0, truncate=wl.truncate)
        ds0 = d0["s"] if wl.batched else d0["s"][0]
        return {"U": grads["U"], "W": grads["W"], "V": dV, "b": grads["b"], "c": dc, "s0": ds0}

    def forward():
        S, Z = states()
        return S, gen.softmax(Z)

    return {"gradients": (gradients, lambda g: g),
            "forward": (forward, lambda f: {"states": (f[0] if wl.batched else f[0][:, 0])[1:],
                                            "probs": f[1] if wl.batched else f[1][:, 0]})}


def make_reference(wl):
    def gradients():
        return reference.gradients(wl.x, wl.y, wl.U, wl.W, wl.V, truncate=wl.truncate)

    def forward():
        return reference.forward(wl.x, wl.U, wl.W, wl.V)

    return {"gradients": (gradients, lambda g: dict(zip(("U", "W", "V", "b", "c", "s0"), g[1:]))),
            "forward": (forward, lambda f: {"states": f[0][1:], "probs": f[2]})}


def make_seed(wl):
    if not wl.ids or wl.batched:
        return None, ("takes one sequence of token ids; workload B's dense batch is not what the "
                      "seed's code computes")

    def gradients():
        return seed000.gradients(wl.x, wl.y, wl.U, wl.W, wl.V, truncate=wl.truncate)

    def forward():
        return seed000.forward(wl.x, wl.U, wl.W, wl.V)

    return ({"gradients": (gradients, lambda g: dict(zip("UWV", g))),
             # s[-1] is the zero state s_0; s[:-1] are s_1..s_T
             "forward": (forward, lambda f: {"states": f[1][:-1], "probs": f[0]})}, None)


# --- checks and timing -------------------------------------------------------------------------

def max_rel_diff(got: dict, want: dict) -> dict:
    """Largest |got - want| over each array, divided by the array's largest |want|."""
    out = {}
    for key, a in got.items():
        b = np.asarray(want[key])
        a = np.asarray(a)
        if a.shape != b.shape:
            raise AssertionError(f"{key}: shape {a.shape}, rnnmath's is {b.shape}")
        scale = np.max(np.abs(b))
        out[key] = float(np.max(np.abs(a - b)) / scale) if scale > 0 else float(np.max(np.abs(a)))
    return out


@dataclass
class Cell:
    workload: str
    impl: str
    kind: str          # "gradients" or "forward"
    call: object
    max_repeats: int
    times: list = field(default_factory=list)
    note: str = ""
    parity: dict = field(default_factory=dict)

    def stats(self) -> dict:
        t = np.asarray(self.times) * 1e3
        q1, med, q3 = np.percentile(t, [25, 50, 75])
        return {"workload": self.workload, "implementation": self.impl, "pass": self.kind,
                "repeats": len(t), "median_ms": float(med), "q1_ms": float(q1),
                "q3_ms": float(q3), "iqr_ms": float(q3 - q1), "min_ms": float(t.min()),
                "note": self.note, "max_rel_diff": self.parity}


def time_calls(call, seconds: float, limit: int) -> list:
    """Time ``call()`` one call at a time for about ``seconds`` (at most ``limit`` calls)."""
    out = []
    clock = time.perf_counter
    gc_was = gc.isenabled()
    gc.disable()
    try:
        end = clock() + seconds
        while len(out) < limit:
            t0 = clock()
            call()
            t1 = clock()
            out.append(t1 - t0)
            if t1 >= end:
                break
    finally:
        if gc_was:
            gc.enable()
    return out


def log(msg: str):
    print(msg, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=float, default=1.5,
                    help="seconds of timing per cell (default 1.5)")
    ap.add_argument("--rounds", type=int, default=4,
                    help="rounds alternating between implementations (default 4)")
    ap.add_argument("--min-repeats", type=int, default=5)
    ap.add_argument("--max-repeats", type=int, default=3000)
    ap.add_argument("--seed-c-repeats", type=int, default=1,
                    help="timed calls of the seed loop's gradients on workload C, whose one call "
                         "takes several seconds (default 1: the checked call is the timed one)")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS / PyTorch / XLA threads (default 1)")
    ap.add_argument("--workloads", default="ABCD")
    ap.add_argument("--no-frameworks", action="store_true", help="skip PyTorch and JAX")
    ap.add_argument("--no-write", action="store_true", help="print only; write no files")
    ap.add_argument("--render-only", action="store_true",
                    help="time nothing: rewrite results.md and the page from results.json")
    args = ap.parse_args(argv)
    if args.render_only:
        import json
        results = json.loads((HERE / "results.json").read_text())
        report.write_all(results, HERE, ROOT / "docs/performance.md")
        log("rewrote benchmarks/results.md and docs/performance.md from benchmarks/results.json")
        return 0

    started = time.time()
    info = report.machine_info(THREADS)
    state = report.rnnmath_state(ROOT)  # before timing: what was imported is what is recorded
    log(f"rnnmath benchmark: {info['cpu']} ({info['cores']} cores), numpy {info['numpy']}, "
        f"{info['blas']}, python {info['python']}, {THREADS} thread(s)")
    cells: list[Cell] = []
    skipped: list[dict] = []
    versions = {}

    for wl in WORKLOADS:
        if wl.name not in args.workloads:
            continue
        wl.build(seed=ord(wl.name))
        log(f"\n[{wl.name}] {wl.describe()}")
        impls = {"rnnmath": make_rnnmath(wl), "rnnmath kernels, no validation": make_kernels(wl),
                 "hand-written NumPy": make_reference(wl)}
        seed_impl, why = make_seed(wl)
        if seed_impl is None:
            skipped.append({"workload": wl.name, "implementation": "seed 000 loop", "why": why})
            log(f"  skip seed 000 loop: {why}")
        else:
            impls["seed 000 loop"] = seed_impl
        if not args.no_frameworks:
            for name, make in (("PyTorch nn.RNN", lambda: frameworks.make_torch(wl, THREADS)),
                               ("PyTorch cell loop",
                                lambda: frameworks.make_torch(wl, THREADS, loop=True)),
                               ("JAX scan (jit)", lambda: frameworks.make_jax(wl, THREADS))):
                made = make()
                if made is None:
                    why = f"{name.split()[0]} is not importable (optional `bench` extra)"
                    skipped.append({"workload": wl.name, "implementation": name, "why": why})
                    log(f"  skip {name}: {why}")
                    continue
                versions[name.split()[0]] = made.pop("version")
                impls[name] = made

        # Parity first: the first call of each is also its warm-up (and JAX's compilation).
        want = {}
        for kind in ("gradients", "forward"):
            call, extract = impls["rnnmath"][kind]
            want[kind] = extract(call())
        for name, impl in impls.items():
            for kind in ("gradients", "forward"):
                call, extract = impl[kind]
                t0 = time.perf_counter()
                out = call()
                first = time.perf_counter() - t0
                diffs = max_rel_diff(extract(out), want[kind])
                worst = max(diffs.values())
                status = "ok" if worst < TOLERANCE else "MISMATCH"
                log(f"  check {kind:9s} {name:20s} max rel diff {worst:.1e} "
                    f"({', '.join(sorted(diffs))}) {status}")
                if worst >= TOLERANCE:
                    raise SystemExit(f"{name} disagrees with rnnmath on workload {wl.name} "
                                     f"({kind}): {diffs}; refusing to time wrong code")
                limit = args.max_repeats
                cell = Cell(wl.name, name, kind, call, limit, parity=diffs)
                if name == "seed 000 loop" and kind == "gradients" and first > 2.0:
                    # Seconds per call (workload C): the checked call counts as the timing.
                    cell.times.append(first)
                    cell.max_repeats = args.seed_c_repeats
                    cell.note = ((f"timed once ({first:.0f} s per call)" if args.seed_c_repeats == 1
                                  else f"{args.seed_c_repeats} calls of about {first:.0f} s")
                                 + ": the nested loop is O(T^2) without truncation")
                else:
                    call()  # one more warm-up call
                cells.append(cell)

        # Timing, in rounds alternating between implementations.
        mine = [c for c in cells if c.workload == wl.name]
        for r in range(args.rounds):
            # Each round starts with a different implementation, and no round may use up a
            # cell's call limit: every round contributes to every median.
            for cell in mine[r % len(mine):] + mine[:r % len(mine)]:
                left = min(cell.max_repeats - len(cell.times),
                           -(-cell.max_repeats * (r + 1) // args.rounds) - len(cell.times))
                if left > 0:
                    cell.times += time_calls(cell.call, args.budget / args.rounds, left)
            done = ", ".join(f"{c.impl}/{c.kind[0]} {np.median(c.times) * 1e3:.3g} ms"
                             for c in mine)
            log(f"  round {r + 1}/{args.rounds}: {done}")
        for c in mine:
            while len(c.times) < min(args.min_repeats, c.max_repeats):
                c.times += time_calls(c.call, 0.0, 1)

    results = report.assemble(info, WORKLOADS, [c.stats() for c in cells], skipped, versions,
                              vars(args), time.time() - started, state)
    log("\n" + report.markdown_table(results))
    if not args.no_write:
        report.write_all(results, HERE, ROOT / "docs/performance.md")
        log(f"wrote benchmarks/results.json, benchmarks/results.md, docs/performance.md "
            f"({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
