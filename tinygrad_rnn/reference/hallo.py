"""Reference for "Recurrent neural network with numpy": learning "Hallo" (parameters Wxh, Whh, Why).

The document
------------
A notebook that trains a bias-free vanilla RNN on the five-character text "Hallo" (four distinct
characters). A `Translator` helper, whose code is not shown, turns the text into a (5, 4) array
of integer one-hot rows: the notebook prints X[0] as array([0, 1, 0, 0]). Training runs 30
epochs of plain gradient descent with lr = 0.1. The network is unrolled over all 5 characters, so
each epoch is a single window, and the last target wraps around to the first character.

The model
---------
Column vectors, no biases. With x_t the t-th one-hot row of the window reshaped to (V, 1), y_t
the one-hot row of the next character (the first one after the last), and h_{-1} = hprev:

    z_t = Wxh x_t + Whh h_{t-1}                Wxh: (H, V)   Whh: (H, H)
    h_t = tanh(z_t)
    o_t = Why h_t                              Why: (V, H)
    p_t = softmax(o_t)
    L   = (1/T) sum_t -y_t . log p_t           averaged over the T steps (the code divides by T)

The markdown writes L = sum_t L_t, but the code averages, and `loss` here follows the code.

The gradient
------------
With d_t = (p_t - y_t) / T and dh_T = 0 beyond the last step:

    dWhy = sum_t d_t h_t^T
    dh_t = Why^T d_t + Whh^T dz_{t+1}
    dz_t = (1 - h_t^2) * dh_t
    dWxh = sum_t dz_t x_t^T                    dWhh = sum_t dz_t h_{t-1}^T

The markdown writes dWhh and dWxh as sum_t sum_{k <= t-1} of the chain through h_k. That inner
sum stops one step short: step t's loss also reaches W through z_t itself, the k = t term, and
the gradient needs every k <= t.

Findings
--------
The code computes none of the three gradients correctly.
  * `dout[targets[t]] -= 1` indexes with the one-hot row itself. Integer fancy indexing reads
    the row's entries 0, 1, 0, 0 as row numbers, so the code subtracts 1 from rows 0 and 1 of
    p_t, whatever the target. The target's row is among them only when the target happens to
    be character 0 or 1, and even then the other row is wrong. (In the notebook's run the
    targets arrive as the 0/1 scalars described below, which pick row 0 or row 1, again
    whatever the target.) Every gradient starts from this wrong output error.
  * There is no dh_next. Each step's error passes back through its own tanh only, never into
    earlier steps, so dWhh and dWxh lack every term that crosses time. The code keeps only the
    k = t term, the very term the markdown's sum leaves out.
  * The backward pass never divides by T, so the gradients are T times those of the averaged
    loss the code reports.

Outside the gradient, the training data and the reported loss are also wrong. `np.append`
without an axis flattens the wrapped target window into a 1-D array, so `targets[t]` is a single
0 or 1, not a row. The printed loss is -sum(log p_t * targets[t]) / T with p_t of shape (V, 1).
For a (V,)-shaped target that broadcasts to a (V, V) matrix and sums the logs of all V
probabilities. With the flattened 0/1 targets it is the same sum, counted only at the steps whose
scalar is 1. The notebook's first printed loss, 1.1090 = 4 ln 4 / 5, is exactly that: one step
counted, at near-uniform p, where the true mean cross-entropy would be near ln 4 = 1.386.

Two more things are wrong. The returned list of states keeps hprev last, because each new state
is inserted before it. So `ht[-1]` hands the initial zero state back instead of the last state,
and the state is never carried over. The training softmax does not subtract the max, though
predict() does.

The update itself is plain gradient descent with each entry clipped to [-5, 5]. Its third line,
`Why -= dWhy * learning_ratess`, names an undefined variable. Run as printed, the first iteration
updates Wxh and Whh in place and then stops with a NameError, before anything is printed. So Why
is never trained, and the printed predictions and losses cannot come from this cell as shown.
(The cells are numbered 1 to 8 without a gap, so no cell that is not shown ran before it and
defined the name.) `update_as_written` reads it as `learning_rate`, the smallest change that
lets the cell run.
"""
import numpy as np

from ._numerics import log_softmax, softmax

SOURCE = "003_f56a54b9340eb2bd.txt"
TITLE = 'Recurrent neural network with numpy ("Hallo")'
PARAMETERS = ("Wxh", "Whh", "Why")

LEARNING_RATE = 0.1
CLIP_VALUE = 5.0  # np.clip(dparam, -5, 5)


# ---------------------------------------------------------------------------------------------
# The model in numpy
# ---------------------------------------------------------------------------------------------

