# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Derive it yourself
#
# Every formula on this site comes from a SymPy derivation inside the package: a
# `Derivation` is a titled list of `Step`s, and each step holds a SymPy expression, a one-line
# caption and a flag saying whether it is a result. This page runs those derivations live, then
# re-derives two of the results from scratch with nothing but `sympy.diff`, shows how one
# formula becomes a line of NumPy, and ends with a finite-difference check of the generated
# gradients.
#
# The page is executed when the site is built, so what you see is what the current package
# computes.

# %%
import inspect
import time

import numpy as np
import sympy as sp
from IPython.display import Markdown, Math, display

import rnnmath
from rnnmath.derive import derivations
from rnnmath.derive.latex import latex

start = time.perf_counter()
registry = derivations()
print(f"{len(registry)} derivations, built in {time.perf_counter() - start:.2f} s:")
for key, derivation in registry.items():
    print(f"  {key:<16} {derivation.title} ({len(derivation.steps)} steps)")


# %% [markdown]
# A small helper prints a derivation the way the Derivations pages do: the caption as prose, then
# the step's SymPy expression as LaTeX (`step.latex` prints it with the site's printer,
# `rnnmath.derive.latex`: SymPy's LaTeX printer with the pages' factor order and symbols).
# Result steps are the ones the code generator and the tests rely on.

# %%
def show(key):
    derivation = registry[key]
    display(Markdown(f"**{derivation.title}** (`{key}`)"))
    for step in derivation.steps:
        tag = " *(result)*" if step.result else ""
        display(Markdown(f"`{step.name}`{tag}: {step.caption}"))
        display(Math(step.latex))


# %% [markdown]
# ## The softmax Jacobian
#
# The derivation starts from the definition of one softmax entry for a general number of classes
# $K$, differentiates it with `sympy.diff` while the sum is still unevaluated, and collapses the
# Kronecker delta that the derivative of the sum produces.

# %%
show("softmax")

# %% [markdown]
# Composed with the cross-entropy loss, the Jacobian gives the familiar "prediction minus label".

# %%
show("cross_entropy")

# %% [markdown]
# ## Backpropagation through time
#
# The RNN derivations differentiate the index-level model
# $a_t = U x_t + W s_{t-1} + b$, $s_t = f(a_t)$, $z_t = V s_t + c$ entry by entry.
# The output layer only sees its own step:

# %%
show("rnn.output")

# %% [markdown]
# The hidden layer is where time enters: the state $s_t$ reaches the loss through its own logits
# and through the next step, which gives the backward recursion for the error signal
# $\delta_t = \partial E / \partial a_t$.

# %%
show("rnn.hidden")

# %% [markdown]
# Read off as vectors, these are the formulas the generated code computes, with the activation
# left abstract as $\phi$ (the tanh and ReLU derivations supply $\phi'$).

# %%
show("rnn.vector")
show("activation.tanh")

# %% [markdown]
# ## From scratch 1: the softmax Jacobian for $K = 3$
#
# Forget the registry for a moment. With three explicit logits the softmax is an ordinary
# function of three symbols, and `sympy.diff` gives all nine partial derivatives directly.

# %%
z = sp.symbols("z1:4")                      # z1, z2, z3
total = sum(sp.exp(zk) for zk in z)
softmax_explicit = [sp.exp(zk) / total for zk in z]
J = sp.Matrix(3, 3, lambda r, col: sp.diff(softmax_explicit[r], z[col]))
display(Math(r"\frac{\partial \hat y_1}{\partial z_1} = " + latex(J[0, 0])))
display(Math(r"\frac{\partial \hat y_1}{\partial z_2} = " + latex(J[0, 1])))

# %% [markdown]
# The registry's result is one formula for every pair $(i, j)$. Instantiating it for
# $i, j \in \{1, 2, 3\}$ evaluates the Kronecker delta and gives a $3 \times 3$ matrix in terms of
# $\hat y$:

# %%
from rnnmath.derive.softmax import i, j, yhat  # the index symbols of the derivation

rule = registry["softmax"]["jacobian"].expr.rhs
R = sp.Matrix(3, 3, lambda r, col: rule.subs({i: r + 1, j: col + 1}))
display(Math(r"\frac{\partial \hat y}{\partial z} = " + latex(R)))

