"""Reference for Karpathy's min-char-rnn, run in a notebook (parameters Wxh, Whh, Why, bh, by).

The document
------------
A notebook that trains Andrej Karpathy's min-char-rnn on a 160,000-character book with 173
distinct characters. Its code is the original script ported to Python 3: `range` for `xrange`,
the file read as UTF-8, and a loop that stops after 10^5 + 1000 iterations instead of running
forever. The model, the backward pass, the clipping, the Adagrad update, the data pointer and the
sampler are the original's, line for line.

The model
---------
Column vectors. With V characters, H hidden units, x_t = onehot(c_t) a (V, 1) column and
h_{-1} = hprev the state carried over from the previous window:

    h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)     Wxh: (H, V)   Whh: (H, H)   bh: (H, 1)
    y_t = Why h_t + by                         Why: (V, H)   by: (V, 1)
    p_t = softmax(y_t)
    L   = sum_t -log p_t[target_t]             summed over the window (25 steps), not averaged

hprev is a constant of L: backpropagation stops at the window's edge (truncated BPTT), and the
last state h_{T-1} becomes the next window's hprev. It is reset to zero at the first iteration and
whenever the data pointer wraps around.

The gradient
------------
With dy_t = p_t - onehot(target_t) and nothing arriving from beyond the last step:

    dWhy = sum_t dy_t h_t^T                    dby = sum_t dy_t
    dh_t = Why^T dy_t + Whh^T dz_{t+1}         (the second term is 0 at t = T-1)
    dz_t = (1 - h_t^2) * dh_t                  since tanh' = 1 - tanh^2
    dWxh = sum_t dz_t x_t^T   dWhh = sum_t dz_t h_{t-1}^T   dbh = sum_t dz_t

Training clips every gradient entry to [-5, 5] and takes an Adagrad step, m += g^2 and
W -= 0.1 g / sqrt(m + 1e-8), with m starting at zero. The window moves 25 characters at a time.

Findings
--------
The backward pass is right for all five parameters, including the t = 0 term of dWhh, which uses
hprev. hprev is handled correctly: copied, treated as a constant, and replaced by the window's
last state. The clipping and the update are as intended.

Outside the gradient, two small things. The softmax exponentiates the raw scores, in the loss and
in the sampler, and would overflow to nan once a score passed about 709. That never happens at
this initialisation and learning rate, but nothing prevents it. The data pointer also resets one
window early: it skips a window that ends exactly at the last character.
"""
import numpy as np

from ._numerics import log_softmax, softmax

SOURCE = "002_32216470e957c5f0.txt"
TITLE = "Karpathy's min-char-rnn in a notebook"
PARAMETERS = ("Wxh", "Whh", "Why", "bh", "by")

LEARNING_RATE = 0.1
CLIP_VALUE = 5.0       # np.clip(dparam, -5, 5)
ADAGRAD_FLOOR = 1e-8   # the 1e-8 in sqrt(mem + 1e-8)


# ---------------------------------------------------------------------------------------------
# The model in numpy
# ---------------------------------------------------------------------------------------------

def sample_problem(rng):
    """A small random window. The biases and hprev are non-zero, so a mistake in dbh, dby or in
    the t = 0 term of dWhh cannot hide behind a zero."""
    vocab, hidden, steps = 6, 5, 5
    params = {
        "Wxh": rng.normal(0.0, 0.5, (hidden, vocab)),
        "Whh": rng.normal(0.0, 0.5, (hidden, hidden)),
        "Why": rng.normal(0.0, 0.5, (vocab, hidden)),
        "bh": rng.normal(0.0, 0.5, (hidden, 1)),
        "by": rng.normal(0.0, 0.5, (vocab, 1)),
    }
    text = rng.integers(0, vocab, steps + 1)  # the targets are the inputs shifted by one
    return {
        "params": params,
        "inputs": [int(c) for c in text[:-1]],
        "targets": [int(c) for c in text[1:]],
        "hprev": rng.uniform(-0.9, 0.9, (hidden, 1)),
    }


def _one_hot(ix, size):
    x = np.zeros((size, 1))
    x[ix] = 1.0
    return x


def _softmax_as_written(y):
    # The document's softmax: exp of the raw scores, which overflows once a score passes ~709.
    return np.exp(y) / np.sum(np.exp(y))


def _forward(params, problem, normalize):
    """xs, hs, ps keyed by time step, with hs[-1] = hprev. `normalize` maps scores to
    probabilities (or, for the loss, to log-probabilities)."""
    Wxh, Whh, Why, bh, by = (params[n] for n in PARAMETERS)
    xs, hs, ps = {}, {-1: np.copy(problem["hprev"])}, {}
    for t, ix in enumerate(problem["inputs"]):
        xs[t] = _one_hot(ix, Wxh.shape[1])
        hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
        ps[t] = normalize(Why @ hs[t] + by)
    return xs, hs, ps


