"""Reference for the tutorial "Implementing RNN from scratch in Python" (parameters U, W, V, b, c).

The model
---------
A character-level vanilla RNN in column-vector convention. With x_t the one-hot column of the
t-th input character (vocab_size x 1) and h_{-1} the hidden state carried over from the previous
batch (zero at the start of each pass over the text):

    h_t = tanh(U x_t + W h_{t-1} + b)          U: (H, K)   W: (H, H)   b: (H, 1)
    o_t = V h_t + c                            V: (K, H)   c: (K, 1)
    p_t = softmax(o_t)                         (max-shifted, so it cannot overflow)
    L   = sum_t -log p_t[y_t]                  summed, not averaged, over the seq_length steps

The backward pass is the textbook one. With dy_t = p_t - onehot(y_t) and dh_T = 0 beyond the last
step:

    dV += dy_t h_t^T            dc += dy_t
    dh  = V^T dy_t + W^T dz_{t+1}
    dz_t = (1 - h_t^2) * dh     db += dz_t     dU += dz_t x_t^T     dW += dz_t h_{t-1}^T

Training clips every gradient entry to [-5, 5] and applies Adagrad,
mem += g^2, p -= lr * g / sqrt(mem + 1e-8), with lr = 0.1 (0.05 in the last run).

The versions in the document
----------------------------
The tutorial first shows the class one method at a time, then prints the whole class three times.
Forward, loss, backward, the Adagrad update, sample and predict are the same in every version.
The differences: the first standalone softmax is the naive exp(x)/sum(exp(x)), which the text
shows overflowing to nan for [1000, 2000, 3000]; every class uses the max-shifted one. The last
class turns train() into train(num_epochs) by wrapping its while loop in an epoch loop. The two
data readers differ only in where the text comes from. Hyper-parameters: hidden 100 and lr 0.1,
then hidden 300 and lr 0.05.

Clipping
--------
The document clips inside backward(), but clipping is a training choice, not part of the gradient.
`backward_as_written` therefore returns the unclipped gradient. `update_as_written` clips to
[-CLIP_VALUE, CLIP_VALUE] and then takes the Adagrad step; with tensors the clipping is
`clip_grad_value_(params, CLIP_VALUE)`.

Findings
--------
The gradient is right for U, W, V and b, including the h_{t-1} = hprev term at t = 0. The output
bias is wrong: `dc += dc` adds a zero array to itself, so dc is always exactly 0. Since Adagrad
then moves c by 0 / sqrt(1e-8) = 0, c stays at its zero initialisation for the whole run, and the
model never learns the output bias (the character frequencies).

Outside the gradient: predict() turns a multi-character prompt into one multi-hot input instead
of feeding it one character at a time. The samples printed during training pair the state after
the batch with the batch's first character. sample() and predict() still use the naive softmax.
The epoch version of train() runs every iteration in its first epoch. The data reader skips a
final window that fits exactly.
"""
import numpy as np

from ._numerics import softmax

SOURCE = "000_54715d8477c49f0c.txt"
TITLE = "Implementing RNN from scratch in Python"
PARAMETERS = ("U", "W", "V", "b", "c")

LEARNING_RATE = 0.1   # the first runs; the last one uses 0.05
CLIP_VALUE = 5.0      # np.clip(dparam, -5, 5)
ADAGRAD_FLOOR = 1e-8  # the 1e-8 inside sqrt(mem + 1e-8)


# ---------------------------------------------------------------------------------------------
# The document's model, in numpy
# ---------------------------------------------------------------------------------------------

def sample_problem(rng):
    """A small random instance. The biases and the carried-in hidden state are non-zero, so a
    mistake in db, dc or in the t = 0 term of dW cannot hide behind a zero."""
    vocab, hidden, steps = 6, 5, 5
    params = {
        "U": rng.normal(0.0, 0.5, (hidden, vocab)),
        "W": rng.normal(0.0, 0.5, (hidden, hidden)),
        "V": rng.normal(0.0, 0.5, (vocab, hidden)),
        "b": rng.normal(0.0, 0.5, (hidden, 1)),
        "c": rng.normal(0.0, 0.5, (vocab, 1)),
    }
    # One window of text: the targets are the inputs shifted by one character.
    text = rng.integers(0, vocab, steps + 1)
    return {
        "params": params,
        "inputs": [int(i) for i in text[:-1]],
        "targets": [int(i) for i in text[1:]],
        "hprev": rng.uniform(-0.9, 0.9, (hidden, 1)),  # the state handed over by the previous batch
    }