# %% [markdown]
# Substituting the explicit softmax for $\hat y_1, \hat y_2, \hat y_3$ and simplifying the
# difference proves the two agree exactly, for all nine entries. As a last link in the chain, the
# same matrix evaluated at random logits matches the package's NumPy `softmax_jacobian`.

# %%
R_explicit = R.subs({yhat[n + 1]: softmax_explicit[n] for n in range(3)})
difference = sp.simplify(J - R_explicit)
print("sympy.diff minus the registry's result:", difference)
assert difference == sp.zeros(3, 3)

rng = np.random.default_rng(0)
z_num = rng.normal(size=3)
J_num = np.array(J.subs(dict(zip(z, z_num))).evalf(), dtype=float)
print("largest difference from rnnmath.softmax_jacobian at random logits:",
      f"{np.abs(J_num - rnnmath.softmax_jacobian(z_num)).max():.1e}")

# %% [markdown]
# ## From scratch 2: an unrolled tanh RNN with $T = 2$, $H = 2$
#
# Now the recurrent part. Take two steps, two hidden units, two inputs and two classes, with every
# weight, bias, input and the initial state an explicit symbol. Written out, the loss is a plain
# (if long) expression, and `sympy.diff` with respect to one recurrent weight, $W_{12}$
# (`W[0, 1]` in NumPy), needs no knowledge of recurrent networks at all.

# %%
def matrix(name, rows, cols):
    return sp.Matrix(rows, cols, lambda r, col: sp.Symbol(f"{name}_{{{r + 1}{col + 1}}}"))


def column(name, rows):
    return sp.Matrix(rows, 1, lambda r, _: sp.Symbol(f"{name}_{{{r + 1}}}"))


T, H, D, K = 2, 2, 2, 2
U, W, V = matrix("U", H, D), matrix("W", H, H), matrix("V", K, H)
b, c, s0 = column("b", H), column("c", K), column("s0", H)
xs = [None] + [column(f"x{t}", D) for t in range(1, T + 1)]  # xs[t] is x_t
labels = [None, 0, 1]                                       # the class of step t


def softmax_column(v):
    e = v.applyfunc(sp.exp)
    return e / sum(e)


s, yhats = [s0], [None]
E = 0
for t in range(1, T + 1):
    s.append((U * xs[t] + W * s[t - 1] + b).applyfunc(sp.tanh))
    yhats.append(softmax_column(V * s[t] + c))
    E -= sp.log(yhats[t][labels[t]])

brute = sp.diff(E, W[0, 1])
print(f"the loss has {sp.count_ops(E)} operations; its derivative by W[0, 1] has "
      f"{sp.count_ops(brute)}")

# %% [markdown]
# The closed form from the derivation: $\delta^{o}_t = \hat y_t - y_t$, the recursion
# $\delta_t = \phi'_t \odot (V^T \delta^{o}_t + W^T \delta_{t+1})$ with $\delta_{T+1} = 0$ and
# $\phi'_t = 1 - s_t^2$ for tanh, and then $\partial E/\partial W = \sum_t \delta_t s_{t-1}^T$.
# Built from the same symbols, it is a different expression: nothing in it is differentiated.

# %%
delta_o = [None] + [yhats[t] - sp.eye(K)[:, labels[t]] for t in range(1, T + 1)]
delta = {T + 1: sp.zeros(H, 1)}
for t in range(T, 0, -1):
    fprime = s[t].applyfunc(lambda v: 1 - v**2)
    delta[t] = (V.T * delta_o[t] + W.T * delta[t + 1]).multiply_elementwise(fprime)
dW_closed = sum((delta[t] * s[t - 1].T for t in range(1, T + 1)), sp.zeros(H, H))
closed = dW_closed[0, 1]

# %% [markdown]
# Both are functions of the same symbols. Evaluated at random numbers they agree to rounding,
# and so does the package's `rnn_gradients`, which runs the generated NumPy code on the same
# values.