def loss(params, problem):
    """The summed cross-entropy of the window (log-probabilities taken stably)."""
    _, _, log_ps = _forward(params, problem, log_softmax)
    return float(sum(-log_ps[t][c, 0] for t, c in enumerate(problem["targets"])))


def _bptt(params, problem, normalize):
    Whh, Why = params["Whh"], params["Why"]
    xs, hs, ps = _forward(params, problem, normalize)
    grads = {n: np.zeros_like(params[n]) for n in PARAMETERS}
    dh_next = np.zeros_like(hs[0])                 # nothing flows back from beyond the window
    for t in reversed(range(len(problem["inputs"]))):
        dy = np.copy(ps[t])
        dy[problem["targets"][t]] -= 1.0           # dL/dy_t = p_t - onehot(target_t)
        grads["Why"] += dy @ hs[t].T
        grads["by"] += dy
        dh = Why.T @ dy + dh_next                  # h_t feeds y_t and h_{t+1}
        dz = (1.0 - hs[t] ** 2) * dh
        grads["bh"] += dz
        grads["Wxh"] += dz @ xs[t].T
        grads["Whh"] += dz @ hs[t - 1].T           # at t = 0 this is hprev
        dh_next = Whh.T @ dz
    return grads


def backward_as_written(params, problem):
    """The document's backward pass (its softmax included), before its clipping."""
    return _bptt(params, problem, _softmax_as_written)


def backward_corrected(params, problem):
    """The same pass: the document's gradient is right. Only the softmax is max-shifted."""
    return _bptt(params, problem, softmax)


def tensor_loss(tparams, problem):
    """`loss` in Tensor ops, so that autograd differentiates exactly the document's loss."""
    from tinygrad_rnn import Tensor

    Wxh, Whh, Why, bh, by = (tparams[n] for n in PARAMETERS)
    vocab = Wxh.shape[1]
    h = Tensor(problem["hprev"])                   # a constant: truncated BPTT
    total = 0.0
    for ix, c in zip(problem["inputs"], problem["targets"]):
        h = (Wxh @ _one_hot(ix, vocab) + Whh @ h + bh).tanh()
        total = -(Why @ h + by).log_softmax(axis=0)[c, 0] + total
    return total


# ---------------------------------------------------------------------------------------------
# The training step
# ---------------------------------------------------------------------------------------------

def update_as_written(params, grads, state):
    """Clip every gradient entry to [-5, 5], then Adagrad with lr = 0.1; in place.

    `state[name]` is the running sum of squared (clipped) gradients, zero at the start.
    """
    for name in PARAMETERS:
        g = np.clip(grads[name], -CLIP_VALUE, CLIP_VALUE)
        mem = state.setdefault(name, np.zeros_like(params[name]))
        mem += g * g
        params[name] -= LEARNING_RATE * g / np.sqrt(mem + ADAGRAD_FLOOR)


def make_optimizer(tensors):
    """Adagrad whose step equals the document's update, once the gradients are clipped.

    Starting the accumulator at 1e-8 with no eps outside the root gives
    sqrt(1e-8 + sum g^2), exactly the document's sqrt(mem + 1e-8). The clipping is
    `tinygrad_rnn.nn.utils.clip_grad_value_(tensors, CLIP_VALUE)`, called before each `step()`.
    """
    from tinygrad_rnn.optim import Adagrad

    return Adagrad(tensors, lr=LEARNING_RATE, initial_accumulator_value=ADAGRAD_FLOOR, eps=0.0)


# ---------------------------------------------------------------------------------------------
# The data pointer: just enough to show the findings
# ---------------------------------------------------------------------------------------------

def _window_starts(data_size, seq_length, n_windows, as_written=True):
    """Where each iteration's window starts. A window reads data[p : p + seq_length + 1], so it
    fits when p + seq_length + 1 <= data_size; the document resets already at equality."""
    starts, p = [], 0
    for n in range(n_windows):
        end = p + seq_length + 1
        if n == 0 or (end >= data_size if as_written else end > data_size):
            p = 0
        starts.append(p)
        p += seq_length
    return starts


# ---------------------------------------------------------------------------------------------
# Findings
# ---------------------------------------------------------------------------------------------

GRADIENT_FINDINGS = {}

OTHER_FINDINGS = [
    "The softmax is exp(y) / sum(exp(y)) on the raw scores, in lossFun and in sample(): it "
    "overflows to nan once a score passes about 709; subtracting max(y) first gives the same "
    "probabilities without overflow (latent at this initialisation and learning rate).",
    "The data pointer resets when p + seq_length + 1 >= len(data), but a window that ends "
    "exactly at the last character (equality) still fits; the test should be >. At most one "
    "window per pass is lost.",
]
