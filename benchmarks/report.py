"""Machine description, results files, the Markdown table and the inline SVG plot of a run."""
from __future__ import annotations

import datetime as _dt
import io
import json
import os
import platform
import re
from pathlib import Path

import numpy as np

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
ORDER = ["rnnmath", "rnnmath kernels, no validation", "hand-written NumPy", "seed 000 loop",
         "PyTorch nn.RNN", "PyTorch cell loop", "JAX scan (jit)"]
COLORS = {"rnnmath": "#3949ab", "rnnmath kernels, no validation": "#7986cb",
          "hand-written NumPy": "#8d99ae", "seed 000 loop": "#c62828",
          "PyTorch nn.RNN": "#ef6c00", "PyTorch cell loop": "#ffb74d", "JAX scan (jit)": "#2e7d32"}


# --- the machine -------------------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas() -> tuple[str, str]:
    """NumPy's BLAS as (name and version, build configuration), without the build's paths."""
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # older NumPy: no dict form
        return "unknown BLAS", ""
    name = " ".join(p for p in (cfg.get("name", "?"), cfg.get("version", "")) if p)
    return name, " ".join(cfg.get("openblas configuration", "").split())


def rnnmath_state(root: Path) -> dict:
    """The commit measured, and whether rnnmath/ differed from it (None where git is absent)."""
    import subprocess
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                                capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "rnnmath"], cwd=root,
                               text=True, capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "uncommitted_changes": None}
    return {"commit": commit, "uncommitted_changes": bool(dirty)}


def machine_info(threads: int) -> dict:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "numpy": np.__version__,
        "blas": _blas()[0],
        "blas_config": _blas()[1],
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "threads": threads,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def assemble(info, workloads, cells, skipped, versions, settings, seconds, state=None) -> dict:
    base = {(c["workload"], c["pass"]): c["median_ms"] for c in cells if c["implementation"] == "rnnmath"}
    for c in cells:
        c["ratio_vs_rnnmath"] = c["median_ms"] / base[(c["workload"], c["pass"])]
    done = {c["workload"] for c in cells}
    return {
        "machine": info,
        "rnnmath": state or {"commit": None, "uncommitted_changes": None},
        "frameworks": versions,
        "settings": {k: v for k, v in settings.items() if k not in ("no_write", "render_only")},
        "dtype": "float64",
        "tolerance": "max |impl - rnnmath| / max |rnnmath| < 1e-9 for every gradient, the states "
                     "and the probabilities, checked before timing",
        "ratio": "implementation median / rnnmath median (above 1: rnnmath is faster)",
        "workloads": {w.name: {"title": w.title, "T": w.T, "B": w.B, "D": w.D, "H": w.H, "K": w.K,
                               "inputs": "token ids" if w.ids else "dense",
                               "truncate": w.truncate, "description": w.describe()}
                      for w in workloads if w.name in done},
        "results": cells,
        "skipped": skipped,
        "wall_seconds": round(seconds, 1),
    }


# --- Markdown ----------------------------------------------------------------------------------

def _ms(x: float) -> str:
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def _ratio(r: float) -> str:
    return "1" if abs(r - 1) < 1e-12 else (f"{r:.2f}" if r < 10 else f"{r:.0f}")


def _rows(results):
    by = {(c["workload"], c["implementation"], c["pass"]): c for c in results["results"]}
    for w in results["workloads"]:
        for impl in ORDER:
            g, f = by.get((w, impl, "gradients")), by.get((w, impl, "forward"))
            if g or f:
                yield w, impl, g, f


