# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Train a character-level RNN with the generated gradients
#
# The gradients in `rnnmath` are derived with SymPy and printed as NumPy; the other pages check
# them entry by entry. This page puts them to work: a vanilla tanh RNN learns to predict the next
# character of a short text, trained with nothing but `rnn_gradients`, a few lines of Adagrad,
# and `rnn_forward` to generate text afterwards.
#
# Everything below runs when the site is built, from fixed seeds; the training loop reports
# how long it took.

# %%
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import rnnmath
from rnnmath import gradient_check, rnn_forward, rnn_gradients, rnn_loss

# %% [markdown]
# ## The corpus
#
# The training text is a short essay about recurrent networks and backpropagation through time,
# written for this page and stored next to it as `corpus.txt`. Each distinct character gets an
# integer id; the model sees one-hot inputs, which `rnn_gradients` accepts directly as token ids.

# %%
# The page may run from its own folder, from the repository root, or from anywhere else.
candidates = [Path("corpus.txt"), Path("docs/notebooks/corpus.txt"),
              Path(rnnmath.__file__).resolve().parents[1] / "docs/notebooks/corpus.txt"]
text = next(p for p in candidates if p.is_file()).read_text(encoding="utf-8")
chars = sorted(set(text))
char_to_id = {ch: n for n, ch in enumerate(chars)}
data = np.array([char_to_id[ch] for ch in text])
K = len(chars)
print(f"{len(text)} characters, {K} distinct")
print(repr("".join(chars)))
print(text[:300])

# %% [markdown]
# ## Check the gradients first
#
# Before spending any time on training, compare `rnn_gradients` with finite differences on a
# slice of the corpus. The check perturbs every entry of every parameter four times, so it uses a
# small model (8 hidden units, the same vocabulary) with weights of order one, where the tanh is
# far from linear and every path through time matters. The generated code is the same for any
# size.
#
# A column of $U$ belongs to one character. A character that does not occur in the slice never
# switches its input on, so its column has a gradient of exactly zero (the `dU_one_hot` result of
# the derivation); the loss does not change when it is perturbed, and the check counts the two
# zeros as agreement.

# %%
check_rng = np.random.default_rng(0)
h_small = 8
small = dict(U=0.5 * check_rng.standard_normal((h_small, K)),
             W=0.5 * check_rng.standard_normal((h_small, h_small)),
             V=0.5 * check_rng.standard_normal((K, h_small)),
             b=0.1 * check_rng.standard_normal(h_small), c=0.1 * check_rng.standard_normal(K),
             s0=0.5 * check_rng.standard_normal(h_small))
x_slice, y_slice = data[:16], data[1:17]
print("slice:", repr(text[:17]))

g = rnn_gradients(x_slice, y_slice, **small)
absent = np.setdiff1d(np.arange(K), x_slice)
print(f"{K - len(absent)} characters occur in the slice; dU is exactly zero in the columns of "
      f"the other {len(absent)}: {not g.dU[:, absent].any()}")

check = gradient_check(lambda **p: rnn_loss(x_slice, y_slice, **p), small, g.as_dict())
print(check)
assert check.worst < 1e-6

# %% [markdown]
# ## The model and the optimiser
#
# A tanh RNN with 64 hidden units: $a_t = U x_t + W s_{t-1} + b$, $s_t = \tanh(a_t)$,
# $\hat y_t = \operatorname{softmax}(V s_t + c)$, with small random initial weights and zero
# biases. Training follows the classic recipe for character models:
#
# * the text is cut into consecutive chunks of 25 characters; the targets are the inputs shifted
#   by one character;
# * the hidden state is carried from one chunk into the next through `s0`, so the network reads
#   the text as one long sequence, while the gradient stops at the chunk boundary. This is
#   *chunked* truncated BPTT, TBPTT($L$, $L$) with $L = 25$: the incoming state is treated as a
#   constant and its gradient `ds0` is not used. It is not the per-loss truncation `truncate=`;
#   [the algorithm page](../../algorithm/#two-kinds-of-truncation) relates the two;
# * every gradient entry is clipped to $[-5, 5]$ before the update, on a copy (`np.clip`
#   returns a new array; the gradients returned by `rnn_gradients` are left untouched);
# * Adagrad with learning rate 0.05: each parameter entry has its own step size, the learning
#   rate divided by the root of its summed squared gradients;
# * at the end of the text the position goes back to the start and the state to zero.

# %%
H, seq_length, learning_rate, n_updates = 64, 25, 0.05, 20_000

rng = np.random.default_rng(42)
params = dict(U=0.01 * rng.standard_normal((H, K)), W=0.01 * rng.standard_normal((H, H)),
              V=0.01 * rng.standard_normal((K, H)), b=np.zeros(H), c=np.zeros(K))
