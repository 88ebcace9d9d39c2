r"""Recurrent cells as composable pieces: forward, backward with upstream gradients, one step.

>>> from rnnmath import cells
>>> cell = cells.rnn(activation="tanh")      # also "relu", cells.lstm(), cells.gru()
>>> cell.states, cell.output, list(cell.params)
(('s',), 's', ['U', 'W', 'b'])

``cell.forward(x, params, state0)`` runs the cell over a sequence; ``cell.backward(fw, doutputs,
dfinal)`` takes the gradient of the loss with respect to every output :math:`\partial E/\partial
h_t` (from an output layer, see :mod:`rnnmath.heads`, or from the layer above) and with respect to
the final states (from whatever reads them next), and returns the gradients of the parameters, of
dense inputs and of the initial states.  Both call generated NumPy kernels; the cell's
mathematics and its kernels come from one SymPy description (:mod:`rnnmath.derive.cells`), and
:func:`define` turns a description of your own into the same kind of object.
"""
from __future__ import annotations

import importlib
import types
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from . import validate as check

ACTIVATIONS = ("tanh", "relu")
# How overflow messages name the built-in states and signals (the names of the pages).
STATE_LABELS = {("rnn_tanh", "s"): "states s_t", ("rnn_relu", "s"): "states s_t",
                ("lstm", "h"): "hidden states h_t", ("lstm", "c"): "cell states C_t",
                ("gru", "h"): "hidden states h_t"}
SIGNAL_LABELS = {"a": "delta_t = dE/da_t"}


@dataclass(frozen=True)
class CellForward:
    r"""What :meth:`Cell.forward` computed.

    Attributes
    ----------
    outputs : (T, H) or (T, B, H) float
        What an output layer reads at every step: :math:`h_1, \dots, h_T` (the state
        ``cell.output``).
    final : dict of str to (H,) or (B, H) float
        The states after the last step, by state name; feed them to the next chunk.
    states : dict of str to (T + 1, H) or (T + 1, B, H) float
        Every state at every step, row 0 the initial state.
    stored : dict of str to ndarray
        Everything the backward pass reads (gates, products), by the cell's node names,
        (T, B, ...) with a batch axis even for one sequence.
    """

    outputs: np.ndarray
    final: dict
    states: dict
    stored: dict = field(repr=False)
    _x: np.ndarray = field(repr=False, default=None)
    _ids: bool = field(repr=False, default=False)
    _batched: bool = field(repr=False, default=False)
    _params: dict = field(repr=False, default=None)
    _state0_shapes: dict = field(repr=False, default=None)


@dataclass(frozen=True)
class CellGradients:
    r"""What :meth:`Cell.backward` computed.

    Attributes
    ----------
    params : dict of str to ndarray
        One gradient per parameter, with its shape (biases included when they were omitted).
    x : (T, D) or (T, B, D) float, or None
        Gradient with respect to dense inputs; None for token ids.
    state0 : dict of str to (H,) or (B, H) float
        Gradients of the initial states, shaped like the ``state0`` entries given ((B, H) for
        batched input, (H,) otherwise, when omitted).
    signals : dict of str to (T, B, rows) float
        :math:`\partial E/\partial` (product node) at every step, e.g. the vanilla
        :math:`\delta_t = \partial E/\partial a_t` as ``signals["a"]``.
    """

    params: dict
    x: np.ndarray | None
    state0: dict
    signals: dict = field(repr=False, default=None)


