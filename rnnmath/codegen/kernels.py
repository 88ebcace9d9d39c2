"""Lay out the forward and backward kernels of any cell: what is hoisted, what loops, where it is stored.

Decided from the cell's expressions (:class:`rnnmath.derive.cell.Cell`), never from a template:

* a product with the input does not depend on the previous state: all steps at once, before the
  loop, one 2-D product (or a column gather for token ids), with the node's biases;
* products with a previous state or a node of the same step run in the loop, into preallocated
  memory (``np.dot(v, M_T, out)``); an elementwise node that only applies a function to such a
  product is computed in place in the node's own storage;
* every local factor of the backward pass is a function of stored values: computed for all steps
  before the loop, by ufunc calls with ``out=`` (no temporary per operation), so the loop only
  multiplies signals by factors and runs the recurrent products; a factor that scales one signal
  only is computed into that signal's storage and the loop multiplies in place;
* a state signal no gradient reads after the loop keeps two rows, step t's and step t-1's;
* every parameter gradient is one 2-D product (or sum) over all steps after the loop, once the
  scratch arrays are dropped (a call's peak memory is the larger phase, not the sum: memory the
  allocator hands back to the system is page-faulted in again on the next call).

Truncated BPTT (``truncate=k``) runs the same backward step on all steps at once, once per lag:
lag ``j`` carries the error of :math:`E_{t+j}` back to step :math:`t`, writing into buffers
allocated once per call (see :meth:`CellKernels._lags`).
"""
from __future__ import annotations

import re

import sympy as sp

from ..derive.cell import Cell, Elementwise, Product
from .printer import ArrayPrinter, InPlacePrinter

IND = " " * 4

HELPERS = '''

def _rows(A):
    """(T, ..., n) as a (T*..., n) view."""
    return A.reshape(-1, A.shape[-1])


def _project(x, ids, M):
    """M x_t for all steps: a column gather for token ids (T, B), one 2-D product for rows (T, B, D)."""
    if ids:
        return M.T[x]
    return (_rows(x) @ M.T).reshape(x.shape[:-1] + (M.shape[0],))


def _input_gradient(x, ids, G, M):
    """sum_t G_t x_t^T for the matrix M that multiplies the input: (rows, D)."""
    G2 = _rows(G)
    if not ids:
        return G2.T @ _rows(x)
    if x.size * M.shape[1] <= 16384:  # short: one product with the one-hot matrix is fastest
        one_hot = np.zeros((x.size, M.shape[1]))
        one_hot[np.arange(x.size), x.ravel()] = 1.0
        return G2.T @ one_hot
    ids = x.ravel()
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    out = np.zeros((M.shape[1], G2.shape[1]))
    out[ids[starts]] = np.add.reduceat(G2[order], starts, axis=0)
    return out.T


def _mm(A, M):
    """A @ M for A (n, B, k) as one 2-D product (a 3-D @ would loop over n small products)."""
    return (A.reshape(-1, A.shape[-1]) @ M).reshape(A.shape[:-1] + (M.shape[1],))


def _sigmoid(Z):
    """1 / (1 + exp(-Z)) without overflow: exp of a non-positive number only."""
    e = np.exp(-np.abs(Z))
    out = np.where(Z >= 0, 1.0, e)
    out /= 1.0 + e
    return out


def _sigmoid_(a, out):
    """1 / (1 + exp(-a)) into ``out`` in four ufunc calls (a may be out).  For a < -709 exp
    overflows to inf and 1 / inf = 0, the right limit; the kernels silence that warning."""
    np.negative(a, out)
    np.exp(out, out)
    out += 1.0
    np.reciprocal(out, out)
'''

NUMPY_CALLS = ("dot", "add", "subtract", "multiply", "negative", "copyto", "tanh", "exp", "log",
               "maximum", "greater", "power", "absolute", "log1p", "expm1", "sin", "cos")


def local_names(body: list[str]) -> str:
    """Bind the NumPy functions a loop body calls to local names: the loop calls them T times."""
    used = [f for f in NUMPY_CALLS if any(line.lstrip().startswith(f + "(") for line in body)]
    return f"{', '.join(used)} = {', '.join('np.' + f for f in used)}"