def _one_hot(ix, size):
    x = np.zeros((size, 1))
    x[ix] = 1.0
    return x


def _forward(params, problem):
    """xs, hs, ps keyed by time step; hs[-1] is the carried-in state, as in the document."""
    U, W, V, b, c = (params[n] for n in PARAMETERS)
    xs, hs, ps = {}, {-1: np.copy(problem["hprev"])}, {}
    for t, ix in enumerate(problem["inputs"]):
        xs[t] = _one_hot(ix, U.shape[1])
        hs[t] = np.tanh(U @ xs[t] + W @ hs[t - 1] + b)
        ps[t] = softmax(V @ hs[t] + c)
    return xs, hs, ps


def loss(params, problem):
    """Cross-entropy summed over the window."""
    _, _, ps = _forward(params, problem)
    return float(sum(-np.log(ps[t][y, 0]) for t, y in enumerate(problem["targets"])))


def _bptt(params, problem, output_bias_as_written):
    W, V = params["W"], params["V"]
    xs, hs, ps = _forward(params, problem)
    grads = {n: np.zeros_like(params[n]) for n in PARAMETERS}
    dh_next = np.zeros_like(hs[0])
    for t in reversed(range(len(problem["inputs"]))):
        dy = np.copy(ps[t])
        dy[problem["targets"][t]] -= 1.0                 # dL/do_t = p_t - onehot(y_t)
        grads["V"] += dy @ hs[t].T
        if output_bias_as_written:
            grads["c"] += grads["c"]                     # the document's `dc += dc`: 0 + 0 = 0
        else:
            grads["c"] += dy                             # o_t = V h_t + c, so dL/dc = sum_t dy_t
        dh = V.T @ dy + dh_next                          # from the output and from step t+1
        dz = (1.0 - hs[t] ** 2) * dh                     # through tanh: tanh' = 1 - tanh^2
        grads["b"] += dz
        grads["U"] += dz @ xs[t].T
        grads["W"] += dz @ hs[t - 1].T                   # hs[-1] is hprev, so t = 0 is right too
        dh_next = W.T @ dz
    return grads


def backward_as_written(params, problem):
    """The document's backward pass, without the clipping (see `update_as_written`)."""
    return _bptt(params, problem, output_bias_as_written=True)


def backward_corrected(params, problem):
    """The exact gradient of `loss`: the document's pass with dc accumulated."""
    return _bptt(params, problem, output_bias_as_written=False)


def tensor_loss(tparams, problem):
    """`loss` built from Tensor ops, so that autograd differentiates exactly the document's loss."""
    from tinygrad_rnn import Tensor

    U, W, V, b, c = (tparams[n] for n in PARAMETERS)
    vocab = U.shape[1]
    h = Tensor(problem["hprev"])                         # a constant: the previous batch's state
    terms = []
    for ix, y in zip(problem["inputs"], problem["targets"]):
        h = (U @ Tensor(_one_hot(ix, vocab)) + W @ h + b).tanh()
        log_p = (V @ h + c).log_softmax(axis=0)
        terms.append(-log_p[y, 0])
    return sum(terms[1:], terms[0])


# ---------------------------------------------------------------------------------------------
# Training step
# ---------------------------------------------------------------------------------------------

def update_as_written(params, grads, state):
    """The document's training step after the backward pass, in place: clip every entry to
    [-5, 5], then Adagrad. `state[name]` is the running sum of squared clipped gradients."""
    for name in PARAMETERS:
        g = np.clip(grads[name], -CLIP_VALUE, CLIP_VALUE)
        mem = state.setdefault(name, np.zeros_like(params[name]))
        mem += g * g
        params[name] += -LEARNING_RATE * g / np.sqrt(mem + ADAGRAD_FLOOR)


def make_optimizer(tensors):
    """Adagrad whose step equals `update_as_written` once the gradients are clipped with
    `clip_grad_value_(tensors, CLIP_VALUE)`. The memory starts at 1e-8 instead of 0, and there
    is no eps outside the root, so sqrt(1e-8 + sum g^2) is exactly the document's
    sqrt(mem + 1e-8)."""
    from tinygrad_rnn.optim import Adagrad

    return Adagrad(tensors, lr=LEARNING_RATE, initial_accumulator_value=ADAGRAD_FLOOR, eps=0.0)