def markdown_table(results: dict, runs: bool = True) -> str:
    """Workload × implementation: median ms, IQR, ratio to rnnmath, for both passes.

    ``runs`` adds the number of timed calls (results.md has it; the page leaves it out to fit).
    """
    head = ["Workload", "Implementation"]
    cols = ["--:"] * (8 if runs else 6)
    for kind in ("Gradients", "Forward"):
        head += [f"{kind} ms", "IQR"] + (["runs"] if runs else []) + ["× rnnmath"]
    out = ["| " + " | ".join(head) + " |", "|---|---|" + "|".join(cols) + "|"]
    last = None
    for w, impl, g, f in _rows(results):
        label = f"**{w}**" if w != last else ""
        last = w
        row = [label, f"**{impl}**" if impl == "rnnmath" else impl]
        for c in (g, f):
            if c is None:
                row += ["–"] * (4 if runs else 3)
                continue
            row += [_ms(c["median_ms"]), _ms(c["iqr_ms"]) if c["repeats"] > 1 else "–"]
            row += [str(c["repeats"])] if runs else []
            row += [_ratio(c["ratio_vs_rnnmath"])]
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def pass_table(results: dict, kind: str) -> str:
    """One pass ("gradients" or "forward"): workload × implementation, median, IQR, ratio."""
    out = ["| Workload | Implementation | median ms | IQR ms | × rnnmath |",
           "|---|---|--:|--:|--:|"]
    last = None
    for w, impl, g, f in _rows(results):
        c = g if kind == "gradients" else f
        if c is None:
            continue
        label = f"**{w}**" if w != last else ""
        last = w
        out.append("| " + " | ".join([
            label, f"**{impl}**" if impl == "rnnmath" else impl, _ms(c["median_ms"]),
            _ms(c["iqr_ms"]) if c["repeats"] > 1 else "–", _ratio(c["ratio_vs_rnnmath"])]) + " |")
    return "\n".join(out)


def _workload_lines(results: dict) -> list[str]:
    return [f"**{w}**: {d['description']}" for w, d in results["workloads"].items()]


def _notes(results: dict) -> list[str]:
    notes = []
    for c in results["results"]:
        if c["note"]:
            notes.append(f"{c['implementation']}, workload {c['workload']} ({c['pass']}): {c['note']}.")
    seen = set()
    for s in results["skipped"]:
        key = (s["implementation"], s["why"])
        if key in seen:
            continue
        seen.add(key)
        where = ", ".join(x["workload"] for x in results["skipped"]
                          if (x["implementation"], x["why"]) == key)
        notes.append(f"{s['implementation']} not run on {where}: {s['why']}.")
    return notes


def _summary_line(results: dict) -> str:
    m = results["machine"]
    fw = ", ".join(f"{k} {v}" for k, v in sorted(results["frameworks"].items()))
    threads = "one thread" if m["threads"] == 1 else f"{m['threads']} threads"
    st = results.get("rnnmath", {})
    which = ""
    if st.get("commit"):
        which = f"rnnmath at commit {st['commit']}" + (
            " with uncommitted changes" if st.get("uncommitted_changes") else "") + ", "
    return (f"Measured {m['date']}, {which}on {m['cpu']} ({m['cores']} cores, {threads} used), "
            f"Python {m['python']}, NumPy {m['numpy']} with {m['blas']}"
            + (f", {fw}" if fw else "") + f"; the whole run took {results['wall_seconds']:.0f} s.")


def results_markdown(results: dict) -> str:
    lines = ["# rnnmath benchmark results", "",
             "Written by `benchmarks/run.py` (`make bench`); do not edit by hand.", "",
             _summary_line(results), "",
             "Median wall time of one call in milliseconds, one process, float64; "
             "× rnnmath is the implementation's median divided by rnnmath's "
             "(above 1: rnnmath is faster). Every implementation's gradients, states and "
             "probabilities were checked against rnnmath's (max relative difference < 1e-9) "
             "before timing.", "", "; ".join(_workload_lines(results)) + ".", "",
             markdown_table(results), ""]
    notes = _notes(results)
    if notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


# --- the plot ----------------------------------------------------------------------------------

INK = "#010203"  # stand-in for the page's text colour; no bar colour is this close to black


def _short(name: str, w: dict) -> str:
    return (f"{name}: T={w['T']}" + (f", B={w['B']}" if w["B"] > 1 else "")
            + (f", k={w['truncate']}" if w["truncate"] is not None else ""))


