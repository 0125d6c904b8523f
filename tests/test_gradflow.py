"""hidden_grad_norms against BPTT written out in numpy, and that against finite differences."""
import numpy as np
import pytest

from tinygrad_rnn.gradflow import hidden_grad_norms
from tinygrad_rnn.nn import CharRNN

V, H, B, T = 7, 6, 3, 9


def setup(num_layers=1, seed=0):
    rng = np.random.default_rng(seed)
    model = CharRNN(V, H, num_layers, embedding_size=None, dtype=np.float64, rng=rng)
    ids, targets = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    h0 = rng.uniform(-0.5, 0.5, (num_layers, B, H))
    return model, ids, targets, h0


def forward(model, ids, h0, bump=None):
    """Top-layer states and logits in plain numpy; `bump = (t, d)` adds d to the top state h_t."""
    layers = model.rnn.layers
    x = layers[0].weight_xh.data[ids] + layers[0].bias.data  # layer 0's input, projected
    for i, cell in enumerate(layers):
        if i > 0:
            x = x @ cell.weight_xh.data + cell.bias.data
        h, states = h0[i], []
        for t in range(T):
            h = np.tanh(x[:, t] + h @ cell.weight_hh.data)
            if bump is not None and i == len(layers) - 1 and bump[0] == t:
                h = h + bump[1]
            states.append(h)
        x = np.stack(states, axis=1)
    return x, x @ model.head.weight.data + model.head.bias.data


def loss_weights(loss_at):
    """Weight of each position's cross-entropy in the loss: the mean, or one step's mean."""
    w = np.zeros((B, T))
    if loss_at is None:
        w[:] = 1 / (B * T)
    else:
        w[:, loss_at] = 1 / B
    return w


def loss(model, ids, targets, h0, loss_at, bump=None):
    _, logits = forward(model, ids, h0, bump)
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    return -(loss_weights(loss_at) * picked).sum()


def bptt(model, ids, targets, h0, loss_at):
    """dL/dh_t for the top layer, t = T-1 down to 0, by the textbook recursion."""
    states, logits = forward(model, ids, h0)
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    p[np.arange(B)[:, None], np.arange(T), targets] -= 1
    dlogits = p * loss_weights(loss_at)[..., None]
    W_hh, W_out = model.rnn.layers[-1].weight_hh.data, model.head.weight.data
    grads, carry = np.zeros_like(states), np.zeros((B, H))
    for t in reversed(range(T)):
        grads[:, t] = dlogits[:, t] @ W_out.T + carry
        carry = (grads[:, t] * (1 - states[:, t] ** 2)) @ W_hh.T
    return grads


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("loss_at", [None, -1, 4])
def test_matches_bptt_written_out(num_layers, loss_at):
    model, ids, targets, h0 = setup(num_layers)
    expected = np.linalg.norm(bptt(model, ids, targets, h0, loss_at), axis=(0, 2))
    norms = hidden_grad_norms(model, ids, targets, h0, loss_at=loss_at)
    assert norms.shape == (T,) and norms.dtype == np.float64
    np.testing.assert_allclose(norms, expected, rtol=1e-10, atol=1e-15)
    if loss_at == 4:
        assert np.all(norms[5:] == 0) and np.all(norms[:5] > 0)


def test_bptt_written_out_matches_finite_differences():
    """The reference itself: the derivative of L along dL/dh_t / ||dL/dh_t||, by central
    differences on a bump added to h_t, is ||dL/dh_t||."""
    model, ids, targets, h0 = setup()
    grads = bptt(model, ids, targets, h0, None)
    eps = 1e-6
    for t in (0, 4, T - 1):
        d = grads[:, t] / np.linalg.norm(grads[:, t])
        slope = (loss(model, ids, targets, h0, None, (t, eps * d))
                 - loss(model, ids, targets, h0, None, (t, -eps * d))) / (2 * eps)
        np.testing.assert_allclose(slope, np.linalg.norm(grads[:, t]), rtol=1e-6)


def test_starting_from_zeros_and_leaving_the_model_grads_alone():
    model, ids, targets, _ = setup()
    marker = np.full(model.head.bias.shape, 7.0)
    model.head.bias.grad = marker
    norms = hidden_grad_norms(model, ids, targets)
    np.testing.assert_allclose(norms, np.linalg.norm(
        bptt(model, ids, targets, np.zeros((1, B, H)), None), axis=(0, 2)), rtol=1e-10)
    assert model.head.bias.grad is marker
    assert model.rnn.layers[0].weight_hh.grad is None


def test_the_gradient_from_the_last_step_fades_going_back_in_time():
    model, ids, targets, h0 = setup()
    norms = hidden_grad_norms(model, ids, targets, h0, loss_at=-1)
    assert norms[0] < 0.1 * norms[-1]  # small initial weights: |W_hh| < 1, tanh' <= 1


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("loss_at", [None, -1])
def test_every_cell_against_finite_differences(cell, loss_at):
    """For each cell and input form, dL/dh_t by central differences on a bump added to each
    element of the top layer's h_t in a numpy model (before the next step and the head read
    it), against what the engine's backward leaves in the states."""
    from .nn.numpy_cells import char_model

    rng = np.random.default_rng(1)
    model = CharRNN(V, H, 2, cell=cell, embedding_size=4, dtype=np.float64, rng=rng)
    ids, targets = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    parts = [rng.uniform(-0.5, 0.5, (2, B, H)) for _ in range(2)]
    state = tuple(parts) if cell == "lstm" else parts[0]

    def numpy_loss(bump):
        _, logits = char_model(model, ids, state, bump)
        z = logits - logits.max(axis=-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        picked = np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
        return -(loss_weights(loss_at) * picked).sum()

    eps, expected = 1e-6, np.zeros(T)
    for t in range(T):
        grad = np.zeros((B, H))
        for index in np.ndindex(B, H):
            d = np.zeros((B, H))
            d[index] = eps
            grad[index] = (numpy_loss((t, d)) - numpy_loss((t, -d))) / (2 * eps)
        expected[t] = np.linalg.norm(grad)
    norms = hidden_grad_norms(model, ids, targets, state, loss_at=loss_at)
    np.testing.assert_allclose(norms, expected, rtol=1e-6, atol=1e-9)


def test_under_no_grad_it_says_so():
    from tinygrad_rnn import no_grad

    model, ids, targets, h0 = setup()
    with no_grad(), pytest.raises(RuntimeError, match="not recorded; was it called under no_grad"):
        hidden_grad_norms(model, ids, targets, h0)
