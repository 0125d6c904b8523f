"""Reference for the "hello world" RNN notebook (parameters Wxh, Whh, bh, Why, by).

The model
---------
A character-level vanilla RNN in row-vector convention, trained on the single string
"hello world": the inputs are its first 10 characters and the targets its last 10. With x_t the
one-hot row (1 x K) of the t-th input and the hidden state starting from zero at every epoch:

    h_t = tanh(x_t Wxh^T + h_{t-1} Whh^T + bh)     Wxh: (H, K)  Whh: (H, H)  bh: (1, H)
    p_t = softmax(h_t Why^T + by)                  Why: (K, H)  by: (1, K)
    L   = sum_t -log p_t[y_t]                      summed over the sequence,   h_{-1} = 0

The correct backward pass, with dz2_t = p_t - onehot(y_t) and nothing flowing in after the
last step:

    dWhy += dz2_t^T h_t        dby += dz2_t
    dh_t  = dz2_t Why + dz1_{t+1} Whh               (the second term is backprop through time)
    dz1_t = (1 - h_t^2) * dh_t
    dWxh += dz1_t^T x_t        dWhh += dz1_t^T h_{t-1}        dbh += dz1_t

Each epoch clips every gradient entry to [-1, 1] and takes a plain gradient-descent step with
lr = 0.01, over the full sequence.

Clipping
--------
Clipping is a training choice, not part of the gradient, so `backward_as_written` returns the
unclipped gradient. `update_as_written` clips to [-CLIP_VALUE, CLIP_VALUE] and then takes the
step; with tensors the clipping is `clip_grad_value_(params, CLIP_VALUE)`.

Findings
--------
The output layer's gradient (Why, by) is right. The hidden layer's is not. The carried gradient
dF_dh starts at zero and is never updated, because the line that would update it is commented
out. So every step sees only its own output's error, with no backprop through time; this affects
Wxh, Whh and bh. The commented-out line would also be wrong: it computes
dL_dh * (tanh' @ Whh) where it should compute (dL_dh * tanh') @ Whh. dWhh has a second mistake:
it uses the current state h_t where the input to Whh is h_{t-1}.

Outside the gradient: the unit-variance initialisation saturates most tanh units. The softmax is
not shifted by its max, but with |h| < 1 a logit is at most sum_j |Why_kj| + |by_k|, about 50 at
this initialisation, far from exp's overflow at about 709. So that is not a mistake here.
"""
import numpy as np

SOURCE = "001_9a39c453135f5c77.txt"
TITLE = "Hello world char-RNN notebook"
PARAMETERS = ("Wxh", "Whh", "bh", "Why", "by")

LEARNING_RATE = 1e-2
CLIP_VALUE = 1.0      # np.clip(gradient, -1, 1)


# ---------------------------------------------------------------------------------------------
# The notebook's model, in numpy
# ---------------------------------------------------------------------------------------------

def sample_problem(rng):
    """A small random instance. The biases are non-zero. The weights are drawn at half the
    notebook's unit scale, so that the tanh units are not all saturated and every gradient
    entry carries signal."""
    vocab, hidden, steps = 6, 5, 5
    params = {
        "Wxh": rng.normal(0.0, 0.5, (hidden, vocab)),
        "Whh": rng.normal(0.0, 0.5, (hidden, hidden)),
        "bh": rng.normal(0.0, 0.5, (1, hidden)),
        "Why": rng.normal(0.0, 0.5, (vocab, hidden)),
        "by": rng.normal(0.0, 0.5, (1, vocab)),
    }
    text = rng.integers(0, vocab, steps + 1)             # inp = data[:-1], target = data[1:]
    return {
        "params": params,
        "inputs": [int(i) for i in text[:-1]],
        "targets": [int(i) for i in text[1:]],
    }


def _one_hot(ix, size):
    x = np.zeros((1, size))
    x[0, ix] = 1.0
    return x


def _softmax(z):
    # The notebook's softmax, unshifted: see the module docstring for why that is safe here.
    e = np.exp(z)
    return e / e.sum(axis=1)


def _forward(params, problem):
    """xs, hs, ps keyed by step. Like the notebook, hs holds h_0 ... h_{T-1}; h_{-1} = 0."""
    Wxh, Whh, bh, Why, by = (params[n] for n in PARAMETERS)
    h = np.zeros((1, Whh.shape[0]))
    xs, hs, ps = {}, {}, {}
    for t, ix in enumerate(problem["inputs"]):
        xs[t] = _one_hot(ix, Wxh.shape[1])
        h = np.tanh(xs[t] @ Wxh.T + h @ Whh.T + bh)
        hs[t] = h
        ps[t] = _softmax(h @ Why.T + by)
    return xs, hs, ps


def loss(params, problem):
    """Cross-entropy summed over the sequence."""
    _, _, ps = _forward(params, problem)
    return float(sum(-np.log(ps[t][0, y]) for t, y in enumerate(problem["targets"])))