initial = {name: value.copy() for name, value in params.items()}
memory = {name: np.zeros_like(value) for name, value in params.items()}

# %% [markdown]
# The loop. `rnn_gradients` returns the loss of the chunk (summed over its 25 characters) and
# the gradient of every parameter; `rnn_forward` on the same chunk with the same parameters gives
# the last hidden state to carry forward. The smoothed loss is an exponential moving average that
# starts at the loss of a uniform guess, $25 \log K$.

# %%
losses = np.empty(n_updates)
smooth = np.empty(n_updates)
running = seq_length * np.log(K)
position, state = 0, np.zeros(H)

start = time.perf_counter()
for n in range(n_updates):
    if position + seq_length + 1 > len(data):
        position, state = 0, np.zeros(H)
    x = data[position:position + seq_length]
    y = data[position + 1:position + seq_length + 1]

    grads = rnn_gradients(x, y, **params, s0=state)
    state = rnn_forward(x, **params, s0=state).states[-1]

    for name, value in params.items():
        d = np.clip(getattr(grads, "d" + name), -5, 5)
        memory[name] += d * d
        value -= learning_rate * d / np.sqrt(memory[name] + 1e-8)

    losses[n] = grads.loss
    running = 0.999 * running + 0.001 * grads.loss
    smooth[n] = running
    position += seq_length
train_seconds = time.perf_counter() - start

epochs = n_updates * seq_length / len(data)
print(f"{n_updates} updates ({epochs:.0f} passes over the text) in {train_seconds:.1f} s")
print(f"smoothed loss: {smooth[0]:.2f} -> {smooth[-1]:.2f} per chunk of {seq_length}, "
      f"{smooth[-1] / seq_length:.3f} nats per character (uniform guess: {np.log(K):.3f})")

# %% [markdown]
# ## The loss curve
#
# The raw chunk losses jump around, because some chunks are easier than others; the smoothed
# curve shows the trend. Both are divided by 25 to read as nats per character.

# %%
fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
ax.plot(losses / seq_length, color="tab:blue", alpha=0.25, lw=0.5, label="loss of each chunk")
ax.plot(smooth / seq_length, color="tab:blue", lw=2, label="smoothed")
ax.axhline(np.log(K), color="gray", ls="--", lw=1, label=f"uniform guess, log {K}")
ax.set_xlabel("update")
ax.set_ylabel("nats per character")
ax.set_ylim(0, np.log(K) + 0.5)
ax.grid(alpha=0.3)
ax.legend(loc="upper right")
fig.tight_layout()
plt.show()

# %% [markdown]
# One more number: the loss of the trained network over the whole text as a single sequence,
# starting from a zero state, with the final parameters held fixed. It is higher than the smoothed
# curve, which scores each chunk just after updates on the text right before it, a setting that
# favours local patterns. Both are training losses (there is no held-out text): they say how well
# the network has absorbed this corpus, not how well it would do on another.

# %%
whole = rnn_loss(data[:-1], data[1:], **params) / (len(data) - 1)
print(f"whole text, one pass: {whole:.3f} nats per character")


# %% [markdown]
# ## Generate text
#
# To sample, let the network read a short prompt with `rnn_forward`; the probabilities after its
# last character are the network's guess for the next one. Draw a character from them, feed it
# back in one step at a time (`rnn_forward` on a single token id, starting from the state left by
# the previous character), and repeat. Dividing the logits by a temperature below one
# (equivalently, raising the probabilities to the power $1/\tau$ and renormalising) makes the
# choices more conservative. A fixed seed makes the samples the same at every build.

# %%
def sample(params, prompt, length, rng, temperature=1.0):
    read = rnn_forward([char_to_id[ch] for ch in prompt], **params)
    state, probs = read.states[-1], read.probs[-1]
    out = list(prompt)
    for _ in range(length):
        p = probs ** (1 / temperature)
        token = rng.choice(K, p=p / p.sum())
        out.append(chars[token])
        step = rnn_forward([token], **params, s0=state)
        state, probs = step.states[-1], step.probs[0]
    return "".join(out)


print("before training:\n")
print(sample(initial, "The gradient", 200, np.random.default_rng(1)))

# %%
print("after training, temperature 1:\n")
print(sample(params, "The gradient", 600, np.random.default_rng(1)))

# %%
print("after training, temperature 0.5:\n")
print(sample(params, "The gradient", 600, np.random.default_rng(1), temperature=0.5))

# %% [markdown]
# From a few thousand characters and seconds of training with nothing but the derived gradients,
# the network has picked up the spaces, many of the essay's common words and short phrases,
# capitals after most periods, and lines of about the source's length. It still invents words
# freely. With so little text the words it gets right are mostly the essay's own, which is
# memorisation as much as learning; a larger text and a held-out part of it would tell the two
# apart.