def _one_hot_rows(indices, size):
    """The Translator's encoding: one integer one-hot row per character."""
    rows = np.zeros((len(indices), size), dtype=np.int64)
    rows[np.arange(len(indices)), indices] = 1
    return rows


def sample_problem(rng):
    """A random text of T characters, seen as one window the way the document sees "Hallo".

    The targets are the inputs shifted by one, and the last target wraps around to the first
    character. hprev is non-zero, so the t = 0 term of dWhh cannot hide behind a zero.
    """
    vocab, hidden, steps = 6, 5, 5
    params = {
        "Wxh": rng.normal(0.0, 0.5, (hidden, vocab)),
        "Whh": rng.normal(0.0, 0.5, (hidden, hidden)),
        "Why": rng.normal(0.0, 0.5, (vocab, hidden)),
    }
    text = rng.integers(0, vocab, steps)
    return {
        "params": params,
        "inputs": _one_hot_rows(text, vocab),
        "targets": _one_hot_rows(np.roll(text, -1), vocab),
        "hprev": rng.uniform(-0.9, 0.9, (hidden, 1)),
    }


def _softmax_as_written(o):
    # The training forward's softmax: exp of the raw scores (predict() does shift by the max).
    return np.exp(o) / np.sum(np.exp(o))


def _forward_as_written(params, inputs, hprev, normalize=_softmax_as_written):
    """The document's forward, with its list layout.

    The lists start as [hprev], and the state of step t is inserted at position t, in front of
    hprev. So states[t - 1] is h_{t-1} (and hprev at t = 0), but hprev stays last.
    `normalize` maps scores to probabilities (or, for the loss, to log-probabilities).
    """
    Wxh, Whh, Why = (params[n] for n in PARAMETERS)
    states, probs = [hprev], []
    for t in range(inputs.shape[0]):
        x = inputs[t].reshape(-1, 1)
        states.insert(t, np.tanh(Wxh @ x + Whh @ states[t - 1]))
        probs.insert(t, normalize(Why @ states[t]))
    return states, probs


def loss(params, problem):
    """The mean cross-entropy over the window."""
    targets = problem["targets"]
    _, log_probs = _forward_as_written(params, problem["inputs"], problem["hprev"], log_softmax)
    T = targets.shape[0]
    return float(sum(-targets[t] @ log_probs[t][:, 0] for t in range(T)) / T)


def _reported_loss_as_written(params, inputs, targets, hprev):
    """The loss the document prints: -sum(log p_t * targets[t]) / T. Here p_t is (V, 1), so a
    (V,) target row broadcasts to a (V, V) matrix, and a flattened 0/1 target scales the whole
    column. Either way the result is a sum over all of log p_t."""
    _, probs = _forward_as_written(params, inputs, hprev)
    T = inputs.shape[0]
    return float(sum(-np.sum(np.log(probs[t]) * targets[t]) for t in range(T)) / T)


def backward_as_written(params, problem):
    """The document's backward pass, before its clipping."""
    Why = params["Why"]
    inputs, targets = problem["inputs"], problem["targets"]
    states, probs = _forward_as_written(params, inputs, problem["hprev"])
    grads = {n: np.zeros_like(params[n]) for n in PARAMETERS}
    for t in reversed(range(inputs.shape[0])):
        d_out = np.copy(probs[t])
        d_out[targets[t]] -= 1.0          # indexes by the one-hot's values: rows 0 and 1
        grads["Why"] += d_out @ states[t].T
        dh = Why.T @ d_out                # no dh_next: the error never reaches earlier steps
        dz = (1.0 - states[t] ** 2) * dh
        grads["Wxh"] += dz @ inputs[t].reshape(1, -1)
        grads["Whh"] += dz @ states[t - 1].T
    return grads                          # and no 1/T, though the loss is averaged


def backward_corrected(params, problem):
    """The exact gradient of `loss`: full BPTT of the averaged cross-entropy."""
    Whh, Why = params["Whh"], params["Why"]
    inputs, targets = problem["inputs"], problem["targets"]
    T = inputs.shape[0]
    states, probs = _forward_as_written(params, inputs, problem["hprev"], softmax)
    grads = {n: np.zeros_like(params[n]) for n in PARAMETERS}
    dh_next = np.zeros_like(problem["hprev"])
    for t in reversed(range(T)):
        d_out = (probs[t] - targets[t].reshape(-1, 1)) / T   # dL/do_t for the mean loss
        grads["Why"] += d_out @ states[t].T
        dh = Why.T @ d_out + dh_next                         # h_t feeds o_t and z_{t+1}
        dz = (1.0 - states[t] ** 2) * dh
        grads["Wxh"] += dz @ inputs[t].reshape(1, -1)
        grads["Whh"] += dz @ states[t - 1].T
        dh_next = Whh.T @ dz
    return grads