class Cell:
    """A recurrent cell: its parameters, states, derivation and generated kernels.

    Get one from :func:`rnn`, :func:`lstm`, :func:`gru` or :func:`define`.
    """

    def __init__(self, name: str, module: types.ModuleType, source: str | None = None,
                 description=None):
        self.name = name
        self.kernels = module
        self.params = dict(module.PARAMS)
        self.states = tuple(module.STATES)
        self.output = module.OUTPUT
        self.optional = tuple(module.BIASES)
        self._source = source
        self._description = description

    def __repr__(self):
        return f"<cell {self.name}: params {list(self.params)}, states {list(self.states)}>"

    # -- the mathematics (SymPy on demand) ------------------------------------------------
    @property
    def description(self):
        """The SymPy description (:class:`rnnmath.derive.cell.Cell`)."""
        if self._description is None:
            from .derive.cells import builtin
            self._description = builtin()[self.name]
        return self._description

    @property
    def derivation(self):
        """The derivation (:class:`rnnmath.derive.Derivation`): forward, local derivatives,
        the BPTT recursion of every state, every gradient."""
        return self.description.derivation()

    @property
    def source(self) -> str:
        """The generated NumPy module: write it to a file and import it without SymPy."""
        if self._source is None:
            import inspect
            self._source = inspect.getsource(self.kernels)
        return self._source

    # -- validation -----------------------------------------------------------------------
    def _sizes(self, params) -> tuple[int, int]:
        """(H, D) read off the parameters."""
        H = D = None
        for name, dims in self.params.items():
            if name not in params:
                continue
            arr = np.shape(params[name])
            for dim, n in zip(dims, arr):
                if dim == "H":
                    H = n
                elif dim == "D":
                    D = n
        if H is None:
            raise ValueError(f"params: expected the entries {list(self.params)} of the "
                             f"{self.name} cell, got keys {sorted(params)}")
        return H, D

    def _params(self, params) -> tuple[dict, int, int]:
        if not isinstance(params, Mapping):
            raise ValueError(f"params: expected a mapping with keys {list(self.params)}, "
                             f"got {type(params).__name__}")
        unknown = sorted(set(params) - set(self.params), key=str)
        if unknown:
            raise ValueError(f"params: expected keys among {list(self.params)}, got unknown "
                             f"key {unknown[0]!r}")
        H, D = self._sizes(params)
        out = {}
        for name, dims in self.params.items():
            if name not in params:
                # named by its dims: D is unknown when the missing entry is the one that has it
                if name not in self.optional:
                    raise ValueError(f"params: expected a {name!r} entry of shape "
                                     f"({', '.join(dims)}), got keys {sorted(params)}")
                out[name] = np.zeros(tuple(_dim(d, H, D) for d in dims))  # biases: H only
                continue
            shape = tuple(_dim(d, H, D) for d in dims)
            arr = check.real_array(f"params[{name!r}]", params[name])
            if arr.shape != shape:
                raise ValueError(f"params[{name!r}]: expected shape {shape} "
                                 f"({' x '.join(dims)}), got shape {arr.shape}")
            out[name] = arr
        return out, H, D

    def _state0(self, state0, H, B, batched):
        state0 = {} if state0 is None else state0
        if not isinstance(state0, Mapping):
            raise ValueError(f"state0: expected a dict with keys among {list(self.states)}, got "
                             f"{type(state0).__name__}")
        unknown = sorted(set(state0) - set(self.states), key=str)
        if unknown:
            raise ValueError(f"state0: expected keys among {list(self.states)}, got {unknown[0]!r}")
        return {s: check.initial_state(f"state0[{s!r}]", state0.get(s), H, B if batched else None)
                for s in self.states}

    # -- forward / backward ---------------------------------------------------------------
    def forward(self, x, params, state0=None) -> CellForward:
        """Run the cell over a sequence.

        Parameters
        ----------
        x : (T,) or (T, B) int, or (T, D) or (T, B, D) float
            Token ids (one-hot inputs) or dense input rows.
        params : dict of str to ndarray
            The cell's parameters (``cell.params`` lists names and shapes); biases may be
            omitted (zeros).
        state0 : dict of str to (H,) or (B, H) float, optional
            Initial states by name; missing entries are zeros.

        Returns
        -------
        CellForward
        """
        p, H, D = self._params(params)
        if D is None:
            D = 0
        x, ids, batched = check.sequence("x", x, D, "D, the input size of the cell")
        return self._forward(x, ids, batched, p, state0, H)

    def _forward(self, x, ids, batched, p, state0, H) -> CellForward:
        """Forward on validated x and params; ``state0`` as the user gave it."""
        xb = x if batched else x[:, None]
        s0 = self._state0(state0, H, xb.shape[1], batched)
        return self._run(xb, ids, batched, p, s0)

    def _run(self, xb, ids, batched, p, s0, checked=True) -> CellForward:
        """Forward on validated arrays only: x as (T, B, ...), every initial state an array.

        The one-call functions validate their arguments once and come here directly, so no
        argument is converted or checked twice.  ``checked=False`` leaves the overflow check of
        the states to the caller (:meth:`_check_forward`), which then runs it only when one
        cheap test over all its results fails; the caller also holds :func:`check.quiet`
        (one floating-point switch per public call, not one per piece).
        """
        shapes = {s: v.shape for s, v in s0.items()}
        # overflow is caught below, by step, not as a NumPy warning (unchecked: by the caller)
        with check.quiet() if checked else nullcontext():
            stored = self.kernels.forward(xb, ids, *p.values(), *s0.values())
        stored = dict(zip(self.kernels.STORED, stored))
        if checked:
            self._check_forward(stored)
        states = {s: stored[s] if batched else stored[s][:, 0] for s in self.states}
        final = {s: v[-1] for s, v in states.items()}
        return CellForward(states[self.output][1:], final, states, stored, xb, ids, batched, p,
                           shapes)

    def backward(self, fw: CellForward, doutputs=None, dfinal=None, *,
                 truncate=None) -> CellGradients:
        r"""Gradients of a loss :math:`E` through the cell, given its gradients at the outputs.

        Parameters
        ----------
        fw : CellForward
            The forward pass to differentiate.
        doutputs : (T, H) or (T, B, H) float, optional
            :math:`\partial E/\partial h_t` for every output (like ``fw.outputs``); zeros if
            omitted.
        dfinal : dict of str to (H,) or (B, H) float, optional
            :math:`\partial E/\partial` (final state), by state name; missing entries are zeros.
        truncate : int >= 0, optional
            None for full BPTT; ``k``: every error travels back at most ``k`` steps
            (``bptt_truncate``); ``k >= T - 1`` is full BPTT.

        Returns
        -------
        CellGradients
        """
        shape = fw.outputs.shape
        if doutputs is None:
            du = np.zeros(fw._x.shape[:2] + (shape[-1],))
        else:
            du = check.real_array("doutputs", doutputs)
            if du.shape != shape:
                raise ValueError(f"doutputs: expected shape {shape} (like fw.outputs), got "
                                 f"shape {du.shape}")
            du = du if fw._batched else du[:, None]
        dfinal = {} if dfinal is None else dfinal
        if not isinstance(dfinal, Mapping) or set(dfinal) - set(self.states):
            raise ValueError(f"dfinal: expected a dict with keys among {list(self.states)}, got "
                             f"{dfinal if not isinstance(dfinal, Mapping) else sorted(dfinal)!r}")
        finals = []
        for s in self.states:
            if dfinal.get(s) is None:
                finals.append(0.0)
                continue
            arr = check.real_array(f"dfinal[{s!r}]", dfinal[s])
            if arr.shape != fw.final[s].shape:
                raise ValueError(f"dfinal[{s!r}]: expected shape {fw.final[s].shape} (like "
                                 f"fw.final[{s!r}]), got shape {arr.shape}")
            finals.append(arr)
        return self._backward(fw, du, finals, check.truncate(truncate))

    def _check_forward(self, stored: dict) -> None:
        """Overflowed states raise FloatingPointError naming the first step that overflowed."""
        for s in self.states:
            check.finite_result(STATE_LABELS.get((self.name, s), f"states {s}_t"), stored[s])

    def _check_backward(self, signals: dict) -> None:
        """Exploding signals raise FloatingPointError naming the last step (BPTT runs back)."""
        for node, g in signals.items():
            label = SIGNAL_LABELS.get(node, f"gradient signal dE/d{node}_t")
            check.finite_result(label, g, first=1, backward=True)

    def _backward(self, fw: CellForward, du, finals, truncate, checked=True) -> CellGradients:
        """Backward on validated arrays; ``checked=False``: see :meth:`_run`."""
        # exploding gradients: named below, by step and by parameter (unchecked: by the caller)
        with check.quiet() if checked else nullcontext():
            grads, dx, d0, signals = self.kernels.backward(
                fw._x, fw._ids, *fw.stored.values(), *fw._params.values(), du, *finals,
                truncate=truncate)
        if checked:
            self._check_backward(signals)
        if dx is not None and not fw._batched:
            dx = dx[:, 0]
        state0 = {s: state0_gradient(g, fw._state0_shapes[s], fw._batched)
                  for s, g in d0.items()}
        return CellGradients(grads, dx, state0, signals)

    def step(self, x, params, state=None) -> dict:
        """One step: the new states from one input and the current states.

        Validates ``params`` on every call; to sample many steps, validate them once with
        :meth:`stepper` and call that instead (the same result, about three times cheaper at H = 100).

        Parameters
        ----------
        x : int or (B,) int, or (D,) or (B, D) float
            One token id (or one per sequence) or one input row.
        params : dict of str to ndarray
            As in :meth:`forward`.
        state : dict of str to (H,) or (B, H) float, optional
            Current states; zeros if omitted.

        Returns
        -------
        dict of str to (H,) or (B, H) float
        """
        return self.stepper(params)(x, state)

    def stepper(self, params) -> "Stepper":
        """A function ``stepper(x, state=None) -> new state`` with ``params`` validated once.

        For sampling, one step at a time: each call checks only its input and the new states.

        >>> import numpy as np
        >>> from rnnmath import cells
        >>> cell = cells.rnn()
        >>> params = {"U": np.eye(3), "W": 0.5 * np.eye(3)}
        >>> step = cell.stepper(params)
        >>> state = None
        >>> for token in [0, 2, 1]:
        ...     state = step(token, state)
        >>> np.allclose(state["s"], cell.forward([0, 2, 1], params).final["s"])
        True
        """
        p, H, D = self._params(params)
        return Stepper(self, tuple(p.values()), H, D)


