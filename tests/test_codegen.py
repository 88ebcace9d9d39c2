"""The generated module is what the derivations print, imports NumPy only, and the printer is strict."""
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnmath import codegen
from rnnmath.codegen.printer import IndexPrinter


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


# --- the index printer of the output layers -------------------------------------------------
# Rows t (time step x batch item) lead; per-row values (M) are stored with a length-one last axis.
t, q, p, k, i, j = sp.symbols("t q p k i j", integer=True, positive=True)
A, B, M, b, iota = (sp.IndexedBase(n) for n in ("A", "B", "M", "b", "iota"))
ARRAYS = {A: "A", B: "B", M: "M", b: "b", iota: "ids"}
N = {t: 4, q: 3, p: 3, k: 3, i: 3, j: 3}  # axis lengths of the test arrays


def _data(rng):
    """Random arrays of the layout: A, B (rows, 3) but W (3, 3), M (rows, 1), ids (rows,)."""
    return {"A": rng.normal(size=(4, 3)), "B": rng.normal(size=(4, 3)), "M": rng.random((4, 1)),
            "b": rng.normal(size=3), "W": rng.normal(size=(3, 3)), "ids": rng.integers(0, 3, 4)}


def _entrywise(expr, out, data, arrays):
    """``expr`` evaluated entry by entry with SymPy: what the printed NumPy must compute."""
    def value(e):
        arr = data[arrays[e.base]]
        idx = tuple(int(n) - 1 for n in e.indices)
        return arr[idx + (0,) * (arr.ndim - len(idx))]  # a kept per-row value: its one column
    result = np.empty([N[a] for a in out])
    for pos in np.ndindex(result.shape):
        entry = expr.subs({a: n + 1 for a, n in zip(out, pos)}).doit()
        entry = entry.replace(lambda e: isinstance(e, sp.Indexed) and e.base == iota,
                              lambda e: int(data["ids"][int(e.indices[0]) - 1]) + 1)
        entry = entry.replace(lambda e: isinstance(e, sp.Indexed), value).doit()
        result[pos] = float(entry)
    return result


W = sp.IndexedBase("W")
CASES = [  # (expr, out axes, printed source); every sum over a class axis runs 1..3
    (sp.Sum(A[t, k] * W[k, q], (k, 1, 3)), (t, q), "A @ W"),
    (sp.Sum(W[q, k] * A[t, k], (k, 1, 3)), (t, q), "A @ W.T"),
    (sp.Sum(A[t, p] * B[t, q], (t, 1, 4)), (p, q), "A.T @ B"),
    (B[t, q] * sp.Sum(A[t, k] * W[k, q], (k, 1, 3)), (t, q), "B*(A @ W)"),
    (1 - A[t, q] ** 2, (t, q), "1 - A**2"),
    (sp.tanh(A[t, q] + B[t, q]) + b[q], (t, q), "np.tanh(A + B) + b"),
    (W[q, iota[t]] + b[q], (t, q), "W.T[ids] + b"),               # a column per row
    (A[t, j] * sp.Sum(B[t, k], (k, 1, 3)) - B[t, j], (t, j),
     "A*B.sum(axis=-1, keepdims=True) - B"),                      # a row sum, kept per row
    ((A[t, i] - B[t, i]) * M[t], (t, i), "(A - B)*M"),
    (sp.Max(A[t, i], 0) - sp.Max(-B[t, i], 0), (t, i), "np.maximum(A, 0) - np.maximum(-B, 0)"),
    ((sp.KroneckerDelta(i, j) - A[t, j]) * A[t, i], (t, i, j),    # an outer product per row
     "(np.eye(A.shape[-1]) - A[..., None, :])*A[..., :, None]"),
    ((sp.KroneckerDelta(i, j) - A[t, i]) * A[t, j], (t, j, i),    # the same, axes swapped
     "(np.eye(A.shape[-1]) - A[..., None, :])*A[..., :, None]"),
    (sp.Sum(M[t] * A[t, k] ** 2, (t, 1, 4), (k, 1, 3)), (), "np.sum(A**2*M)"),
]