def svg_plot(results: dict) -> str:
    """Grouped bars, log-scale milliseconds: gradients and forward, per workload and implementation."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    # Text, axes and grid are drawn in a stand-in colour that becomes `currentColor` in the SVG,
    # so the page's theme colours them (dark text on light, light text on dark).
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "rnnmath-bench",
                         "font.family": "sans-serif", "font.size": 9,
                         "text.color": INK, "axes.labelcolor": INK, "axes.edgecolor": INK,
                         "xtick.color": INK, "ytick.color": INK})
    by = {(c["workload"], c["implementation"], c["pass"]): c["median_ms"] for c in results["results"]}
    workloads = list(results["workloads"])
    impls = [i for i in ORDER if any((w, i, p) in by for w in workloads
                                     for p in ("gradients", "forward"))]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.9), sharey=True)
    width = 0.8 / len(impls)
    for ax, kind, title in zip(axes, ("gradients", "forward"),
                               ("rnn_gradients (forward + backward)", "rnn_forward")):
        for k, impl in enumerate(impls):
            xs, hs = [], []
            for i, w in enumerate(workloads):
                if (w, impl, kind) in by:
                    xs.append(i - 0.4 + width * (k + 0.5))
                    hs.append(by[(w, impl, kind)])
            ax.bar(xs, hs, width=width * 0.92, color=COLORS.get(impl), label=impl)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels([_short(w, results["workloads"][w]) for w in workloads])
        ax.set_title(title)
        ax.grid(axis="y", which="major", color=INK, alpha=0.18, linewidth=0.6)
        ax.set_facecolor("none")
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].set_ylabel("median ms per call (log scale)")
    # The legend goes above both panels in rows of at most four entries: one row of seven was
    # wider than the figure and lost its ends. The tight bounding box then takes in whatever
    # the legend needs, so nothing is cut off.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0),
               ncol=min(4, len(impls)), frameon=False, columnspacing=1.5)
    fig.tight_layout()
    fig.patch.set_alpha(0)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.05, transparent=True,
                metadata={"Date": None, "Creator": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]                          # no XML prolog or DOCTYPE in HTML
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r"\s*<style[^>]*>.*?</style>", "", svg, flags=re.S)  # a global `*` rule
    svg = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"',
                 r'<svg \1width="100%"', svg, count=1)
    svg = svg.replace(INK, "currentColor")
    svg = svg.replace("<svg ", '<svg role="img" aria-label="Benchmark medians, log scale" ', 1)
    return "\n".join(line for line in svg.splitlines() if line.strip())


# --- files -------------------------------------------------------------------------------------

def docs_section(results: dict) -> str:
    notes = _notes(results)
    return "\n".join([
        BEGIN,
        "<!-- Written by benchmarks/run.py from its last run (make bench); edits here are "
        "overwritten. -->",
        "",
        _summary_line(results),
        "",
        "Median milliseconds per call and interquartile range (IQR); × rnnmath is the median "
        "divided by rnnmath's (above 1: rnnmath is faster). The number of timed calls of every "
        "cell is in `benchmarks/results.md`.",
        "",
        "### rnn_gradients (forward and backward pass)",
        "",
        pass_table(results, "gradients"),
        "",
        "### rnn_forward",
        "",
        pass_table(results, "forward"),
        "",
        *([f"- {n}" for n in notes] + [""] if notes else []),
        '<div class="bench-plot">',
        svg_plot(results),
        "</div>",
        "",
        END,
    ])


def write_all(results: dict, bench_dir: Path, page: Path):
    (bench_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (bench_dir / "results.md").write_text(results_markdown(results))
    text = page.read_text(encoding="utf-8") if page.exists() else "# Performance\n"
    section = docs_section(results)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    page.write_text(text, encoding="utf-8")


def replace_section(page: Path, begin: str, end: str, text: str, heading: str) -> None:
    """Put ``text`` between the markers ``begin`` and ``end`` of a page (edits outside them
    are kept); without the markers, append them under ``## heading``."""
    old = page.read_text()
    block = f"{begin}\n{text}\n{end}"
    if begin in old:
        old = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
        old = old.rstrip() + f"\n\n## {heading}\n\n" + block + "\n"
    page.write_text(old)