def tensor_loss(tparams, problem):
    """`loss` in Tensor ops, so that autograd differentiates exactly the document's loss."""
    from tinygrad_rnn import Tensor

    Wxh, Whh, Why = (tparams[n] for n in PARAMETERS)
    inputs, targets = problem["inputs"], problem["targets"]
    T = inputs.shape[0]
    h = Tensor(problem["hprev"])
    total = 0.0
    for t in range(T):
        h = (Wxh @ inputs[t].reshape(-1, 1).astype(float) + Whh @ h).tanh()
        log_p = (Why @ h).log_softmax(axis=0)
        total = -(log_p * targets[t].reshape(-1, 1).astype(float)).sum() + total
    return total / T


# ---------------------------------------------------------------------------------------------
# The training step
# ---------------------------------------------------------------------------------------------

def update_as_written(params, grads, state):
    """Clip every gradient entry to [-5, 5], then a plain gradient step with lr = 0.1; in place.

    The document's last line multiplies by `learning_ratess`, which is undefined: as printed,
    it raises NameError after Wxh and Whh have been updated. It is read here as
    `learning_rate`. The update keeps no state.
    """
    for name in PARAMETERS:
        params[name] -= LEARNING_RATE * np.clip(grads[name], -CLIP_VALUE, CLIP_VALUE)


def make_optimizer(tensors):
    """Plain SGD with lr = 0.1. The clipping is
    `tinygrad_rnn.nn.utils.clip_grad_value_(tensors, CLIP_VALUE)`, called before each `step()`."""
    from tinygrad_rnn.optim import SGD

    return SGD(tensors, lr=LEARNING_RATE)


# ---------------------------------------------------------------------------------------------
# The document's data windows: just enough to show the findings
# ---------------------------------------------------------------------------------------------

def _window_targets(X, start, length, as_written=True):
    """The targets for the window X[start : start + length]: the next rows, and the first row
    after the last. np.append without an axis flattens both arrays first; stacking keeps rows."""
    targets = X[start + 1:start + 1 + length]
    if targets.shape[0] != length:
        targets = np.append(targets, X[0]) if as_written else np.vstack([targets, X[:1]])
    return targets


# ---------------------------------------------------------------------------------------------
# Findings
# ---------------------------------------------------------------------------------------------

GRADIENT_FINDINGS = {
    "Why": "dout[targets[t]] -= 1 indexes with the integer one-hot itself, so 1 is subtracted at "
           "rows 0 and 1 whatever the target (at the target's row only by coincidence), and "
           "there is no 1/T for the averaged loss; it should be sum_t (p_t - y_t) h_t^T / T.",
    "Whh": "Starts from the same wrong output error without 1/T, and has no dh_next, so each "
           "step's error stops at its own tanh; it should carry dh_{t-1} += Whh^T dz_t back "
           "through the window: sum_t dz_t h_{t-1}^T with the full dz_t.",
    "Wxh": "The same wrong output error, the same missing 1/T and the same missing dh_next as "
           "Whh; it should be sum_t dz_t x_t^T with dz_t from full backpropagation through time.",
}

OTHER_FINDINGS = [
    "np.append(y_train, X[0]) has no axis, so the wrapped target window becomes a flat 0/1 "
    "vector and targets[t] is a scalar, not the next character's row; stack the rows instead "
    "(np.vstack, or np.append(..., X[:1], axis=0)).",
    "The reported loss -sum(log(p_t) * targets[t]) / T multiplies a (V, 1) column by a target "
    "row or scalar, so it sums the logs of all V probabilities instead of taking the target's; "
    "the printed 1.1090 = 4 ln 4 / 5 is this sum for one step. It should be "
    "-targets[t] @ log(p_t[:, 0]) / T.",
    "The state list returned by forward_and_backward keeps hprev last (new states are inserted "
    "in front of it), so ht[-1] hands back the initial zero state: the last hidden state is "
    "never carried into the next window; it should pass states[T-1].",
    "The training softmax exponentiates raw scores, exp(y)/sum(exp(y)), and overflows to nan "
    "once a score passes about 709; subtract max(y) first, as predict() does.",
    "The training loop's third update, Why -= dWhy * learning_ratess, names an undefined "
    "variable: as printed, the first iteration updates Wxh and Whh and then stops with a "
    "NameError before anything is printed, so Why is never trained and the printed output "
    "cannot come from this cell; it should read learning_rate.",
]
