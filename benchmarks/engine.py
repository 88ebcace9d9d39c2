"""Kernels printed from cell descriptions against the previous commit's template kernels.

``python benchmarks/engine.py [--budget SECONDS] [--base COMMIT]`` loads the generated modules of
``--base`` (default: the last commit before the engine, 41905b7) from git into a temporary
package, checks that both give the same gradients (largest difference / largest magnitude < 1e-9),
then times, alternating between the two in rounds so that load from elsewhere hits both alike:

* workloads A-D of benchmarks/run.py (vanilla tanh, gradients, kernels without validation);
* LSTM and GRU at workload A and B sizes;
* per-step overhead: H = 4, T = 20000, one sequence of ids, vanilla against LSTM and GRU;
* the public API (rnn_gradients) against its kernels on A-D;
* sampling one step per call: plain NumPy, ``cell.stepper(params)``, ``cell.step``;
* one user-defined cell (IndRNN from rnnmath.derive.cells.indrnn) through cells.define.

Writes benchmarks/results_engine.json, benchmarks/results_engine.md and the section between the
bench-engine markers of docs/performance.md (not with ``--no-write``).  One BLAS thread.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import rnnmath  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402  (its workload, kernel and public-call closures)
from rnnmath import _cell_gru, _cell_lstm, cells  # noqa: E402
from rnnmath import _generated as gen  # noqa: E402

BASE = "41905b7"


def load_base(commit: str):
    """The previous generated modules as a package ``oldkernels``."""
    tmp = Path(tempfile.mkdtemp(prefix="rnnmath-base-")) / "oldkernels"
    tmp.mkdir()
    (tmp / "__init__.py").write_text("")
    for name in ("_generated.py", "_generated_gated.py"):
        text = subprocess.run(["git", "show", f"{commit}:rnnmath/{name}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
        (tmp / name).write_text(text)
    sys.path.insert(0, str(tmp.parent))
    return (importlib.import_module("oldkernels._generated"),
            importlib.import_module("oldkernels._generated_gated"))


def median_ms(samples):
    return 1e3 * float(np.median(samples))


def race(funcs: dict, budget: float) -> dict:
    """Median milliseconds per call, rounds alternating between the functions."""
    for f in funcs.values():
        f()
    times = {k: [] for k in funcs}
    end = time.perf_counter() + budget * len(funcs)
    gc.disable()
    try:
        while time.perf_counter() < end or min(len(v) for v in times.values()) < 5:
            for k, f in funcs.items():
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return {k: median_ms(v) for k, v in times.items()}


def close(a: dict, b: dict, label: str):
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        scale = max(np.abs(x).max(), np.abs(y).max(), 1e-300)
        if np.abs(x - y).max() / scale > 1e-9:
            raise SystemExit(f"{label}: {k} differs between the old and the new kernels")


# -- vanilla ---------------------------------------------------------------------------------------
def vanilla(old, T, B, D, H, K, ids, truncate, rng):
    """(previous kernels, engine kernels, public call) on one workload.  The engine's kernels
    and the public call are benchmarks/run.py's: the kernel calls rnn_gradients makes, in its
    order, without its checks, and rnn_gradients itself."""
    shape = (T, B) if B > 1 else (T,)
    x = rng.integers(0, D, size=shape) if ids else rng.normal(size=shape + (D,))
    y = rng.integers(0, K, size=shape)
    U, W, V = 0.1 * rng.normal(size=(H, D)), 0.1 * rng.normal(size=(H, H)), 0.1 * rng.normal(size=(K, H))
    wl = run.Workload("", "", T, B, D, H, K, ids, truncate, x, y, U, W, V)
    xb, yb = (x, y) if B > 1 else (x[:, None], y[:, None])
    b, c, s0 = np.zeros(H), np.zeros(K), np.zeros(H)

    def before():
        P = old.projection_ids(xb, U, b) if ids else old.projection_dense(xb, U, b)
        S = old.forward_tanh(P, W, s0)
        Z = old.logits(S, V, c)
        _, DO = old.softmax_cross_entropy_ids(Z, yb, 1.0)
        DL = old.backward(old.fprime_tanh(S), DO, W, V, truncate)
        dV, dc, dW, db, _ = old.parameter_gradients(S, DO, DL, W)
        dU = old.input_gradient_ids(xb, DL, D) if ids else old.input_gradient_dense(xb, DL)
        return {"U": dU, "W": dW, "V": dV, "b": db}

    return before, run.make_kernels(wl)["gradients"][0], run.make_rnnmath(wl)["gradients"][0]


# -- gated -------------------------------------------------------------------------------------------
def gated(old_gated, cell, T, B, D, H, K, rng):
    G = 4 if cell == "lstm" else 3
    x, y = rng.integers(0, D, size=(T, B)), rng.integers(0, K, size=(T, B))
    p = {"weight_ih": 0.1 * rng.normal(size=(G * H, D)), "weight_hh": 0.1 * rng.normal(size=(G * H, H)),
         "bias_ih": 0.1 * rng.normal(size=G * H), "bias_hh": 0.1 * rng.normal(size=G * H)}
    V, c = 0.1 * rng.normal(size=(K, H)), np.zeros(K)
    Y = np.eye(K)[y]
    h0 = np.zeros((B, H))
    mod = _cell_lstm if cell == "lstm" else _cell_gru

    def before():
        o = old_gated
        if cell == "lstm":
            P = o.lstm_projection_ids(x, p["weight_ih"], p["bias_ih"], p["bias_hh"])
            Hs, Cs, I, F, Gg, O = o.lstm_forward(P, p["weight_hh"], h0, h0)
            _, _, DO = o.softmax_cross_entropy(o.logits(Hs, V, c), Y)
            AB, CB1 = o.lstm_backward(Hs, Cs, I, F, Gg, O, DO, p["weight_hh"], V)
            dwhh, dbih, dbhh, *_ = o.lstm_parameter_gradients(Hs, F, DO, AB, CB1, p["weight_hh"])
            return {"weight_ih": o.input_gradient_ids(x, AB, D), "weight_hh": dwhh, "bias_ih": dbih}
        P = o.gru_projection_ids(x, p["weight_ih"], p["bias_ih"])
        Hs, R, Z, N, En = o.gru_forward(P, p["weight_hh"], p["bias_hh"], h0)
        _, _, DO = o.softmax_cross_entropy(o.logits(Hs, V, c), Y)
        XB, EB, HB1 = o.gru_backward(Hs, R, Z, N, En, DO, p["weight_hh"], V)
        dwhh, dbih, dbhh, *_ = o.gru_parameter_gradients(Hs, Z, DO, XB, EB, HB1, p["weight_hh"])
        return {"weight_ih": o.input_gradient_ids(x, XB, D), "weight_hh": dwhh, "bias_ih": dbih}

    def after():
        args = [p[k] for k in mod.PARAMS]
        stored = mod.forward(x, True, *args, *([h0] * len(mod.STATES)))
        _, _, DO = gen.softmax_cross_entropy(gen.logits(stored[0], V, c), Y)
        DO2 = DO.reshape(-1, K)
        du = (DO2 @ V).reshape(T, B, H)
        g, _, _, _ = mod.backward(x, True, *stored, *args, du, *([0.0] * len(mod.STATES)))
        return {k: g[k] for k in ("weight_ih", "weight_hh", "bias_ih")}

    return before, after


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budget", type=float, default=0.6, help="seconds per function per row")
    ap.add_argument("--base", default=BASE)
    ap.add_argument("--no-write", action="store_true", help="leave docs/performance.md alone")
    args = ap.parse_args(argv)
    old, old_gated = load_base(args.base)
    rng = np.random.default_rng(0)
    rows = []
    work = {"A": (25, 1, 65, 100, 65, True, None), "B": (64, 32, 128, 256, 128, False, None),
            "C": (1000, 1, 65, 100, 65, True, None), "D": (100, 1, 65, 100, 65, True, 10)}
    for name, (T, B, D, H, K, ids, k) in work.items():
        before, after, public = vanilla(old, T, B, D, H, K, ids, k, rng)
        close(before(), after(), f"workload {name}")
        t = race({"before": before, "after": after, "public": public}, args.budget)
        rows.append({"row": f"{name}, vanilla tanh", **t})  # sizes: the workload table
        print(rows[-1], flush=True)
    for cell in ("lstm", "gru"):
        for name, (T, B, D, H, K) in {"A": (25, 1, 65, 100, 65), "B": (64, 32, 128, 256, 128)}.items():
            before, after = gated(old_gated, cell, T, B, D, H, K, rng)
            close(before(), after(), f"{cell} {name}")
            rows.append({"row": f"{name}, {cell.upper()}", **race({"before": before, "after": after}, args.budget)})
            print(rows[-1], flush=True)
    # per-step overhead: tiny H, long T
    T, D, H, K = 20000, 8, 4, 8
    b1, a1, _ = vanilla(old, T, 1, D, H, K, True, None, rng)
    bl, al = gated(old_gated, "lstm", T, 1, D, H, K, rng)
    bg, ag = gated(old_gated, "gru", T, 1, D, H, K, rng)
    t = race({"vanilla before": b1, "vanilla after": a1, "LSTM before": bl, "LSTM after": al,
              "GRU before": bg, "GRU after": ag}, args.budget * 2)
    t["LSTM / vanilla (after)"] = t["LSTM after"] / t["vanilla after"]
    t["GRU / vanilla (after)"] = t["GRU after"] / t["vanilla after"]
    rows.append({"row": "per step: H=4, T=20000", **t})
    print(rows[-1], flush=True)
    # sampling: one step per call, 200 steps, against the plain NumPy step a user would write
    H, D = 100, 65
    pv = {"U": 0.1 * rng.normal(size=(H, D)), "W": 0.1 * rng.normal(size=(H, H)), "b": np.zeros(H)}
    vcell = cells.rnn()
    stepper = vcell.stepper(pv)
    Uv, Wv, bv = pv["U"], pv["W"], pv["b"]

    def plain_steps():
        h = np.zeros(H)
        for t in range(200):
            h = np.tanh(Uv[:, t % D] + Wv @ h + bv)
        return h

    def stepper_steps():
        state = None
        for t in range(200):
            state = stepper(t % D, state)
        return state["s"]

    def step_steps():
        state = None
        for t in range(200):
            state = vcell.step(t % D, pv, state)
        return state["s"]

    if not np.allclose(plain_steps(), stepper_steps(), rtol=1e-12, atol=0):
        raise SystemExit("sampling: the stepper differs from the plain NumPy step")
    t = race({"plain NumPy": plain_steps, "cell.stepper(params)": stepper_steps,
              "cell.step(x, params, state)": step_steps}, args.budget)
    t = {k: 1e3 * v / 200 for k, v in t.items()}  # microseconds per step
    t["stepper / plain"] = t["cell.stepper(params)"] / t["plain NumPy"]
    rows.append({"row": "sampling, one step per call, H=100 (us per step)", **t})
    print(rows[-1], flush=True)
    # a user-defined cell through the public API
    from rnnmath.derive.cells import indrnn
    desc = indrnn()
    ind = cells.define("indrnn", desc.equations, states=desc.states)
    T, D, H = 25, 65, 100
    x = rng.integers(0, D, size=T)
    params = {"W": 0.1 * rng.normal(size=(H, D)), "u": 0.5 * rng.random(H), "b": np.zeros(H)}
    du = rng.normal(size=(T, H))

    def user():
        fw = ind.forward(x, params)
        return ind.backward(fw, du)

    def vanilla_public():
        fw = cells.rnn().forward(x, {"U": params["W"], "W": 0.1 * np.eye(H)})
        return cells.rnn().backward(fw, du)

    t = race({"IndRNN (cells.define)": user, "vanilla tanh (cells.rnn)": vanilla_public}, args.budget)
    rows.append({"row": "user-defined cell, A sizes, forward + backward", **t})
    print(rows[-1], flush=True)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "base": args.base,
              "commit": _commit(), "budget_s": args.budget, "rows": rows}
    (HERE / "results_engine.json").write_text(json.dumps(result, indent=1) + "\n")
    text = markdown(result)
    (HERE / "results_engine.md").write_text(text + "\n")
    if not args.no_write:
        write_page(text)
    print(text)


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True)
    return out.stdout.strip() or "unknown"


BEGIN, END = "<!-- bench-engine:begin -->", "<!-- bench-engine:end -->"


def markdown(result: dict) -> str:
    """The comparison as a table: previous kernels, engine kernels, their ratio, the public call."""
    lines = [f"Measured {result['date']}, rnnmath at commit {result['commit']}, against the "
             f"kernels of commit {result['base']}; one BLAS thread, median milliseconds per call, "
             "rounds alternating between the variants of a row.", "",
             "| Row | previous kernels | engine kernels | engine / previous | public call "
             "| public / kernels |", "|---|--:|--:|--:|--:|--:|"]
    for r in result["rows"]:
        if "before" in r:
            pub = (f"{r['public']:.3g} | {r['public'] / r['after']:.2f}" if "public" in r
                   else "– | –")
            lines.append(f"| {r['row']} | {r['before']:.3g} | {r['after']:.3g} | "
                         f"{r['after'] / r['before']:.2f} | {pub} |")
    lines += ["", "| Row | timings (ms, median) |", "|---|---|"]
    for r in result["rows"]:
        if "before" not in r:
            lines.append(f"| {r['row']} | " + ", ".join(f"{k}: {v:.3g}" for k, v in r.items()
                                                        if k != "row") + " |")
    return "\n".join(lines)


def write_page(text: str, page: Path = ROOT / "docs/performance.md"):
    """Replace the section between the bench-engine markers of the performance page."""
    report.replace_section(page, BEGIN, END, text, "The cell engine against the kernels it replaced")

if __name__ == "__main__":
    main()
