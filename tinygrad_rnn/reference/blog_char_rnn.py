"""Reference for "Vanilla char-rnn implementation using Numpy" (parameters Wih, Whh, Who, bh, bo).

The document
------------
A notebook that trains a vanilla RNN on a text file, blog.txt, in one pass. It takes windows of
20 characters, carries the hidden state from one window to the next, and updates with what is
meant to be gradient descent with momentum (lr = 0.01, momentum 0.9).

The model
---------
Row vectors: a state or an output is a (1, n) row, and weights multiply from the right. With
x_t = onehot(c_t) a (1, V) row and h_{-1} the state carried over from the previous window:

    h_t = tanh(x_t Wih + h_{t-1} Whh + bh)     Wih: (V, H)   Whh: (H, H)   bh: (1, H)
    o_t = h_t Who + bo                         Who: (H, V)   bo: (1, V)
    p_t = softmax(o_t)
    L   = sum_t -log p_t[target_t]             summed over the window, not averaged

The gradient
------------
With d_t = p_t - onehot(target_t) and nothing arriving from beyond the last step:

    dWho = sum_t h_t^T d_t                     dbo = sum_t d_t
    dh_t = d_t Who^T + dz_{t+1} Whh^T          (h_t enters z_{t+1} as h_t Whh)
    dz_t = (1 - h_t^2) * dh_t
    dWih = sum_t x_t^T dz_t   dWhh = sum_t h_{t-1}^T dz_t   dbh = sum_t dz_t

Findings
--------
All five gradients are wrong, through two mistakes.
  * The target's index is read as `np.where(target_row == 1)[0][0]`. For a (1, V) one-hot row,
    np.where returns (row indices, column indices), and [0][0] is the row index, always 0. Then
    `dout[0] -= 1` on a (1, V) array subtracts 1 from every entry: d_t = p_t - 1 instead of
    p_t - onehot(target). The same slip in the forward pass makes the printed loss
    -sum_t log p_t[0], the log-probability of class 0.
    The target is the column index, j = np.where(...)[1][0]. In the loss line, which reads
    softmax_vec[t][0][...], using it is the whole fix. The backward pass needs more, because it
    indexes the (1, V) array with a single index: `doutput_vec[j] -= 1` raises IndexError for
    every j >= 1. It should read `doutput_vec[0, j] -= 1`, or simply take
    softmax_vec[t] - targets[t]. The next line's `doutput_vec[...].T` works only because index
    0 selects the whole row; it should be `np.dot(doutput_vec, Who.T)`.
  * The error passed to the previous step is dz_t Whh. The forward pass uses h_{t-1} Whh, so
    it must be dz_t Whh^T. Whh is square, so nothing fails, and every step before the last
    gets the wrong error: dWhh, dWih and dbh are wrong even with the right d_t.

Outside the gradient:
  * The momentum update assigns to the loop variable, `momparam = 0.9 * momparam + 0.01 * g`.
    That rebinds the name, so the stored buffers stay zero and every step is plain SGD,
    p -= 0.01 g.
  * The encoding is not by character. The model is given list(text), the whole text, and uses
    its length as the vocabulary size. It one-hot encodes each character's position in the
    text, never its identity (the char-to-index map is commented out). The network can only
    learn "position i is followed by position i + 1", and it has thousands of classes. The
    printed first loss, 176.9 = 20 ln(about 6900) over 20 steps, matches a class per position.
  * The window end is capped at len - 2, so the last character is never a target.
  * The softmax exponentiates raw scores, and would overflow once a score passed about 709.

The document clips each gradient entry to [-3, 3] before its update. That is a training choice:
`backward_as_written` returns the unclipped gradient, and the update functions clip.

A last detail does not change training: `doutput_vec = softmax_vec[t]` is the same array, not
a copy, so the backward pass overwrites the stored probabilities. Nothing reads them afterwards,
but np.copy, as here, is the safer habit.
"""
import numpy as np

from ._numerics import log_softmax, softmax

SOURCE = "004_1d85d7b75ceb7b8e.txt"
TITLE = "Vanilla char-rnn implementation using Numpy (blog.txt)"
PARAMETERS = ("Wih", "Whh", "Who", "bh", "bo")

LEARNING_RATE = 0.01
MOMENTUM = 0.9
CLIP_VALUE = 3.0  # np.clip(dparam, -3, 3)


# ---------------------------------------------------------------------------------------------
# The model in numpy
# ---------------------------------------------------------------------------------------------

def sample_problem(rng):
    """A small random window in the document's row-vector shapes. The biases and the carried-in
    state are non-zero, so a bias or t = 0 mistake cannot hide behind a zero."""
    vocab, hidden, steps = 6, 5, 5
    params = {
        "Wih": rng.normal(0.0, 0.5, (vocab, hidden)),
        "Whh": rng.normal(0.0, 0.5, (hidden, hidden)),
        "Who": rng.normal(0.0, 0.5, (hidden, vocab)),
        "bh": rng.normal(0.0, 0.5, (1, hidden)),
        "bo": rng.normal(0.0, 0.5, (1, vocab)),
    }
    text = rng.integers(0, vocab, steps + 1)  # the targets are the inputs shifted by one
    return {
        "params": params,
        "inputs": [int(c) for c in text[:-1]],
        "targets": [int(c) for c in text[1:]],
        "hprev": rng.uniform(-0.9, 0.9, (1, hidden)),
    }