class Stepper:
    """One step of a cell with validated parameters; see :meth:`Cell.stepper`."""

    __slots__ = ("cell", "_args", "_H", "_D")

    def __init__(self, cell: Cell, args: tuple, H: int, D: int | None):
        self.cell, self._args, self._H, self._D = cell, args, H, D

    def __call__(self, x, state=None) -> dict:
        """The new states (a dict like ``state``) from ``x`` (int or (B,) ids, (D,) or (B, D)
        rows) and ``state`` (dict of (H,) or (B, H); missing entries zero)."""
        states, D, H = self.cell.states, self._D, self._H
        if type(x) is int:  # one token id, the sampling loop's case: no array at all
            if not 0 <= x < (D or 0):
                raise ValueError(f"x: expected ids in [0, {D}), got id {x}")
            xa, ids, batch = x, True, None
        else:
            xa, ids, batch = self._input(x)
        if state is None:
            state = {}
        elif not isinstance(state, Mapping) or any(k not in states for k in state):
            raise ValueError(f"state: expected a dict with keys among {list(states)}, got "
                             f"{state if not isinstance(state, Mapping) else sorted(state)!r}")
        cur = []
        for s in states:
            v = state.get(s)
            # A float64 array of the right shape goes straight in (its finiteness is tested
            # with the new states below); anything else is checked like an initial state.
            if not (type(v) is np.ndarray and v.dtype == np.float64
                    and (v.shape == (H,) or v.shape == (batch, H))):
                v = check.initial_state(f"state[{s!r}]", v, H, batch)
            cur.append(v)
        with check.quiet():  # bad states and overflow: named below
            new = self.cell.kernels.step(xa, ids, *self._args, *cur)
            new = (new,) if len(states) == 1 else new
            # A NaN or inf in a given state reaches the new states (IEEE arithmetic, tanh, exp
            # and maximum all propagate it), so the given states are examined only when this
            # fails: the error then names them first.
            ok = check.all_finite(*new)
        if not ok:
            for s, v in zip(states, cur):
                check.real_array(f"state[{s!r}]", v)
            for s, v in zip(states, new):
                check.finite_result(f"new state {s}", v, first=None)
        return dict(zip(states, new))

    def _input(self, x):
        """(x, ids, batch) for an array input: (B,) ids or (D,) / (B, D) rows."""
        D = self._D
        xa = check.as_array("x", x)
        ids = xa.dtype.kind in "iu"
        if ids:
            if xa.ndim > 1:
                raise ValueError(f"x: expected one id or (B,) ids, got shape {xa.shape}")
            if xa.ndim == 0:  # one id: a Python int indexes a view; a 0-d array would copy
                xa = int(xa)
                if not 0 <= xa < (D or 0):
                    raise ValueError(f"x: expected ids in [0, {D}), got id {xa}")
                return xa, True, None
            if xa.size == 0 or xa.min() < 0 or xa.max() >= (D or 0):
                raise ValueError(f"x: expected ids in [0, {D}), got {xa!r}")
            return xa.astype(np.intp, copy=False), True, xa.shape[0]
        xa = check.real_array("x", xa)
        if xa.ndim not in (1, 2) or xa.shape[-1] != D:
            raise ValueError(f"x: expected a row of shape ({D},) or rows (B, {D}), got "
                             f"shape {xa.shape}")
        return xa, False, (xa.shape[0] if xa.ndim == 2 else None)


