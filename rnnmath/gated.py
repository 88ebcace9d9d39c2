r"""LSTM and GRU: validate once, normalise shapes, call the generated kernels.

The weights follow PyTorch's ``nn.LSTM`` / ``nn.GRU`` layout one to one (gates stacked i, f, g, o
for the LSTM and r, z, n for the GRU), and the output layer is the vanilla model's:

.. math::
    \begin{aligned}
    z_t &= V h_t + c, \\
    \hat y_t &= \operatorname{softmax}(z_t), \\
    E &= -\sum_t \sum_k y_{t,k}\log \hat y_{t,k}.
    \end{aligned}

``params`` is a mapping with the keys ``weight_ih`` (G·H, D), ``weight_hh`` (G·H, H),
``bias_ih`` (G·H,), ``bias_hh`` (G·H,), ``V`` (K, H) and ``c`` (K,), with G = 4 for the LSTM and
3 for the GRU; missing biases are zeros.  A PyTorch module's ``state_dict()`` entries
``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0`` are these arrays unchanged.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import _generated as gen
from . import cells
from . import heads
from . import validate as check

REQUIRED = ("weight_ih", "weight_hh", "V")
OPTIONAL = ("bias_ih", "bias_hh", "c")
KEYS = REQUIRED + OPTIONAL
GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


@dataclass(frozen=True)
class GatedForward:
    r"""What the forward pass of an LSTM or GRU computed.

    Attributes
    ----------
    hidden : (T + 1, H) or (T + 1, B, H) float
        :math:`h_0, \dots, h_T`; ``hidden[t]`` is :math:`h_t`.
    cell : (T + 1, H) or (T + 1, B, H) float, or None
        The LSTM's cell states :math:`C_0, \dots, C_T`; None for the GRU.
    gates : dict of str to (T, H) or (T, B, H) float
        Gate outputs by PyTorch's names (``"i", "f", "g", "o"`` or ``"r", "z", "n"``);
        ``gates["f"][t - 1]`` is :math:`f_t`.
    logits, probs : (T, K) or (T, B, K) float
    loss : float or None
        :math:`E`, when labels were given.
    """

    hidden: np.ndarray
    cell: np.ndarray | None
    gates: dict
    logits: np.ndarray
    probs: np.ndarray
    loss: float | None = None


@dataclass(frozen=True)
class GatedGradients:
    """Loss and the gradient of every parameter and initial state, each with its shape.

    The gradients are the attributes named like the keys of ``params`` (``g.weight_ih``, ...,
    ``g.h0`` and, for the LSTM, ``g.c0``); :attr:`grads` holds the same arrays in a dict, ready
    for :func:`rnnmath.gradient_check`.

    Attributes
    ----------
    loss : float
        Summed over time and batch.
    weight_ih, weight_hh, bias_ih, bias_hh, V, c : ndarray
        Same shapes as the parameters; biases get gradients even when omitted.
    h0 : (H,) or (B, H) ndarray
        Shape of ``h0`` as given; ((B, H) for batched input, (H,) otherwise) when omitted.
    c0 : ndarray or None
        The same for the LSTM's initial cell state; None for the GRU.
    final : dict of str to (H,) or (B, H) ndarray
        The final states (``"h"``, and ``"c"`` for the LSTM), to carry into the next chunk.
    """

    loss: float
    weight_ih: np.ndarray
    weight_hh: np.ndarray
    bias_ih: np.ndarray
    bias_hh: np.ndarray
    V: np.ndarray
    c: np.ndarray
    h0: np.ndarray
    c0: np.ndarray | None = None
    final: dict | None = None
    grads: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        names = KEYS + ("h0",) + (("c0",) if self.c0 is not None else ())
        object.__setattr__(self, "grads", {n: getattr(self, n) for n in names})

    def as_dict(self) -> dict[str, np.ndarray]:
        """:attr:`grads` (the name :class:`rnnmath.RNNGradients` uses)."""
        return dict(self.grads)


@dataclass(frozen=True)
class _Problem:
    cell: str
    x: np.ndarray
    ids: bool
    batched: bool
    p: dict                  # every key of KEYS, float64
    h0: np.ndarray           # (B, H)
    h0_shape: tuple
    c0: np.ndarray | None    # (B, H), LSTM only
    c0_shape: tuple | None


def _initial(name, value, B, H, batched):
    """An initial state as (B, H) and the shape its gradient gets."""
    arr = check.initial_state(name, value, H, B if batched else None)
    return np.broadcast_to(arr, (B, H)), arr.shape


def _prepare(cell, x, params, h0, c0) -> _Problem:
    G = len(GATES[cell])
    if not isinstance(params, Mapping):
        raise ValueError(f"params: expected a mapping with keys {list(REQUIRED)} (and optionally "
                         f"{list(OPTIONAL)}), got {type(params).__name__}")
    unknown = sorted(set(params) - set(KEYS), key=str)
    if unknown:
        raise ValueError(f"params: expected keys among {list(KEYS)}, got unknown key "
                         f"{unknown[0]!r}")
    missing = [k for k in REQUIRED if k not in params]
    if missing:
        raise ValueError(f"params: expected a {missing[0]!r} entry (required: {list(REQUIRED)}), "
                         f"got keys {sorted(params)}")
    whh = check.finite_matrix("params['weight_hh']", params["weight_hh"])
    H = whh.shape[1]
    if whh.shape != (G * H, H):
        raise ValueError(f"params['weight_hh']: expected shape ({G} H, H) = ({G * H}, {H}) for "
                         f"the {G} stacked gates of the {cell.upper()}, got shape {whh.shape}")
    p = {"weight_hh": whh,
         "weight_ih": check.finite_matrix("params['weight_ih']", params["weight_ih"], rows=G * H),
         "V": check.finite_matrix("params['V']", params["V"], cols=H)}
    D, K = p["weight_ih"].shape[1], p["V"].shape[0]
    for name in ("bias_ih", "bias_hh"):
        p[name] = check.vector(f"params[{name!r}]", params.get(name), G * H)
    p["c"] = check.vector("params['c']", params.get("c"), K)
    x, ids, batched = check.sequence("x", x, D, "D = weight_ih.shape[1]")
    if not batched:  # the kernels always see a batch axis
        x = x[:, None]
    B = x.shape[1]
    h0, h0_shape = _initial("h0", h0, B, H, batched)
    c0_shape = None
    if cell == "lstm":
        c0, c0_shape = _initial("c0", c0, B, H, batched)
    return _Problem(cell, x, ids, batched, p, h0, h0_shape, c0, c0_shape)


def _labels(y, prob: _Problem) -> np.ndarray:
    """Label rows (T, B, K): class ids become one-hot rows."""
    K = prob.p["V"].shape[0]
    y, ids = check.labels(y, K, prob.x if prob.batched else prob.x[:, 0], prob.batched)
    if not prob.batched:
        y = y[:, None]
    return np.eye(K)[y] if ids else y


def _run(prob: _Problem):
    """Forward pass: (cell, CellForward, gates, logits) on the batched arrays."""
    p = prob.p
    cell = cells.lstm() if prob.cell == "lstm" else cells.gru()
    state0 = {"h": prob.h0, "c": prob.c0} if prob.cell == "lstm" else {"h": prob.h0}
    # h0 and c0 were validated by _prepare: straight to the kernels.
    fw = cell._run(prob.x, prob.ids, True, {k: p[k] for k in cell.params}, state0)
    gates = {k: fw.stored[k] for k in GATES[prob.cell]}
    return cell, fw, gates, heads.logits(fw.outputs, p["V"], p["c"])


def _unbatch(arr, batched: bool):
    return arr if batched else np.take(arr, 0, axis=1)


def _forward(cell, x, params, h0, c0, y) -> GatedForward:
    prob = _prepare(cell, x, params, h0, c0)
    _, fw, gates, Z = _run(prob)
    loss = None
    with check.quiet():  # Z - max(Z) may overflow to -inf: exp gives the right 0
        if y is not None:
            Yhat, loss, _ = gen.softmax_cross_entropy(Z, _labels(y, prob))
        else:
            Yhat = gen.softmax(Z)
    check.finite_result("loss", 0.0 if loss is None else loss)  # huge label rows
    b = prob.batched
    return GatedForward(_unbatch(fw.states["h"], b),
                        _unbatch(fw.states["c"], b) if cell == "lstm" else None,
                        {k: _unbatch(v, b) for k, v in gates.items()},
                        _unbatch(Z, b), _unbatch(Yhat, b), loss)


def _gradients(cell, x, y, params, h0, c0, truncate) -> GatedGradients:
    prob = _prepare(cell, x, params, h0, c0)
    Y = _labels(y, prob)
    k = check.truncate(truncate)
    p = prob.p
    # The pieces: cell forward, output head, cell backward with the head's upstream gradient.
    model, fw, _, Z = _run(prob)
    loss, DO = heads.loss_and_error(Z, Y, None, "softmax")
    du, dV, dc = heads.backward(fw.outputs, DO, p["V"])
    g = model._backward(fw, du, [0.0] * len(model.states), k)
    dh0 = g.state0["h"]
    dc0 = g.state0.get("c")
    if len(prob.h0_shape) == 1:  # one initial state shared by the batch
        dh0 = dh0.sum(axis=0)
    if dc0 is not None and len(prob.c0_shape) == 1:
        dc0 = dc0.sum(axis=0)
    final = {s: v if prob.batched else v[0] for s, v in fw.final.items()}
    grads = GatedGradients(loss, g.params["weight_ih"], g.params["weight_hh"],
                           g.params["bias_ih"], g.params["bias_hh"], dV, dc, dh0, dc0, final)
    for name, value in grads.grads.items():
        check.finite_result(f"gradient {name}", value, first=None)
    return grads


def lstm_forward(x, params, h0=None, c0=None, *, y=None) -> GatedForward:
    """Run the LSTM forward; arguments as in :func:`lstm_gradients` (``y`` optional).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> H, D, K = 3, 4, 5
    >>> params = dict(weight_ih=rng.normal(size=(4 * H, D)), weight_hh=rng.normal(size=(4 * H, H)),
    ...               V=rng.normal(size=(K, H)))
    >>> out = lstm_forward([0, 3, 1], params)
    >>> out.hidden.shape, out.cell.shape, out.gates["f"].shape, out.probs.shape
    ((4, 3), (4, 3), (3, 3), (3, 5))
    >>> bool(np.allclose(out.hidden[1:], out.gates["o"] * np.tanh(out.cell[1:])))
    True
    """
    return _forward("lstm", x, params, h0, c0, y)


def gru_forward(x, params, h0=None, *, y=None) -> GatedForward:
    """Run the GRU forward; arguments as in :func:`gru_gradients` (``y`` optional).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> H, D, K = 3, 4, 5
    >>> params = dict(weight_ih=rng.normal(size=(3 * H, D)), weight_hh=rng.normal(size=(3 * H, H)),
    ...               V=rng.normal(size=(K, H)))
    >>> out = gru_forward([0, 3, 1], params)
    >>> out.hidden.shape, out.cell, sorted(out.gates)
    ((4, 3), None, ['n', 'r', 'z'])
    >>> z, n = out.gates["z"], out.gates["n"]
    >>> bool(np.allclose(out.hidden[1:], (1 - z) * n + z * out.hidden[:-1]))
    True
    """
    return _forward("gru", x, params, h0, None, y)


def lstm_loss(x, y, params, h0=None, c0=None) -> float:
    """The LSTM's loss :math:`E` alone (arguments as in :func:`lstm_gradients`)."""
    return _forward("lstm", x, params, h0, c0, check.required("y", y)).loss