def _one_hot_row(ix, size):
    row = np.zeros((1, size))
    row[0, ix] = 1.0
    return row


def _softmax_as_written(o):
    # exp of the raw scores: overflows once a score passes ~709.
    return np.exp(o) / np.sum(np.exp(o))


def _forward(params, problem, normalize):
    """One-hot rows, states and probabilities keyed by time step, with states[-1] = hprev.
    `normalize` maps scores to probabilities (or, for the loss, to log-probabilities)."""
    Wih, Whh, Who, bh, bo = (params[n] for n in PARAMETERS)
    vocab = Wih.shape[0]
    xs = {t: _one_hot_row(c, vocab) for t, c in enumerate(problem["inputs"])}
    ys = {t: _one_hot_row(c, vocab) for t, c in enumerate(problem["targets"])}
    hs, ps = {-1: problem["hprev"]}, {}
    for t in range(len(xs)):
        hs[t] = np.tanh(xs[t] @ Wih + hs[t - 1] @ Whh + bh)
        ps[t] = normalize(hs[t] @ Who + bo)
    return xs, ys, hs, ps


def loss(params, problem):
    """The summed cross-entropy of the window."""
    _, _, _, log_ps = _forward(params, problem, log_softmax)
    return float(sum(-log_ps[t][0, c] for t, c in enumerate(problem["targets"])))


def _target_index_as_written(target_row):
    # np.nonzero of a (1, V) row gives (row indices, column indices); [0][0] is the row: 0.
    return np.nonzero(target_row == 1)[0][0]


def _reported_loss_as_written(params, problem):
    """The loss the document prints: it reads p_t[0][index] with the index above, i.e. p_t[0, 0]."""
    _, ys, _, ps = _forward(params, problem, _softmax_as_written)
    return float(sum(-np.log(ps[t][0][_target_index_as_written(ys[t])]) for t in ps))


def backward_as_written(params, problem):
    """The document's backward pass, before its clipping."""
    Whh, Who = params["Whh"], params["Who"]
    xs, ys, hs, ps = _forward(params, problem, _softmax_as_written)
    grads = {n: np.zeros_like(params[n]) for n in PARAMETERS}
    dh_prev = np.zeros_like(problem["hprev"])
    for t in reversed(range(len(xs))):
        k = _target_index_as_written(ys[t])          # always 0
        d_out = np.copy(ps[t])
        d_out[k] -= 1.0                              # row 0 of a (1, V) array: every entry
        grads["Who"] += hs[t].T @ d_out
        grads["bo"] += d_out
        dh = d_out[k] @ Who.T + dh_prev              # row 0 is the whole row: d_out Who^T
        dz = (1.0 - hs[t] ** 2) * dh
        grads["Whh"] += hs[t - 1].T @ dz
        grads["bh"] += dz
        grads["Wih"] += xs[t].T @ dz
        dh_prev = dz @ Whh                           # should be Whh^T
    return grads


def backward_corrected(params, problem):
    """The exact gradient of `loss`."""
    Whh, Who = params["Whh"], params["Who"]
    xs, ys, hs, ps = _forward(params, problem, softmax)
    grads = {n: np.zeros_like(params[n]) for n in PARAMETERS}
    dh_next = np.zeros_like(problem["hprev"])
    for t in reversed(range(len(xs))):
        d_out = ps[t] - ys[t]                        # dL/do_t = p_t - onehot(target_t)
        grads["Who"] += hs[t].T @ d_out
        grads["bo"] += d_out
        dh = d_out @ Who.T + dh_next                 # h_t feeds o_t and z_{t+1}
        dz = (1.0 - hs[t] ** 2) * dh
        grads["Whh"] += hs[t - 1].T @ dz             # at t = 0 this is the carried-in state
        grads["bh"] += dz
        grads["Wih"] += xs[t].T @ dz
        dh_next = dz @ Whh.T                         # d(h Whh)/dh = Whh^T, on the right for rows
    return grads


def tensor_loss(tparams, problem):
    """`loss` in Tensor ops, so that autograd differentiates exactly the document's loss."""
    from tinygrad_rnn import Tensor

    Wih, Whh, Who, bh, bo = (tparams[n] for n in PARAMETERS)
    vocab = Wih.shape[0]
    h = Tensor(problem["hprev"])
    total = 0.0
    for ix, c in zip(problem["inputs"], problem["targets"]):
        h = (_one_hot_row(ix, vocab) @ Wih + h @ Whh + bh).tanh()
        total = -(h @ Who + bo).log_softmax(axis=1)[0, c] + total
    return total


# ---------------------------------------------------------------------------------------------
# The training step
# ---------------------------------------------------------------------------------------------

