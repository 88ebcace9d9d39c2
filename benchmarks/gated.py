"""LSTM and GRU rows: `make bench` times rnnmath.lstm_gradients / gru_gradients at the sizes of
workloads A and B, and PyTorch's nn.LSTM / nn.GRU autograd where PyTorch is installed (same
weights, PyTorch's gate layout, so the gradients are compared entry by entry before timing).

Writes benchmarks/results_gated.json and the table between the bench-gated markers of
docs/performance.md.  Median of repeated single calls, one process, float64, one thread.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import rnnmath  # noqa: E402
import report  # noqa: E402
from run import WORKLOADS, time_calls  # noqa: E402  (one timing loop for every table)

BEGIN, END = "<!-- bench-gated:begin -->", "<!-- bench-gated:end -->"
CELLS = {"LSTM": 4, "GRU": 3}


def params_for(wl, cell, rng):
    G, H, D, K = CELLS[cell], wl.H, wl.D, wl.K
    return {"weight_ih": rng.normal(size=(G * H, D)) / np.sqrt(D),
            "weight_hh": rng.normal(size=(G * H, H)) / np.sqrt(H),
            "bias_ih": 0.1 * rng.normal(size=G * H), "bias_hh": 0.1 * rng.normal(size=G * H),
            "V": rng.normal(size=(K, H)) / np.sqrt(H), "c": 0.1 * rng.normal(size=K)}


def rnnmath_call(wl, cell, params):
    f = rnnmath.lstm_gradients if cell == "LSTM" else rnnmath.gru_gradients
    return lambda: f(wl.x, wl.y, params)


def torch_call(wl, cell, params):
    """PyTorch autograd of the same model, or None when PyTorch is not installed."""
    try:
        import torch
    except Exception:
        return None
    torch.set_num_threads(1)
    f64, F = torch.float64, torch.nn.functional
    H, D = wl.H, wl.D
    net = (torch.nn.LSTM if cell == "LSTM" else torch.nn.GRU)(D, H, dtype=f64)
    with torch.no_grad():
        for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(net, f"{key}_l0").copy_(torch.from_numpy(params[key]))
    V = torch.tensor(params["V"], requires_grad=True)
    c = torch.tensor(params["c"], requires_grad=True)
    x = torch.tensor(wl.x)
    inputs = F.one_hot(x, D).to(f64) if wl.ids else x.to(f64)  # built once, untimed
    if not wl.batched:
        inputs = inputs[:, None]
    y = torch.tensor(wl.y.reshape(-1))
    weights = [getattr(net, f"{k}_l0") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]

    def grads():
        out, _ = net(inputs)
        logits = out.reshape(-1, H) @ V.T + c
        loss = F.cross_entropy(logits, y, reduction="sum")
        g = torch.autograd.grad(loss, weights + [V, c])
        return dict(zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh", "V", "c"),
                        (t.numpy() for t in g))), torch.__version__
    return grads


def main(budget: float = 1.0) -> dict:
    rows = []
    for wl in (w for w in WORKLOADS if w.name in "AB"):
        wl.build(seed=ord(wl.name))
        for cell in CELLS:
            params = params_for(wl, cell, np.random.default_rng(ord(wl.name) + len(cell)))
            ours = rnnmath_call(wl, cell, params)
            g = ours()
            theirs = torch_call(wl, cell, params)
            impls = {f"rnnmath {cell}": ours}
            if theirs is not None:
                want, version = theirs()
                worst = max(float(np.abs(g.grads[k] - v).max() / np.abs(v).max())
                            for k, v in want.items())
                print(f"[{wl.name}] {cell}: PyTorch {version} agrees to {worst:.1e}", flush=True)
                if worst > 1e-9:
                    raise SystemExit(f"{cell} gradients disagree with PyTorch ({worst:.1e})")
                impls[f"PyTorch nn.{cell}"] = theirs
            for name, call in impls.items():
                call()  # warm-up
                times = np.asarray(time_calls(call, budget, 3000)) * 1e3
                rows.append({"workload": wl.name, "cell": cell, "implementation": name,
                             "median_ms": float(np.median(times)), "runs": len(times),
                             "iqr_ms": float(np.subtract(*np.percentile(times, [75, 25])))})
                print(f"[{wl.name}] {name}: {rows[-1]['median_ms']:.3g} ms "
                      f"({len(times)} runs)", flush=True)
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows,
            "workloads": {w.name: w.describe() for w in WORKLOADS if w.name in "AB"}}


def markdown(results: dict) -> str:
    lines = [f"Measured {results['date']}; gradients of the summed cross-entropy with the "
             "softmax output layer of the vanilla model.", "",
             "| Workload | Cell | Implementation | Gradients ms | IQR | runs | × rnnmath |",
             "|---|---|---|--:|--:|--:|--:|"]
    base = {(r["workload"], r["cell"]): r["median_ms"] for r in results["rows"]
            if r["implementation"].startswith("rnnmath")}
    for r in results["rows"]:
        ratio = r["median_ms"] / base[(r["workload"], r["cell"])]
        lines.append(f"| {r['workload']} | {r['cell']} | {r['implementation']} | "
                     f"{r['median_ms']:.3g} | {r['iqr_ms']:.2g} | {r['runs']} | {ratio:.2f} |")
    return "\n".join(lines)


def write(results: dict, page: Path = ROOT / "docs/performance.md"):
    (HERE / "results_gated.json").write_text(json.dumps(results, indent=2) + "\n")
    report.replace_section(page, BEGIN, END, markdown(results), "LSTM and GRU")


if __name__ == "__main__":
    results = main()
    print(markdown(results))
    if "--no-write" not in sys.argv:
        write(results)