# ---------------------------------------------------------------------------------------------
# The document's sampling, training loop and data reader: just enough to show the findings
# ---------------------------------------------------------------------------------------------

def _step(params, h, x):
    return np.tanh(params["U"] @ x + params["W"] @ h + params["b"])


def _naive_softmax(o):
    # What sample() and predict() compute inline: exp(y) / sum(exp(y)), without the shift.
    return np.exp(o) / np.sum(np.exp(o))


def _sample_first_probs(params, h, seed_ix, normalize=_naive_softmax):
    """The distribution of the first character that sample(h, seed_ix, n) draws."""
    h = _step(params, h, _one_hot(seed_ix, params["U"].shape[1]))
    return normalize(params["V"] @ h + params["c"])


def _predict_first_probs_as_written(params, prompt):
    # predict() sets x[ix] = 1 for every prompt character and never clears x, so the prompt
    # becomes one multi-hot vector, fed once from h = 0.
    x = np.zeros((params["U"].shape[1], 1))
    for ix in prompt:
        x[ix] = 1.0
    h = _step(params, np.zeros((params["W"].shape[0], 1)), x)
    return _naive_softmax(params["V"] @ h + params["c"])


def _predict_first_probs_corrected(params, prompt):
    # Feed the prompt one character at a time; the last output predicts the next character.
    h = np.zeros((params["W"].shape[0], 1))
    for ix in prompt:
        h = _step(params, h, _one_hot(ix, params["U"].shape[1]))
    return softmax(params["V"] @ h + params["c"])


def _iterations_per_epoch_as_written(batch_losses, num_epochs, vocab_size, seq_length,
                                     threshold=0.01):
    """The control flow of train(num_epochs): how many batches each epoch processes."""
    smooth_loss = -np.log(1.0 / vocab_size) * seq_length
    batch_losses = iter(batch_losses)
    counts = []
    for _ in range(num_epochs):
        n = 0
        while smooth_loss > threshold:
            smooth_loss = smooth_loss * 0.999 + next(batch_losses) * 0.001
            n += 1
        counts.append(n)
    return counts


def _window_starts(data_size, seq_length, n_batches, as_written=True):
    """Start positions of the windows next_batch() hands out. A window needs the seq_length + 1
    characters data[p : p + seq_length + 1], so it fits exactly when p + seq_length + 1 <= size."""
    starts, pointer = [], 0
    for _ in range(n_batches):
        starts.append(pointer)
        pointer += seq_length
        end = pointer + seq_length + 1
        if (end >= data_size) if as_written else (end > data_size):
            pointer = 0
    return starts


# ---------------------------------------------------------------------------------------------
# Findings
# ---------------------------------------------------------------------------------------------

GRADIENT_FINDINGS = {
    "c": "`dc += dc` adds a zero array to itself, so dc stays 0 (and Adagrad never moves c from "
         "its zero initialisation); it should add the output error: dc += dy.",
}

OTHER_FINDINGS = [
    "predict() sets x[ix] = 1 for every prompt character without clearing x, so the prompt "
    "becomes one multi-hot input fed once from h = 0; it should feed the prompt one one-hot "
    "character at a time and sample after the last one.",
    "train() samples after the forward pass from hprev = hs[seq_length-1] but seeds with "
    "inputs[0], so each printed sample starts from a (state, character) pair that never occurs "
    "in the text; seed with targets[-1], or sample before the forward pass as min-char-rnn "
    "does. This only affects the printed samples.",
    "sample() and predict() compute exp(y)/sum(exp(y)) inline, the unshifted softmax that the "
    "text itself shows overflowing to nan; they should call the shifted self.softmax. This is "
    "latent: |y_i| <= sum_j |V_ij| + |c_i|, and the document's initialisation "
    "(|V_ij| <= 1/sqrt(hidden_size), c = 0) bounds it by sqrt(hidden_size): 10 for hidden size "
    "100 and 17.3 for the last run's 300, far below exp's overflow near 709.",
    "train(num_epochs) wraps the run-until-converged while loop in the epoch loop and never "
    "resets smooth_loss, so epoch 1 runs until the smoothed loss falls below 0.01, with no "
    "iteration cap, and every later epoch runs zero batches.",
    "next_batch() resets when pointer + seq_length + 1 >= data_size, so it skips the last window "
    "when it fits exactly (== is still valid). The condition should be >. This is minor and "
    "inherited from min-char-rnn.",
]