def update_as_written(params, grads, state):
    """Clip every gradient entry to [-3, 3], then the document's "momentum" step; in place.

    The new velocity is bound to a local name and never stored, so `state`'s buffers stay zero
    and the step is p -= 0.01 g.
    """
    for name in PARAMETERS:
        g = np.clip(grads[name], -CLIP_VALUE, CLIP_VALUE)
        velocity = state.setdefault(name, np.zeros_like(params[name]))
        velocity = MOMENTUM * velocity + LEARNING_RATE * g  # a new array, buffer untouched
        params[name] -= velocity


def update_corrected(params, grads, state):
    """Clip to [-3, 3], then momentum as intended: v = 0.9 v + 0.01 g stored, p -= v."""
    for name in PARAMETERS:
        g = np.clip(grads[name], -CLIP_VALUE, CLIP_VALUE)
        velocity = state.setdefault(name, np.zeros_like(params[name]))
        velocity *= MOMENTUM
        velocity += LEARNING_RATE * g
        params[name] -= velocity


def make_optimizer(tensors):
    """SGD with momentum, one step equal to `update_corrected` once the gradients are clipped.

    PyTorch's buffer b = 0.9 b + g with p -= 0.01 b is the document's v = 0.9 v + 0.01 g with
    p -= v, for v = 0.01 b. The clipping is
    `tinygrad_rnn.nn.utils.clip_grad_value_(tensors, CLIP_VALUE)`, called before each `step()`.
    """
    from tinygrad_rnn.optim import SGD

    return SGD(tensors, lr=LEARNING_RATE, momentum=MOMENTUM)


# ---------------------------------------------------------------------------------------------
# The document's data pipeline: just enough to show the findings
# ---------------------------------------------------------------------------------------------

def _encode_as_written(text):
    """(vocabulary size, code of each character) as the document builds them: the vocabulary
    is the whole text, and a character's code is its position."""
    chars = list(text)
    return len(chars), list(range(len(chars)))


def _encode_corrected(text):
    """One code per distinct character."""
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    return len(vocab), [index[ch] for ch in text]


def _windows(n_chars, window, as_written=True):
    """(input positions, target positions) of every window in the single pass over the text.
    The last pair is (n_chars - 2, n_chars - 1), so a window may end at n_chars - 1; the
    document caps the end at n_chars - 2."""
    last_end = n_chars - 2 if as_written else n_chars - 1
    out, position = [], 0
    while position < last_end:
        end = min(position + window, last_end)
        out.append((list(range(position, end)), list(range(position + 1, end + 1))))
        position = end
    return out


# ---------------------------------------------------------------------------------------------
# Findings
# ---------------------------------------------------------------------------------------------

_OUTPUT_ERROR = ("np.where(target == 1)[0][0] is the row index 0 of the (1, V) one-hot, so "
                 "dout[0] -= 1 subtracts 1 from every output (p_t - 1)")
_OUTPUT_FIX = ("take p_t - y_t: with the column j = np.where(target == 1)[1][0], "
               "doutput_vec[0, j] -= 1 (a lone [j] indexes rows, and there is only row 0)")
_HIDDEN_FIX = (", and passes dz_t Whh to the previous step; it should start from p_t - y_t "
               "(see Who), take dh_t = np.dot(doutput_vec, Who.T) + dh_next (the whole row, "
               "not doutput_vec[j]), and pass dz_t Whh^T.")

GRADIENT_FINDINGS = {
    "Who": _OUTPUT_ERROR + "; it should " + _OUTPUT_FIX + ", giving sum_t h_t^T (p_t - y_t).",
    "bo": _OUTPUT_ERROR + "; it should " + _OUTPUT_FIX + ", giving sum_t (p_t - y_t).",
    "Whh": _OUTPUT_ERROR + _HIDDEN_FIX,
    "Wih": _OUTPUT_ERROR + _HIDDEN_FIX,
    "bh": _OUTPUT_ERROR + _HIDDEN_FIX,
}

OTHER_FINDINGS = [
    "The momentum step assigns momparam = 0.9 * momparam + 0.01 * dparam, which rebinds the "
    "loop variable, so the buffers stay zero and every step is plain SGD (p -= 0.01 g); update "
    "the buffer in place (momparam *= 0.9; momparam += 0.01 * dparam).",
    "The input is list(text) and its length is used as the vocabulary: each character is "
    "one-hot encoded by its position in the text, not its identity, so the model cannot share "
    "anything between occurrences of a character; encode by a char-to-index map over set(text).",
    "The window end is capped at len - 2, so the last character is never a target; the cap "
    "should be len - 1 (targets run to end inclusive).",
    "The printed loss reads p_t[0][np.where(target == 1)[0][0]] = p_t[0, 0], the probability "
    "of class 0, not of the target; on this line np.where(...)[1][0], the column, is the fix.",
    "The softmax exponentiates raw scores, exp(o)/sum(exp(o)), and overflows to nan once a "
    "score passes about 709; subtract max(o) first.",
]