def gru_loss(x, y, params, h0=None) -> float:
    """The GRU's loss :math:`E` alone (arguments as in :func:`gru_gradients`)."""
    return _forward("gru", x, params, h0, None, check.required("y", y)).loss


def lstm_gradients(x, y, params, h0=None, c0=None, *, truncate=None) -> GatedGradients:
    r"""Loss and exact gradients of an LSTM with the vanilla output layer, by (truncated) BPTT.

    Parameters
    ----------
    x : (T,) or (T, B) int, or (T, D) or (T, B, D) float
        Token ids (one-hot inputs, ``D = weight_ih.shape[1]``) or dense input rows.
    y : (T,) or (T, B) int, or (T, K) or (T, B, K) float
        Class ids, or non-negative label rows (they need not sum to one).
    params : mapping
        ``weight_ih`` (4H, D), ``weight_hh`` (4H, H), ``V`` (K, H) and optionally ``bias_ih``,
        ``bias_hh`` (4H,) and ``c`` (K,), zeros if omitted; gate blocks in PyTorch's order
        i, f, g, o.
    h0, c0 : (H,) or (B, H) float, optional
        Initial hidden and cell states, zeros if omitted.
    truncate : int >= 0, optional
        None for full BPTT.  ``k``: each :math:`E_t` sends its error back through at most ``k``
        earlier steps (k + 1 terms), a step counting once whether the error crosses it through
        :math:`h` or through the cell :math:`C`; ``h0`` and ``c0`` receive the error of
        :math:`E_t` only when :math:`t \le k + 1`.  ``k >= T - 1`` is full BPTT.

    Returns
    -------
    GatedGradients
        ``loss`` and one gradient per key of ``params`` plus ``h0`` and ``c0``, as attributes
        (``g.weight_ih``) and in the dict ``g.grads``.  ``g.h0`` and ``g.c0`` have the shapes of
        ``h0`` and ``c0`` ((B, H) for batched input, (H,) otherwise, when omitted).

    Examples
    --------
    >>> import numpy as np
    >>> from rnnmath import gradient_check, lstm_gradients
    >>> from rnnmath.gated import lstm_loss
    >>> rng = np.random.default_rng(1)
    >>> H, D, K = 3, 4, 2
    >>> params = dict(weight_ih=rng.normal(size=(4 * H, D)), weight_hh=rng.normal(size=(4 * H, H)),
    ...               bias_ih=rng.normal(size=4 * H), V=rng.normal(size=(K, H)))
    >>> x, y = [0, 2, 1, 3], [1, 0, 0, 1]
    >>> g = lstm_gradients(x, y, params)
    >>> sorted(g.grads)
    ['V', 'bias_hh', 'bias_ih', 'c', 'c0', 'h0', 'weight_hh', 'weight_ih']
    >>> g.weight_hh.shape
    (12, 3)
    >>> check = gradient_check(lambda **p: lstm_loss(x, y, p), params,
    ...                        {k: g.grads[k] for k in params})
    >>> check.worst < 1e-7
    True
    """
    return _gradients("lstm", x, y, params, h0, c0, truncate)