def state0_gradient(g: np.ndarray, shape: tuple, batched: bool) -> np.ndarray:
    """The kernels' (B, H) initial-state gradient shaped like the initial state given: summed
    over the batch for one (H,) state shared by every sequence, (H,) for unbatched input."""
    if not batched:
        return g[0]
    return g.sum(axis=0) if len(shape) == 1 else g


def _dim(text: str, H: int, D: int) -> int:
    """A shape entry of PARAMS: "H", "D", "4 * H"."""
    value = 1
    for factor in text.split("*"):
        factor = factor.strip()
        value *= {"H": H, "D": D}.get(factor) if factor in ("H", "D") else int(factor)
    return value


_BUILTIN: dict = {}


def _builtin(name: str) -> Cell:
    if name not in _BUILTIN:
        module = importlib.import_module(f"rnnmath._cell_{name}")
        _BUILTIN[name] = Cell(name, module)
    return _BUILTIN[name]


def rnn(activation: str = "tanh") -> Cell:
    r"""The vanilla RNN :math:`s_t = f(U x_t + W s_{t-1} + b)`, params ``U`` (H, D), ``W`` (H, H),
    ``b`` (H,); state ``s``.

    Parameters
    ----------
    activation : {"tanh", "relu"}
    """
    check.choice("activation", activation, ACTIVATIONS)
    return _builtin(f"rnn_{activation}")