# %%
symbols = sorted(E.free_symbols, key=str)
print(len(symbols), "symbols:", ", ".join(str(v) for v in symbols))
for trial in range(3):
    values = dict(zip(symbols, rng.normal(size=len(symbols))))
    by_diff = float(brute.xreplace(values))
    by_formula = float(closed.xreplace(values))

    def num(m):
        return np.array(m.xreplace(values), dtype=float)

    grads = rnnmath.rnn_gradients(
        np.stack([num(xs[t]).ravel() for t in (1, 2)]), labels[1:],
        num(U), num(W), num(V), num(b).ravel(), num(c).ravel(), num(s0).ravel())
    print(f"trial {trial}: sympy.diff {by_diff:+.15f}   closed form {by_formula:+.15f}   "
          f"rnn_gradients {grads.dW[0, 1]:+.15f}")
    assert abs(by_diff - by_formula) < 1e-12 and abs(by_diff - grads.dW[0, 1]) < 1e-12

# %% [markdown]
# ## From a formula to a line of NumPy
#
# The code generator reads the cell's derivation and prints it as NumPy that works on arrays
# stacking all time steps (and batch items). A parameter gradient $\sum_t \bar a_t v_t^T$ becomes
# one 2-D product after the time loop; a local derivative becomes an array computed for all steps
# before it. Here is the gradient of $W$, as the engine derives it for the vanilla cell:

# %%
from rnnmath import _cell_rnn_tanh
from rnnmath.codegen.kernels import CellKernels
from rnnmath.codegen.printer import ArrayPrinter
from rnnmath.derive import cells as cell_descriptions

vanilla = cell_descriptions.rnn("tanh")
step = registry["cell.rnn_tanh"]["dW"]
display(Math(step.latex))
dW_code = next(line for line in CellKernels(vanilla).backward().splitlines()
               if "'W':" in line).strip()
print("printed: ", dW_code)

# %% [markdown]
# `G_a` stacks $\bar a_t = \delta_t$ for every step as rows and `X_s[:-1]` stacks $s_{t-1}$, so
# the product is exactly $\sum_t \delta_t s_{t-1}^T$. The generated module contains that text
# verbatim:

# %%
generated_source = inspect.getsource(_cell_rnn_tanh)


def generated_lines(code):
    return [line.strip() for line in generated_source.splitlines() if code in line]


print("\n".join(generated_lines(dW_code)))
assert generated_lines(dW_code)

# %% [markdown]
# The same for the tanh derivative written in terms of the state, which the backward pass uses
# so that it never has to store the pre-activations:

# %%
(factor,) = vanilla.paths("a").values()  # d s / d a, from sympy.diff, in the stored s
display(Math(registry["cell.rnn_tanh"]["local_s_a"].latex))
fprime_code = ArrayPrinter({"s": "X_s[1:]"}).doprint(factor)
print("printed: ", fprime_code)
print("\n".join(generated_lines(fprime_code)))
assert generated_lines(fprime_code)

# %% [markdown]
# Regenerating the whole module from the derivations reproduces the committed file byte for byte
# (this is what `python -m rnnmath.codegen --check` verifies in the test suite):

# %%
from rnnmath import codegen

print("regenerated module identical to the committed one:",
      codegen.render("_cell_rnn_tanh.py") == (codegen.HERE / "_cell_rnn_tanh.py").read_text())

# %% [markdown]
# ## Check the generated gradients numerically
#
# Finally, the generated NumPy gradients against finite differences on random data: a tanh RNN
# with token-id inputs (every token occurs, so every column of $U$ takes part), random biases and
# initial state, eight steps. `gradient_check` perturbs every entry of every parameter, takes a
# central difference of the loss, and reports the worst relative error per parameter.

# %%
rng = np.random.default_rng(1)
T, H, D, K = 8, 5, 4, 4
params = dict(U=rng.normal(size=(H, D)), W=0.7 * rng.normal(size=(H, H)),
              V=rng.normal(size=(K, H)), b=rng.normal(size=H), c=rng.normal(size=K),
              s0=rng.normal(size=H))
x_ids, y_ids = rng.permutation(np.arange(T) % D), rng.integers(0, K, size=T)
print("inputs", x_ids, " labels", y_ids)

grads = rnnmath.rnn_gradients(x_ids, y_ids, **params)
check = rnnmath.gradient_check(lambda **p: rnnmath.rnn_loss(x_ids, y_ids, **p), params,
                               grads.as_dict())
print(f"loss {grads.loss:.6f}")
print(check)
assert check.worst < 1e-6