def _bptt(params, problem, carry, whh_input):
    """The hand-written backward pass, with the two places where the notebook goes wrong as
    switches. carry: what flows back to step t-1, one of "none" (the notebook: dF_dh stays 0),
    "commented" (the notebook's commented-out line), "correct". whh_input: "current" (the
    notebook: h_t) or "previous" (correct: h_{t-1})."""
    Whh, Why = params["Whh"], params["Why"]
    xs, hs, ps = _forward(params, problem)
    zero_state = np.zeros((1, Whh.shape[0]))
    grads = {n: np.zeros_like(params[n]) for n in PARAMETERS}
    dh_next = zero_state
    for t in reversed(range(len(problem["inputs"]))):
        dz2 = np.copy(ps[t])
        dz2[0, problem["targets"][t]] -= 1.0             # dL/dlogits = p_t - onehot(y_t)
        grads["Why"] += dz2.T @ hs[t]
        grads["by"] += dz2
        dh = dh_next + dz2 @ Why
        tanh_grad = 1.0 - hs[t] ** 2
        dz1 = tanh_grad * dh
        grads["Wxh"] += dz1.T @ xs[t]
        h_in = hs[t] if whh_input == "current" else hs.get(t - 1, zero_state)
        grads["Whh"] += dz1.T @ h_in
        grads["bh"] += dz1
        if carry == "correct":
            dh_next = dz1 @ Whh                          # h_t = tanh(... + h_{t-1} Whh^T ...)
        elif carry == "commented":
            dh_next = dh * (tanh_grad @ Whh)             # dh taken outside the product
        # carry == "none": dh_next keeps its initial zeros, as in the notebook
    return grads


def backward_as_written(params, problem):
    """The notebook's backward pass, without the clipping (see `update_as_written`)."""
    return _bptt(params, problem, carry="none", whh_input="current")


def backward_corrected(params, problem):
    """The exact gradient of `loss`: full backprop through time, with h_{t-1} in dWhh."""
    return _bptt(params, problem, carry="correct", whh_input="previous")


def tensor_loss(tparams, problem):
    """`loss` built from Tensor ops, so that autograd differentiates exactly the notebook's loss."""
    from tinygrad_rnn import Tensor

    Wxh, Whh, bh, Why, by = (tparams[n] for n in PARAMETERS)
    vocab = Wxh.shape[1]
    h = Tensor(np.zeros((1, Whh.shape[0])))
    terms = []
    for ix, y in zip(problem["inputs"], problem["targets"]):
        h = (Tensor(_one_hot(ix, vocab)) @ Wxh.T + h @ Whh.T + bh).tanh()
        log_p = (h @ Why.T + by).log_softmax(axis=1)
        terms.append(-log_p[0, y])
    return sum(terms[1:], terms[0])


# ---------------------------------------------------------------------------------------------
# Training step
# ---------------------------------------------------------------------------------------------

def update_as_written(params, grads, state):
    """The notebook's training step after the backward pass, in place: clip every entry to
    [-1, 1], then plain gradient descent. `state` is unused."""
    for name in PARAMETERS:
        params[name] -= LEARNING_RATE * np.clip(grads[name], -CLIP_VALUE, CLIP_VALUE)


def make_optimizer(tensors):
    """Plain SGD, p -= lr * g, whose step equals `update_as_written` once the gradients are
    clipped with `clip_grad_value_(tensors, CLIP_VALUE)`."""
    from tinygrad_rnn.optim import SGD

    return SGD(tensors, lr=LEARNING_RATE)


# ---------------------------------------------------------------------------------------------
# The notebook's initialisation: just enough to show the saturation finding
# ---------------------------------------------------------------------------------------------

def _init_params_as_written(rng, vocab_size, hidden_size=64):
    # np.random.randn for every parameter: unit variance, whatever the fan-in.
    return {
        "Wxh": rng.standard_normal((hidden_size, vocab_size)),
        "Whh": rng.standard_normal((hidden_size, hidden_size)),
        "bh": rng.standard_normal((1, hidden_size)),
        "Why": rng.standard_normal((vocab_size, hidden_size)),
        "by": rng.standard_normal((1, vocab_size)),
    }


def _saturated_fraction(params, problem, threshold=0.01):
    """The fraction of (step, unit) pairs whose tanh derivative 1 - h^2 is below `threshold`.
    Such a unit passes less than 1% of the gradient back."""
    _, hs, _ = _forward(params, problem)
    return float(np.mean([1.0 - hs[t] ** 2 < threshold for t in hs]))


# ---------------------------------------------------------------------------------------------
# Findings
# ---------------------------------------------------------------------------------------------

GRADIENT_FINDINGS = {
    "Wxh": "dF_dh is set to zero and never updated (its update line is commented out), so each "
           "step sees only its own output's error; it should carry "
           "dh_next = (dL_dh * (1 - h_t^2)) @ Whh back to step t-1. The commented line, "
           "dL_dh * (dh_dz1 @ Whh), is wrong too.",
    "Whh": "It accumulates (dz1)^T h_t with the current state and without backprop through time; "
           "it should use the state that entered the step, dWhh += dz1^T h_{t-1} (with "
           "h_{-1} = 0), and carry dh_next back as for Wxh.",
    "bh": "It gets no backprop through time, for the same reason as Wxh (dF_dh stays 0); it should "
          "add dz1_t with dh_t including dz1_{t+1} @ Whh.",
}

OTHER_FINDINGS = [
    "Every parameter comes from unscaled np.random.randn. With 64 hidden units, h_{t-1} Whh^T has "
    "std around 7, so about 60% of tanh units have 1 - h^2 < 0.01 and pass almost no gradient; "
    "scale the weights by about 1/sqrt(fan_in), or by 0.01 as min-char-rnn does.",
]