def gru_gradients(x, y, params, h0=None, *, truncate=None) -> GatedGradients:
    r"""Loss and exact gradients of a GRU with the vanilla output layer, by (truncated) BPTT.

    Parameters
    ----------
    x : (T,) or (T, B) int, or (T, D) or (T, B, D) float
        Token ids (one-hot inputs, ``D = weight_ih.shape[1]``) or dense input rows.
    y : (T,) or (T, B) int, or (T, K) or (T, B, K) float
        Class ids, or non-negative label rows (they need not sum to one).
    params : mapping
        ``weight_ih`` (3H, D), ``weight_hh`` (3H, H), ``V`` (K, H) and optionally ``bias_ih``,
        ``bias_hh`` (3H,) and ``c`` (K,), zeros if omitted; gate blocks in PyTorch's order
        r, z, n.
    h0 : (H,) or (B, H) float, optional
        Initial hidden state, zeros if omitted.
    truncate : int >= 0, optional
        None for full BPTT.  ``k``: each :math:`E_t` sends its error back through at most ``k``
        earlier steps (k + 1 terms); ``h0`` receives the error of :math:`E_t` only when
        :math:`t \le k + 1`.  ``k >= T - 1`` is full BPTT.

    Returns
    -------
    GatedGradients
        ``loss`` and one gradient per key of ``params`` plus ``h0`` (``c0`` is None), as
        attributes (``g.weight_ih``) and in the dict ``g.grads``.

    Examples
    --------
    >>> import numpy as np
    >>> from rnnmath import gradient_check, gru_gradients
    >>> from rnnmath.gated import gru_loss
    >>> rng = np.random.default_rng(1)
    >>> H, D, K = 3, 4, 2
    >>> params = dict(weight_ih=rng.normal(size=(3 * H, D)), weight_hh=rng.normal(size=(3 * H, H)),
    ...               bias_hh=rng.normal(size=3 * H), V=rng.normal(size=(K, H)))
    >>> x, y = [0, 2, 1, 3], [1, 0, 0, 1]
    >>> g = gru_gradients(x, y, params, h0=np.ones(H))
    >>> g.h0.shape, g.c0, "c0" in g.grads
    ((3,), None, False)
    >>> check = gradient_check(lambda **p: gru_loss(x, y, p, np.ones(H)), params,
    ...                        {k: g.grads[k] for k in params})
    >>> check.worst < 1e-7
    True
    """
    return _gradients("gru", x, y, params, h0, None, truncate)