@pytest.mark.parametrize("expr,out,code", CASES)
def test_index_printer_prints_numpy_that_computes_the_formula(expr, out, code):
    data = _data(np.random.default_rng(len(code)))
    arrays = {**ARRAYS, W: "W"}
    printed = IndexPrinter(arrays, t, out, sizes={i: "A.shape[-1]"}).doprint(expr)
    assert printed == code
    got = eval(printed, {"np": np}, data)  # noqa: S307 (our own printed source)
    np.testing.assert_allclose(got, _entrywise(expr, out, data, arrays), rtol=1e-13, atol=1e-13)


ROWWISE = [c for c in CASES if "@" not in c[2] and "[ids]" not in c[2] and c[1]]


@settings(max_examples=40, deadline=None)
@given(T=st.integers(1, 4), B=st.integers(1, 3), K=st.integers(1, 4), seed=st.integers(0, 2**32 - 1),
       case=st.sampled_from(ROWWISE))
def test_index_printer_rows_may_be_steps_times_batch(T, B, K, seed, case):
    """Printed per-row formulas give on (T, B, ...) arrays what they give row by row."""
    expr, out, _ = case
    rng = np.random.default_rng(seed)
    data = {"A": rng.normal(size=(T, B, K)), "B": rng.normal(size=(T, B, K)),
            "M": rng.random((T, B, 1)), "b": rng.normal(size=K)}
    code = IndexPrinter(ARRAYS, t, out, sizes={i: "A.shape[-1]"}).doprint(expr)
    whole = eval(code, {"np": np}, data)  # noqa: S307
    rows = [eval(code, {"np": np}, {n: a[r] if a.ndim == 3 else a for n, a in data.items()})
            for r in np.ndindex(T, B)]  # noqa: S307
    np.testing.assert_array_equal(whole.reshape(T * B, *whole.shape[2:]), np.stack(rows))


def _add_one_hot(A, ids, value):  # the helper the generated module defines
    A.reshape(-1, A.shape[-1])[np.arange(ids.size), ids.ravel()] += value


@pytest.mark.parametrize("expr,out,lines", [
    (sp.Sum(W[q, k] * A[t, k], (k, 1, 3)) + b[q], (t, q), ["P = A @ W.T", "P += b"]),
    (b[q] - sp.Sum(W[q, k] * A[t, k], (k, 1, 3)), (t, q), ["P = A @ W.T", "P *= -1", "P += b"]),
    (M[t] * (A[t, j] - sp.KroneckerDelta(j, iota[t])), (t, j),
     ["P = A", "_add_one_hot(P, ids, -1)", "P *= M"]),
])
def test_index_printer_assigns_in_place(expr, out, lines):
    data = _data(np.random.default_rng(1))
    arrays = {**ARRAYS, W: "W"}
    printed = IndexPrinter(arrays, t, out).assign(expr, "P")
    assert printed == lines
    scope = {"np": np, "_add_one_hot": _add_one_hot, **{n: a.copy() for n, a in data.items()}}
    exec("\n".join(printed), scope)  # noqa: S102 (our own printed source)
    np.testing.assert_allclose(scope["P"], _entrywise(expr, out, data, arrays), rtol=1e-13)


@pytest.mark.parametrize("expr,out", [
    (A[t, q] * B[t, p], (t, q)),                                 # two different column axes
    (sp.Sum(A[t, k] * B[t, k] * W[k, q], (k, 1, 3)), (t, q)),  # three factors share k
    (M[t] * A[t, i] * B[t, j], (t, i, j)),                      # a kept (..., 1) against two axes
    (A[t, j] - sp.KroneckerDelta(j, iota[t]), (t, j)),          # one-hot: only in place
    (sp.Sum(A[t, k], (k, 1, 3)), (t, q, p)),                    # a kept row sum against two axes
    (sp.KroneckerDelta(p, q) * A[t, q], (t, p, q)),              # no length known for np.eye
])
def test_index_printer_refuses_what_it_cannot_lay_out(expr, out):
    with pytest.raises(TypeError):
        IndexPrinter({**ARRAYS, W: "W"}, t, out).doprint(expr)


def test_index_printer_binds_only_a_term_with_every_axis():
    with pytest.raises(TypeError):  # P = b would be (3,), too small for P += A
        IndexPrinter(ARRAYS, t, (t, q)).assign(b[q] + M[t], "P")