def lstm() -> Cell:
    """The LSTM in PyTorch's layout: ``weight_ih`` (4H, D), ``weight_hh`` (4H, H), ``bias_ih``,
    ``bias_hh`` (4H,), gates stacked i, f, g, o; states ``h`` and ``c``."""
    return _builtin("lstm")


def gru() -> Cell:
    """The GRU in PyTorch's layout: ``weight_ih`` (3H, D), ``weight_hh`` (3H, H), ``bias_ih``,
    ``bias_hh`` (3H,), gates stacked r, z, n; state ``h``."""
    return _builtin("gru")


def define(name: str, equations, *, states, output=None, blocks=None, title="") -> Cell:
    """A cell of your own from SymPy equations: its derivation, generated source and kernels.

    Parameters
    ----------
    name : str
        An identifier (``"indrnn"``).
    equations : sequence of (str, sympy expression)
        In evaluation order.  A product node is a ``MatrixSymbol`` expression: parameter matrices
        times vectors (``vector("x", D)``, ``vector("h_prev")``, an earlier node) plus bias
        vectors.  An elementwise node is a SymPy expression for one entry, in symbols named
        like the vectors (``h_prev``, a node, a block) and elementwise parameters (any other
        symbol: a vector of H entries).  Functions: ``tanh``, ``exp``, ``sigmoid``, ``relu``
        (from :mod:`rnnmath.derive.cell`) and what SymPy can differentiate.
    states : tuple of str
        The states, each computed by the equation of the same name.
    output : str, optional
        The state an output layer reads (default: the first).
    blocks : dict of str to tuple of str, optional
        Names for equal row blocks of product nodes (H rows each), in stacking order.

    Returns
    -------
    Cell
        ``cell.derivation`` (steps), ``cell.source`` (NumPy only) and the same ``forward``,
        ``backward`` and ``step`` as the built-in cells.
    """
    from .codegen.kernels import render
    from .derive.cell import Cell as Description

    desc = Description(name, tuple(equations), tuple(states), output or states[0],
                       dict(blocks or {}), title=title)
    source = render(desc)
    module = types.ModuleType(f"rnnmath_cell_{name}")
    exec(compile(source, f"<generated cell {name}>", "exec"), module.__dict__)
    return Cell(name, module, source, desc)