class CellKernels:
    """Source text of one cell's generated module."""

    def __init__(self, cell: Cell):
        self.cell = cell
        self.params = list(cell.shapes)
        self.states = list(cell.states)

    # -- names --------------------------------------------------------------------------
    def store(self, v: str) -> str:
        """Array holding vector ``v`` over all steps."""
        base = v[:-5] if v.endswith("_prev") else v
        return f"X_{base}"

    def per_step(self, v: str) -> str:
        """Array over steps whose row t is the value of ``v`` at step t (1-based in the math)."""
        if v.endswith("_prev"):
            return f"X_{v[:-5]}[:-1]"
        if v in self.states:
            return f"X_{v}[1:]"
        return f"X_{v}"

    def stored_products(self):
        """Product nodes kept for every step: a block is read by a local factor."""
        cell = self.cell
        return {n.name for n in cell.products
                if any(b in cell.stored for b in n.blocks) or n.name in cell.stored}

    def hoisted_part(self, n: Product):
        terms = [(m, v) for m, v in n.terms if v == self.cell.input]
        recurrent = [(m, v) for m, v in n.terms if v != self.cell.input]
        return terms, recurrent

    def fused(self):
        """Elementwise nodes computed in place over their argument's product: ``s = tanh(a)``."""
        cell, out = self.cell, {}
        stored = self.stored_products()
        for n in cell.elementwise:
            if n.expr.is_Function and len(n.expr.args) == 1 and n.expr.args[0].is_Symbol:
                arg = n.expr.args[0].name
                prod = next((p for p in cell.products if p.blocks == (arg,) and p.name == arg), None)
                if (prod is not None and arg not in stored and self.hoisted_part(prod)[1]
                        and len(cell.consumers(arg)[0]) == 1 and arg not in cell.stored):
                    out[n.name] = prod
        return out

    # -- module -------------------------------------------------------------------------
    def render(self) -> str:
        c = self.cell
        head = (f'"""Generated by rnnmath.codegen from the cell {c.name!r} in rnnmath.derive -- do not edit.\n\n'
                f"Regenerate with `python -m rnnmath.codegen` (or `make regen`).  NumPy only: this file can be\n"
                f"copied and imported on its own.  Arrays are (T, B, ...): time first, then batch.\n"
                f"The derivation it computes is `cell.{c.name}` (rnnmath.derive.derivations()); each\n"
                f"statement of the loops names the step it computes.\n")
        head += f'"""\nimport numpy as np\n\nPARAMS = {self._shapes()!r}\nSTATES = {tuple(self.states)!r}\n'
        head += f"OUTPUT = {c.output!r}\nSTORED = {self.stored_names()!r}\n"
        biases = tuple(b for n in c.products for b in n.biases)
        head += f"BIASES = {biases!r}  # zeros when omitted\n"
        return head + HELPERS + self.forward() + self.step() + self.backward()

    def _shapes(self):
        def dim(e):
            return str(e).replace("*", " * ")
        return {k: tuple(dim(d) for d in v) for k, v in self.cell.shapes.items()}

    def stored_names(self):
        """What forward returns, in order: every state (T + 1 rows) and every stored node."""
        out = list(self.states)
        stored = self.stored_products()
        for n in self.cell.nodes:
            if n.name in self.states:
                continue
            if isinstance(n, Product) and n.name in stored:
                out.append(n.name)
            elif isinstance(n, Elementwise) and n.name not in self.fused_args():
                out.append(n.name)
        return tuple(out)

    def fused_args(self):
        return {p.name for p in self.fused().values()}

    # -- forward --------------------------------------------------------------------------
    def forward(self) -> str:
        c = self.cell
        sig = ", ".join(["x", "ids", *self.params, *(f"{s}0" for s in self.states)])
        L = [f"\n\ndef forward({sig}):",
             f'{IND}"""Every stored vector over all steps: ({", ".join(self.stored_names())}).',
             "",
             f"{IND}States come with T + 1 rows (row 0 is the initial state); x is (T, B) ids or (T, B, D);",
             f"{IND}initial states are (B, H), or (H,) shared by the batch.",
             f'{IND}"""',
             f"{IND}T, B, H = x.shape[0], x.shape[1], {self.states[0]}0.shape[-1]"]
        for s in self.states:
            L.append(f"{IND}X_{s} = np.empty((T + 1, B, H))")
            L.append(f"{IND}X_{s}[0] = {s}0")
        loop_vars: dict[str, str] = {}   # loop variable -> array it iterates over
        body: list[str] = []
        fixed: list[str] = []
        names: dict[str, str] = {}
        stored = self.stored_products()
        fused = self.fused()
        for s in self.states:
            names[f"{s}_prev"] = f"{s}_prev"
            loop_vars[f"{s}_prev"] = f"X_{s}[:-1]"
        for n in c.nodes:
            if isinstance(n, Product):
                hoisted, recurrent = self.hoisted_part(n)
                rows = f"{_rows_src(n.rows)}"
                if hoisted:
                    L.append(f"{IND}# {n.name}: the input part, all steps at once")
                    first, *more = hoisted
                    L.append(f"{IND}P_{n.name} = _project(x, ids, {first[0]})")
                    L += [f"{IND}P_{n.name} += _project(x, ids, {m})" for m, _ in more]
                    L += [f"{IND}P_{n.name} += {b}" for b in n.biases]
                if not recurrent:  # all of it hoisted
                    L.append(f"{IND}X_{n.name} = P_{n.name}")
                    loop_vars[n.name] = f"X_{n.name}"
                    target = None
                else:
                    fused_into = next((e for e, p in fused.items() if p.name == n.name), None)
                    if fused_into is not None:
                        target = fused_into
                    elif n.name in stored:
                        L.append(f"{IND}X_{n.name} = np.empty((T, B, {rows}))")
                        loop_vars[n.name] = f"X_{n.name}"
                        target = n.name
                    else:
                        fixed.append(f"{IND}{n.name} = np.empty((B, {rows}))")
                        target = n.name
                    for m, v in recurrent:
                        fixed.append(f"{IND}{m}_T = np.ascontiguousarray({m}.T)")
                    first, *more = recurrent
                    body.append(f"dot({names.get(first[1], first[1])}, {first[0]}_T, {target})")
                    for m, v in more:
                        fixed.append(f"{IND}_p_{n.name} = np.empty((B, {rows}))")
                        body.append(f"dot({names.get(v, v)}, {m}_T, _p_{n.name})")
                        body.append(f"add({target}, _p_{n.name}, {target})")
                    if hoisted:
                        loop_vars[f"p_{n.name}"] = f"P_{n.name}"
                        body.append(f"add({target}, p_{n.name}, {target})")
                    else:
                        body += [f"add({target}, {b}, {target})" for b in n.biases]
                names[n.name] = n.name
                if len(n.blocks) > 1:
                    src = f"X_{n.name}" if (n.name in stored or not recurrent) else n.name
                    for i, blk in enumerate(n.blocks):
                        if src.startswith("X_"):
                            L.append(f"{IND}X_{blk} = {src}{_block(i)}")
                            loop_vars[blk] = f"X_{blk}"
                        else:
                            fixed.append(f"{IND}{blk} = {src}{_block(i)}")
                        names[blk] = blk
                continue
            # elementwise
            out_arr = f"X_{n.name}" if n.name not in self.states else f"X_{n.name}[1:]"
            if n.name not in self.states:
                L.append(f"{IND}X_{n.name} = np.empty((T, B, H))")
            loop_vars[n.name] = out_arr
            names[n.name] = n.name
            body.append(f"# {n.name}_t = {sp.sstr(n.expr)}  [forward_{n.name}]")
            if n.name in fused:
                # the product was computed into this node's storage: apply the function in place
                body.append(InPlacePrinter({}).assign(n.expr.func(sp.Symbol(n.name)), n.name)[0])
            else:
                pr = InPlacePrinter(names)
                body += pr.assign(n.expr, n.name)
                self._scratch = max(getattr(self, "_scratch", 0), pr.depth)
        for k in range(getattr(self, "_scratch", 0)):
            fixed.append(f"{IND}_s{k} = np.empty((B, H))")
        L += _dedupe(fixed)
        L.append(f"{IND}{local_names(body)}")
        uses_sigmoid = any(n.expr.has(_sigmoid_class()) for n in c.elementwise)
        ind = IND
        if uses_sigmoid:
            L.append(f"{IND}with np.errstate(over='ignore'):  # exp(-a) = inf for a < -709: sigmoid 0")
            ind = IND * 2
        vars_, arrays = _used(loop_vars, body)
        L.append(f"{ind}for {', '.join(vars_)} in zip({', '.join(arrays)}):")
        L += [ind + IND + line for line in body]
        L.append(f"{IND}return {', '.join('X_' + v for v in self.stored_names())},")
        return "\n".join(L) + "\n"

    # -- single step ----------------------------------------------------------------------
    def step(self) -> str:
        c = self.cell
        sig = ", ".join(["x", "ids", *self.params, *self.states])
        L = [f"\n\ndef step({sig}):",
             f'{IND}"""One step for sampling: new ({", ".join(self.states)}) from x_t ((B,) ids or (B, D)) and',
             f'{IND}the current states (B, H).  No storage, no loop."""',
             f"{IND}H = {self.states[0]}.shape[-1]"]
        names = {f"{s}_prev": s for s in self.states}
        for s in self.states:
            names[s] = f"{s}_new"
        pr = ArrayPrinter(names)
        for n in c.nodes:
            if isinstance(n, Product):
                terms = [f"({m}.T[x] if ids else x @ {m}.T)" if v == c.input
                         else f"{names.get(v, v)} @ {m}.T" for m, v in n.terms]
                L.append(f"{IND}{names.get(n.name, n.name)} = {' + '.join(terms + list(n.biases))}")
                for i, blk in enumerate(n.blocks if len(n.blocks) > 1 else ()):
                    L.append(f"{IND}{blk} = {n.name}{_block(i)}")
            else:
                L.append(f"{IND}{names.get(n.name, n.name)} = {pr.doprint(n.expr)}")
        L.append(f"{IND}return {', '.join(names[s] for s in self.states)}")
        return "\n".join(L) + "\n"

    # -- backward -------------------------------------------------------------------------
    def backward(self) -> str:
        c = self.cell
        stored = self.stored_names()
        sig = ", ".join(["x", "ids", *(f"X_{v}" for v in stored), *self.params, "du",
                         *(f"d{s}_final" for s in self.states), "truncate=None"])
        L = [f"\n\ndef backward({sig}):",
             f'{IND}"""Gradients of every parameter, of dense x and of the initial states.',
             "",
             f"{IND}``du`` (T, B, H) is dE/d{c.output}_t from the output layer; ``d<state>_final`` (B, H) is",
             f"{IND}dE/d(final state) from later layers.  ``truncate=k`` keeps k + 1 steps per error.",
             f"{IND}Returns (dict of parameter gradients, dx or None for ids, dict of initial-state",
             f"{IND}gradients, dict of dE/d(product node) at every step (T, B, rows)).",
             f'{IND}"""',
             f"{IND}T, B, H = du.shape"]
        signals = list(c.signals)
        sizes = {}
        for n in c.products:
            for blk in n.blocks:
                sizes[blk] = n
        # Hoisted local factors
        factor_names: dict = {}
        by_expr: dict = {}  # one array per distinct factor
        full = {v: self.per_step(v) for v in c.vector_names if not v == c.input}
        full.update({blk: f"X_{blk}" for n in c.products for blk in n.blocks if len(n.blocks) > 1})
        for n in c.products:
            if len(n.blocks) > 1 and n.name in stored:
                for i, blk in enumerate(n.blocks):
                    L.append(f"{IND}X_{blk} = X_{n.name}{_block(i)}")
        arr = ArrayPrinter(full)
        # One array per distinct factor.  A factor that scales one signal only, as the first term
        # of its sum, is computed into that signal's storage when it is contiguous: the loop then
        # multiplies in place (full BPTT; the lags write fresh storage and read it as a factor).
        uses: dict = {}
        for vec in signals + [f"{s}_prev" for s in self.states]:
            for sig_, k in c.paths(vec).items():
                if not (k.is_Number or (k.is_Symbol and (k.name in c.shapes or k.name in full))):
                    uses.setdefault(k, []).append((vec, sig_))
        storage = {}  # factor -> the signal storage it is computed into
        for k, used in uses.items():
            vec, sig_ = used[0]
            blk = c.block_of(vec)
            contiguous = blk is None or len(blk[0].blocks) == 1  # a block's rows are strided:
            if (len(used) == 1 and vec in c.signals and vec not in self.states  # ufuncs writing
                    and contiguous and next(iter(c.paths(vec))) == sig_):  # there run 2x slower
                storage[k] = f"G_{vec}"
        holders = {n.name for n in c.products if any(f"G_{b}" in storage.values() for b in n.blocks)}
        holders |= {v[2:] for v in storage.values() if v[2:] not in sizes}
        # Storage of the signals: every entry is written by the loop, or by the first lag.
        own = [v for v in signals if v not in self.states and v not in sizes]
        for n in c.products:
            L.append(f"{IND}G_{n.name} = np.empty((T, B, {_rows_src(n.rows)}))")
            for i, blk in enumerate(n.blocks if len(n.blocks) > 1 else ()):
                L.append(f"{IND}G_{blk} = G_{n.name}{_block(i)}")
        L += [f"{IND}G_{v} = np.empty((T, B, H))" for v in own]
        # Each factor is computed by ufunc calls with out= (scratch arrays for nested
        # subexpressions): an array expression would allocate a temporary per operation.
        factors: list[str] = []
        scratch = 0
        self._in_storage = {}  # factor array -> the signal whose storage holds it
        for k, used in uses.items():
            name = by_expr[k] = f"K_{used[0][0]}_{used[0][1]}"
            factor_names.update({u: name for u in used})
            pr = InPlacePrinter(full, scratch="_k")
            try:
                if k.has(_sigmoid_class()):  # the in-place sigmoid may overflow: the stable one
                    raise TypeError(k)
                where = storage.get(k, "np.empty((T, B, H))")
                if k in storage:
                    self._in_storage[name] = used[0][0]
                # the formula as one array expression, then the ufunc calls that compute it
                factors += [f"# {name} = {arr.doprint(k)}", f"{name} = {where}", *pr.assign(k, name)]
                scratch = max(scratch, pr.depth)
            except TypeError:  # no in-place form: one array expression
                factors.append(f"{name} = {arr.doprint(k)}")
        L.append(f"{IND}# local factors of every step, all steps at once")
        if factors:
            L.append(f"{IND}{local_names(factors)}")
            L += [f"{IND}_k{i} = np.empty((T, B, H))" for i in range(scratch)]
            L += [IND + f for f in factors]
            if scratch:
                L.append(f"{IND}del {', '.join(f'_k{i}' for i in range(scratch))}  # before the loop allocates")
        L.append(f"{IND}if truncate is None or truncate >= T - 1:")
        read = self.state_rows_read()
        self._alternating = set()
        late_reads = set().union(*(c.paths(v) for v in self.deferred()))  # need every row
        for v in self.states:
            carried = any(c.adjoint(f"{v}_prev"))
            if carried and v not in read and v not in late_reads:
                # only row 0 is read after the loop: two rows, step t's and step t-1's, take turns
                self._alternating.add(v)
                L.append(f"{IND * 2}G_{v} = np.empty((2, B, H))")
                L.append(f"{IND * 2}_rows_{v} = [G_{v}[T % 2], G_{v}[1 - T % 2]] * (T // 2 + 1)")
            else:
                alloc = "np.empty" if carried else "np.zeros"  # nothing carried: row t-1 stays zero
                L.append(f"{IND * 2}G_{v} = {alloc}((T + 1, B, H))")
        L += self._loop(factor_names, IND * 2)
        L.append(f"{IND}else:")
        for v in self.states:  # only row 0 (the initial state) unless a gradient reads every step
            L.append(f"{IND * 2}G_{v} = np.zeros(({'T + 1' if v in read else '1'}, B, H))")
        for n in c.products:  # fresh storage where the first one holds factors the lags read
            if n.name in holders:
                L.append(f"{IND * 2}G_{n.name} = np.empty((T, B, {_rows_src(n.rows)}))")
                for i, blk in enumerate(n.blocks if len(n.blocks) > 1 else ()):
                    L.append(f"{IND * 2}G_{blk} = G_{n.name}{_block(i)}")
        L += [f"{IND * 2}G_{v} = np.empty((T, B, H))" for v in own if v in holders]
        L += self._lags(factor_names, IND * 2)
        if by_expr:
            L.append(f"{IND}{_release(list(by_expr.values()))}")
        L += self._gradients()
        return "\n".join(L) + "\n"

    def _term_sources(self, vec, factor_names, step_name, signal_name):
        """(coefficient source or None, signal source) pairs and (signal, matrix) products."""
        c = self.cell
        elem = []
        for sig_, k in c.paths(vec).items():
            if (vec, sig_) in factor_names:
                coeff = step_name(factor_names[(vec, sig_)])
            elif k == 1:
                coeff = None
            elif k.is_Number:
                coeff = repr(float(k))
            elif k.name in c.shapes:
                coeff = k.name
            else:
                coeff = step_name(self.per_step(k.name), k.name)
            elem.append((coeff, signal_name(sig_)))
        prods = [(signal_name(n.name), m) for n, m in c.consumers(vec)[1]]
        return elem, prods

    def _loop(self, factor_names, ind) -> list[str]:
        c = self.cell
        loop_vars: dict[str, str] = {}

        def step_name(array, var=None):
            if array in self._in_storage:  # the signal's own row holds the factor
                return signal_name(self._in_storage[array])
            var = var or array.replace("K_", "k_")
            loop_vars[var] = f"{array}[::-1]"
            return var

        def signal_name(sig):
            if sig in self._alternating:
                loop_vars[f"g_{sig}"] = f"_rows_{sig}"
            elif sig in self.states:
                loop_vars[f"g_{sig}"] = f"G_{sig}[:0:-1]"
            else:
                loop_vars[f"g_{sig}"] = f"G_{sig}[::-1]"
            return f"g_{sig}"

        lines = [f"G_{s}[T{' % 2' if s in self._alternating else ''}] = d{s}_final" for s in self.states]
        body = []
        used_tmp = False
        def accumulate(out, terms, first):
            """Statements adding ``terms`` into ``out`` in their order (the first one assigns
            unless ``out`` already holds a sum); True if they need the scratch row ``_t``."""
            needs_tmp = False
            for kind, a, b in terms:
                if kind == "elem":  # coefficient a (None: 1) times signal b
                    if first:
                        body.append(f"multiply({a}, {b}, {out})" if a else f"copyto({out}, {b})")
                    elif a is None:
                        body.append(f"add({out}, {b}, {out})")
                    else:
                        needs_tmp = True
                        body.extend([f"multiply({a}, {b}, _t)", f"add({out}, _t, {out})"])
                elif first:  # "prod": signal a times matrix b
                    body.append(f"dot({a}, {b}, {out})")
                else:
                    needs_tmp = True
                    body.extend([f"dot({a}, {b}, _t)", f"add({out}, _t, {out})"])
                first = False
            return needs_tmp

        deferred = self.deferred()
        for vec in reversed(c.signals):
            if vec in deferred:
                continue
            out = signal_name(vec)
            elem, prods = self._term_sources(vec, factor_names, step_name, signal_name)
            body.append(f"# bar_{vec}")
            first = True
            if vec in self.states:  # holds what step t+1 sent back; add the upstream gradient
                first = False
                if vec == c.output:
                    loop_vars["du_t"] = "du[::-1]"
                    body.append(f"add({out}, du_t, {out})")
            terms = [("elem", *e) for e in elem] + [("prod", *p) for p in prods]
            used_tmp |= accumulate(out, terms, first)
        for s in self.states:
            out = f"g_{s}_prev"
            loop_vars[out] = f"_rows_{s}[1:]" if s in self._alternating else f"G_{s}[-2::-1]"
            elem, prods = self._term_sources(f"{s}_prev", factor_names, step_name, signal_name)
            body.append(f"# carry_{s}: what step t sends back to {s}_(t-1)")
            terms = [("prod", *p) for p in prods] + [("elem", *e) for e in elem]
            used_tmp |= accumulate(out, terms, True)
        if used_tmp:
            lines.append("_t = np.empty((B, H))")
        lines.append(local_names(body))
        vars_, arrays = _used(loop_vars, body)
        lines.append(f"for {', '.join(vars_)} in zip({', '.join(arrays)}):")
        lines += [IND + b for b in body]
        lines.append(_release(list(vars_) + (["_t"] if used_tmp else [])))
        lines += self._after_loop(deferred, factor_names)
        return [ind + line for line in lines]

    def deferred(self) -> set:
        """Signals the time loop does not read: not a state, not read by a carry or by a signal
        the loop computes.  They are computed after the loop, for all steps at once (the GRU's
        input-side blocks), so the loop makes fewer calls per step."""
        c = self.cell

        def reads(vec):
            out = set(c.paths(vec))
            for n, _ in c.consumers(vec)[1]:
                out |= set(n.blocks)
            return out

        need = set(self.states).union(*(reads(f"{s}_prev") for s in self.states))
        todo = list(need)
        while todo:
            for r in reads(todo.pop()) - need:
                need.add(r)
                todo.append(r)
        return {v for v in c.signals if v not in need}

    def _after_loop(self, deferred, factor_names) -> list[str]:
        """The deferred signals, whole arrays, in the loop's order (a signal after those it reads)."""
        if not deferred:
            return []

        def whole_signal(sig):
            return f"G_{sig}[1:]" if sig in self.states else f"G_{sig}"

        def whole_step(array, var=None):
            if array in self._in_storage:
                return whole_signal(self._in_storage[array])
            return array

        lines = ["# signals the loop does not read: all steps at once"]
        tmp = False
        for vec in reversed(self.cell.signals):
            if vec not in deferred:
                continue
            out = whole_signal(vec)
            elem, prods = self._term_sources(vec, factor_names, whole_step, whole_signal)
            first = True
            for a, b in elem:
                if a is None:
                    lines.append(f"np.copyto({out}, {b})" if first else f"np.add({out}, {b}, {out})")
                elif first:
                    lines.append(f"np.multiply({a}, {b}, {out})")
                else:
                    tmp = True
                    lines += [f"np.multiply({a}, {b}, _tt)", f"np.add({out}, _tt, {out})"]
                first = False
            for a, m in prods:
                lines.append(f"{out}[...] {'=' if first else '+='} _mm({a}, {m})")
                first = False
            if first:
                lines.append(f"{out}[...] = 0.0")
        if tmp:
            lines.insert(1, "_tt = np.empty((T, B, H))")
            lines.append("_tt = None  # scratch no longer needed")
        return lines

    def _lags(self, factor_names, ind) -> list[str]:
        """Truncated: every step at once, one lag at a time (same formulas as the loop).

        Every lag writes into buffers allocated once per call, a contiguous prefix of n steps each
        (``np.multiply``/``np.dot`` with ``out=``): per-lag temporaries of T x B x H would go back
        to the allocator and be page-faulted in again at every lag.  Lag 0 writes the product
        signals' storage itself.  A state's carry overwrites the errors it received unless a carry
        term still reads them; then two buffers take turns.
        """
        c = self.cell
        rows_read = self.state_rows_read()

        def step_name(rows):
            return lambda array, var=None: f"{array}[:{rows}]"

        def signal_name(rows):
            return lambda sig: f"g_{sig}" if rows == "n" else f"g_{sig}[:{rows}]"

        lines = ["# lag buffers: prefixes of n steps are written in place, nothing is allocated per lag"]
        own = []  # signals that need storage of their own (not just the incoming carry)
        for vec in c.signals:
            blk = c.block_of(vec)
            if blk is not None:
                continue
            elem, prods = self._term_sources(vec, factor_names, step_name("n"), signal_name("n"))
            if vec not in self.states or elem or prods:
                own.append(vec)
        for n in c.products:
            lines.append(f"L_{n.name} = np.empty((T, B, {_rows_src(n.rows)}))")
        lines += [f"L_{v} = np.empty((T, B, H))" for v in own]
        # A state's carry overwrites its incoming errors unless a carry still reads them after
        # that: the state's signal is the incoming array itself and some carry term reads it.
        read_by_carries = {sig for s in self.states for sig in c.paths(f"{s}_prev")}
        one_buffer = {s for s in self.states if s in own or s not in read_by_carries}
        for s in self.states:
            if s in one_buffer:
                lines.append(f"I_{s} = C_{s} = np.empty((T, B, H))  # incoming, then carried")
            else:
                lines.append(f"I_{s}, C_{s} = np.empty((T, B, H)), np.empty((T, B, H))  # incoming, carried")
        lines.append("# lag 0: the upstream gradients; the final-state gradients enter at step T")
        for s in self.states:
            if s == c.output:
                lines.append(f"np.copyto(I_{s}, du)")
            else:
                lines.append(f"I_{s}[:-1] = 0.0")
            lines.append(f"I_{s}[-1] {'+' if s == c.output else ''}= d{s}_final")
            lines.append(f"inc_{s} = I_{s}")
        # A state whose carry is only products (W^T times a product's signal) sends step 1's
        # errors to the initial state after the last lag, from the product's summed signal; the
        # lags carry steps 2..n only.  The others carry step 1 too, at every lag.
        late = {s for s in self.states
                if not c.paths(f"{s}_prev") and c.consumers(f"{s}_prev")[1]}
        body = ["n = T - j  # steps 1..n receive the errors that travelled j steps"]
        if set(self.states) - late:
            body.append("m = n if j < truncate else 1  # the last lag carries only step 1's, to the initial state")
        calls: list[str] = []

        def accumulate(out, rows, terms):
            """``out`` = the sum of ``terms`` in their order: ("elem", coefficient or None for 1,
            signal) or ("prod", signal, matrix); a term after the first goes through ``_t``."""
            first = True
            for kind, a, b in terms:
                if kind == "elem" and a is None:
                    calls.append(f"copyto({out}, {b})" if first else f"add({out}, {b}, {out})")
                else:
                    target = out if first else f"_t[:{rows}]"
                    calls.append(f"multiply({a}, {b}, {target})" if kind == "elem"
                                 else f"dot(_rows({a}), {b}, _rows({target}))")
                    if not first:
                        calls.append(f"add({out}, {target}, {out})")
                first = False
            if first:  # no term at all
                calls.append(f"{out}[...] = 0.0")

        for n in c.products:
            body.append(f"g_{n.name} = L_{n.name}[:n] if j else G_{n.name}  # lag 0 writes G itself")
            for i, blk in enumerate(n.blocks if len(n.blocks) > 1 else ()):
                body.append(f"g_{blk} = g_{n.name}{_block(i)}")
        sums = []  # the signals of lags after the first add into G
        for vec in reversed(c.signals):
            elem, prods = self._term_sources(vec, factor_names, step_name("n"), signal_name("n"))
            terms = [("elem", *e) for e in elem] + [("prod", *p) for p in prods]
            if vec in self.states:
                if vec in own:
                    terms.append(("elem", None, f"inc_{vec}"))
                else:  # nothing but what arrives: read it where it is
                    body.append(f"g_{vec} = inc_{vec}")
            if vec in self.states and vec in own:
                body.append(f"g_{vec} = L_{vec}[:n]")
            elif vec in own:
                body.append(f"g_{vec} = L_{vec}[:n] if j else G_{vec}  # lag 0 writes G itself")
            if vec in own or vec not in self.states:
                calls.clear()
                accumulate(f"g_{vec}", "n", terms)
                body += calls
            if vec in self.states:
                if vec in rows_read:  # an elementwise parameter's gradient reads every step
                    body.append(f"G_{vec}[1:n + 1] += g_{vec}")
            elif c.block_of(vec) is None:
                sums.append(f"{IND}G_{vec}[:n] += g_{vec}")
        sums += [f"{IND}G_{n.name}[:n] += g_{n.name}" for n in c.products]  # all blocks in one call
        if sums:
            body += ["if j:  # lag 0 wrote them", *sums]
        after = []
        for s in self.states:
            swap = "" if s in one_buffer else f", I_{s}, C_{s}"
            swapped = "" if s in one_buffer else f", C_{s}, I_{s}"
            if s in late:
                prods = [(f"g_{n.name}[1:]", m) for n, m in c.consumers(f"{s}_prev")[1]]
                body.append(f"if j < truncate:  # what the next lag receives: steps 2..n send it back")
                calls.clear()
                accumulate("carry", "n - 1", [("prod", *p) for p in prods])
                body += [IND + b for b in [f"carry = C_{s}[:n - 1]", *calls, f"inc_{s}{swap} = carry{swapped}"]]
                terms = [f"G_{n.name}[0] @ {m}" for n, m in c.consumers(f"{s}_prev")[1]]
                after.append(f"G_{s}[0] = {' + '.join(terms)}  # step 1's carry, summed over the lags")
                continue
            elem, prods = self._term_sources(f"{s}_prev", factor_names, step_name("m"), signal_name("m"))
            body.append(f"carry = C_{s}[:m]")
            calls.clear()
            accumulate("carry", "m", [("prod", *p) for p in prods] + [("elem", *e) for e in elem])
            body += calls
            body.append(f"G_{s}[0] += carry[0]  # step 1 sends it to the initial state")
            body.append(f"inc_{s}{swap} = carry[1:]{swapped}" + ("" if s in one_buffer else "  # the next lag writes the other buffer"))
        if any("_t[" in b for b in body):
            lines.append("_t = np.empty((T, B, H))  # a second term, before it is added")
        lines.append(local_names(body))
        lines.append("for j in range(truncate + 1):")
        lines += [IND + b for b in body]
        lines += after
        scratch = set()  # every name the branch binds: buffers and views of them
        for line in lines[1:]:
            for target in line.split("  #")[0].strip().split(" = ")[:-1]:
                scratch |= {v for v in target.split(", ") if v.isidentifier()}
        lines.append(_release(sorted(scratch - {"n", "m", *NUMPY_CALLS})))
        return [ind + line for line in lines]

    def state_rows_read(self) -> set:
        """States whose signal is read at every step after the loop (by an elementwise parameter's
        gradient); the others are only needed at step 0, for the initial-state gradient."""
        c = self.cell
        return {sig for p in c.elementwise_params for sig in c.paths(p) if sig in self.states}

    def _gradients(self) -> list[str]:
        c = self.cell
        L = [f"{IND}# parameter gradients: one product or sum over all steps"]
        grads: dict[str, list[str]] = {p: [] for p in self.params}
        for n in c.products:
            for m, v in n.terms:
                if v == c.input:
                    grads[m].append(f"_input_gradient(x, ids, G_{n.name}, {m})")
                else:
                    grads[m].append(f"_rows(G_{n.name}).T @ _rows({self.per_step(v)})")
            for b in n.biases:
                grads[b].append(f"_rows(G_{n.name}).sum(axis=0)")
        full = {v: self.per_step(v) for v in c.vector_names if v != c.input}
        arr = ArrayPrinter(full)
        for p in c.elementwise_params:
            for sig_, k in c.paths(p).items():
                signal = f"G_{sig_}[1:]" if sig_ in self.states else f"G_{sig_}"
                grads[p].append(f"_rows({arr.doprint(k)} * {signal}).sum(axis=0)")
        L.append(f"{IND}grads = {{")
        for p in self.params:
            L.append(f"{IND * 2}{p!r}: {' + '.join(grads[p]) if grads[p] else f'np.zeros_like({p})'},")
        L.append(f"{IND}}}")
        dx = [f"_rows(G_{n.name}) @ {m}" for n in c.products for m, v in n.terms if v == c.input]
        L.append(f"{IND}dx = None if ids else ({' + '.join(dx)}).reshape(x.shape)")
        L.append(f"{IND}signals = {{{', '.join(f'{n.name!r}: G_{n.name}' for n in c.products)}}}")
        L.append(f"{IND}return grads, dx, {{{', '.join(f'{s!r}: G_{s}[0]' for s in self.states)}}}, signals")
        return L


def _used(loop_vars: dict, body: list[str]):
    """(variables, arrays) of the loop, keeping only the variables the body reads or writes."""
    words = set(re.findall(r"\w+", "\n".join(b for b in body if not b.startswith("#"))))
    kept = [(v, a) for v, a in loop_vars.items() if v in words]
    return tuple(v for v, _ in kept), tuple(a for _, a in kept)


def _release(names) -> str:
    """Drop the references to scratch arrays (and views of them) before the gradients allocate:
    the peak memory of a call is then the larger of the two phases, not their sum, and memory
    the allocator gives back to the system is page-faulted in again at every call."""
    return f"{' = '.join(names)} = None  # scratch no longer needed"


def _block(i: int) -> str:
    return f"[..., {i} * H:{i + 1} * H]" if i else "[..., :H]"


def _rows_src(rows) -> str:
    return str(rows).replace("*", " * ")


def _dedupe(lines):
    seen, out = set(), []
    for line in lines:
        if line not in seen:
            seen.add(line)
            out.append(line)
    return out


def _sigmoid_class():
    from ..derive.cell import sigmoid
    return sigmoid


def render(cell: Cell) -> str:
    """The full source of the generated module of ``cell``."""
    return CellKernels(cell).render()
