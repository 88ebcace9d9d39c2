"""The generated module is what the derivations print, imports NumPy only, and the printer is strict."""
import subprocess
import sys

import pytest
import sympy as sp

from rnnmath import codegen
from rnnmath.codegen import Ctx, numpy_expr


@pytest.mark.parametrize("name", list(codegen.TARGETS))
def test_committed_module_is_regenerated_exactly(name):
    assert codegen.render(name) == (codegen.HERE / name).read_text(), \
        f"rnnmath/{name} is stale: run `make regen`"


def test_check_flag_fails_on_a_stale_file(tmp_path, monkeypatch, capsys):
    for name in codegen.TARGETS:
        (tmp_path / name).write_text((codegen.HERE / name).read_text())
    first = next(iter(codegen.TARGETS))
    (tmp_path / first).write_text((tmp_path / first).read_text() + "# edited by hand\n")
    monkeypatch.setattr(codegen, "HERE", tmp_path)
    assert codegen.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().out
    assert codegen.main([]) == 0 and codegen.main(["--check"]) == 0


def test_importing_rnnmath_does_not_import_sympy():
    code = ("import sys, rnnmath, numpy as np; "
            "rnnmath.rnn_gradients([0, 1], [1, 0], np.ones((2, 2)), np.eye(2), np.ones((2, 2))); "
            "print('sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", list(codegen.TARGETS))
def test_generated_module_imports_numpy_only(name):
    source = (codegen.HERE / name).read_text()
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    # NumPy, and at most the other generated module (itself NumPy only).
    assert imports[0] == "import numpy as np"
    assert all(line.startswith("from ._generated import ") for line in imports[1:])


t, q, p, k = sp.symbols("t q p k", integer=True, positive=True)
A, B, M = sp.IndexedBase("A"), sp.IndexedBase("B"), sp.IndexedBase("M")


def ctx(**names):
    arrays = {(M, None): "M"}
    arrays.update({(A, 0): "A", (B, 0): "B", (A, 1): "A_next"})
    return Ctx(arrays, t)


@pytest.mark.parametrize("expr,out,code", [
    (sp.Sum(A[t, k] * M[k, q], (k, 1, 3)), ("t", q), "A @ M"),
    (sp.Sum(M[q, k] * A[t, k], (k, 1, 3)), ("t", q), "A @ M.T"),
    (sp.Sum(A[t, p] * B[t, q], (t, 1, 3)), (p, q), "A.T @ B"),
    (sp.Sum(A[t, p], (t, 1, 3)), (p,), "A.sum(axis=0)"),
    (B[t, q] * sp.Sum(A[t + 1, k] * M[k, q], (k, 1, 3)), ("t", q), "B * (A_next @ M)"),
    (1 - A[t, q] ** 2, ("t", q), "1 - A**2"),
    (sp.tanh(A[t, q] + B[t, q]), ("t", q), "np.tanh(A + B)"),
])
def test_printer(expr, out, code):
    assert numpy_expr(expr, ctx(), out) == code


def test_printer_refuses_what_it_cannot_orient():
    with pytest.raises(TypeError):
        numpy_expr(A[t, q] * B[t, p], ctx(), ("t", q))      # two different column axes
    with pytest.raises(TypeError):
        numpy_expr(sp.Sum(A[t, k] * B[t, k] * M[k, q], (k, 1, 3)), ctx(), ("t", q))
