"""How far back in time the gradient reaches: ||dL/dh_t|| for every step t of a CharRNN.

The state h_t feeds the output at step t and the next state,
h_{t+1} = tanh(x_{t+1} W_xh + h_t W_hh + b), so backpropagation through time gives

    dL/dh_t = (dL/dy_t) W_out^T  +  (dL/dh_{t+1} * (1 - h_{t+1}^2)) W_hh^T.

Unrolling the second term, what the loss at a later step s sends back to h_t has passed through
s - t factors diag(1 - h^2) W_hh^T. When those factors shrink vectors (tanh saturates, W_hh is
small) the contribution decays geometrically with the distance s - t: the vanishing gradient,
and the reason a vanilla RNN learns little from characters far in the past. When they stretch
vectors, it explodes instead, and gradient clipping is what keeps training stable.

The gated cells add a path without those factors. An LSTM's cell state c_t = f_t c_{t-1} + i_t g_t
sends dL/dc_{t-1} = f_t * dL/dc_t back (elementwise: no weight matrix, no tanh'), and a GRU's
h_t = (1 - z_t) n_t + z_t h_{t-1} sends z_t * dL/dh_t straight to h_{t-1}: where the gates stay
near 1, the gradient reaches far back (examples/06_vanishing_gradients.py measures it).

`hidden_grad_norms` measures this on a real model and batch: it asks the engine to keep the
gradient of each state (`retain_grad`), runs one backward, and reads the gradients off.
"""
import numpy as np

from .nn.functional import cross_entropy
from .tensor import stack


def hidden_grad_norms(model, ids, targets, h0=None, loss_at=None):
    """||dL/dh_t|| for t = 0 .. T-1, the top layer's states of a CharRNN, as a float64 array.

    Works for every cell: `model.hidden_states` hands over the per-step top-layer outputs h_t
    (for an LSTM, the h of its (h, c) state). ids, targets: (B, T) integer arrays; h0: the
    initial state, as for `model(ids, h0)`.
    loss_at=None differentiates the training loss, the mean cross-entropy over all B*T
    predictions. loss_at=s (negative counts from the end) differentiates only the mean
    cross-entropy of the predictions at step s: then dL/dh_t is 0 after s, and before s it is
    purely what travelled back through time, which shows the vanishing gradient most clearly.
    The norm is taken over the whole (B, H) gradient. The model's `.grad`s are left as they were.
    """
    targets = np.asarray(targets)
    states, _ = model.hidden_states(ids, h0)  # h_0 .. h_{T-1}: the tensors the output layer reads
    if not states[0].requires_grad:  # under no_grad() nothing was recorded
        raise RuntimeError("hidden_grad_norms: the model's states were not recorded; was it "
                           "called under no_grad()?")
    for h in states:
        h.retain_grad()
    logits = model.head(stack(states, axis=0))  # (T, B, V)
    if loss_at is None:
        loss = cross_entropy(logits, targets.T)
    else:
        loss = cross_entropy(logits[loss_at], targets[:, loss_at])

    grads = [(p, p.grad) for p in model.parameters()]
    for p, _ in grads:
        p.grad = None
    loss.backward()
    for p, g in grads:
        p.grad = g
    return np.array([0.0 if h.grad is None else np.linalg.norm(h.grad.astype(np.float64))
                     for h in states])
