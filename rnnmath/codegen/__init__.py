"""Code generation: every NumPy line of the package is printed here from SymPy expressions.

``python -m rnnmath.codegen`` writes the generated modules; ``--check`` exits 1 when a committed
module differs from what the derivations produce.

* :mod:`~rnnmath.codegen.printer`: SymPy printers (whole arrays; in place, for loop bodies;
  index notation over rows, for the output layers);
* :mod:`~rnnmath.codegen.kernels`: forward, single-step and backward kernels of any cell;
* :mod:`~rnnmath.codegen.heads`: the output layers and losses (``_generated.py``).
"""
from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
# Each generated module and what renders it: "heads", or the name of a built-in cell.
TARGETS = {"_generated.py": "heads",
           "_cell_rnn_tanh.py": "rnn_tanh", "_cell_rnn_relu.py": "rnn_relu",
           "_cell_lstm.py": "lstm", "_cell_gru.py": "gru"}


def render(name: str = "_generated.py") -> str:
    """The full source of one generated module."""
    what = TARGETS[name]
    if what == "heads":
        from .heads import render as heads
        return heads()
    from ..derive.cells import builtin
    from .kernels import render as cell_kernels
    return cell_kernels(builtin()[what])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnnmath.codegen", description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if regenerating would change a committed module")
    args = parser.parse_args(argv)
    stale = []
    for name in TARGETS:
        target, new = HERE / name, render(name)
        old = target.read_text() if target.exists() else ""
        if not args.check:
            if new != old:
                target.write_text(new)
            print(f"wrote {target.name}")
        elif new != old:
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), name, "regenerated"))
            stale.append(name)
    if args.check:
        if stale:
            print(f"\n{', '.join(stale)} stale: run `make regen` (python -m rnnmath.codegen)")
            return 1
        print(f"{', '.join(TARGETS)} up to date")
    return 0
