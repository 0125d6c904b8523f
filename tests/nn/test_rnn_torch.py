"""The cells and stacks against PyTorch's (nn.RNN, nn.LSTM, nn.GRU and their cells) loaded with
the same weights: outputs and every gradient, float64, multi-layer, from a carried state.

Loading: PyTorch's weight_ih (g*H, in) and weight_hh (g*H, H) are the transposes of weight_xh
and weight_hh here; where this package keeps one bias (RNN, LSTM), it goes into b_ih and b_hh
is 0, which computes the same sums."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor
from tinygrad_rnn.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

from ..helpers import rand

torch = pytest.importorskip("torch")

STACKS = {"rnn": (RNN, "RNN"), "lstm": (LSTM, "LSTM"), "gru": (GRU, "GRU")}
CELLS = {"rnn": (RNNCell, "RNNCell"), "lstm": (LSTMCell, "LSTMCell"), "gru": (GRUCell, "GRUCell")}


def torch_weights(cell):
    """(weight_ih, weight_hh, bias_ih, bias_hh) in PyTorch's layout, from one of our cells."""
    W, U = cell.weight_xh.data.T, cell.weight_hh.data.T
    if isinstance(cell, GRUCell):
        return W, U, cell.bias_xh.data, cell.bias_hh.data
    return W, U, cell.bias.data, np.zeros_like(cell.bias.data)


def load(module, cells, suffix):
    with torch.no_grad():
        for k, cell in enumerate(cells):
            for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                                   torch_weights(cell)):
                getattr(module, name + suffix(k)).copy_(torch.from_numpy(value.copy()))


def check_grads(cells, module, suffix):
    """Each of our parameters' gradient against PyTorch's for the same weight."""
    for k, cell in enumerate(cells):
        grad = lambda name: getattr(module, name + suffix(k)).grad.numpy()  # noqa: E731
        np.testing.assert_allclose(cell.weight_xh.grad, grad("weight_ih").T, rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(cell.weight_hh.grad, grad("weight_hh").T, rtol=1e-10,
                                   atol=1e-12)
        if isinstance(cell, GRUCell):
            np.testing.assert_allclose(cell.bias_xh.grad, grad("bias_ih"), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(cell.bias_hh.grad, grad("bias_hh"), rtol=1e-10, atol=1e-12)
        else:  # d/db of a sum b_ih + b_hh: both of PyTorch's biases get our bias's gradient
            np.testing.assert_allclose(cell.bias.grad, grad("bias_ih"), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(cell.bias.grad, grad("bias_hh"), rtol=1e-10, atol=1e-12)


def pair(a):
    """Our Tensor and a torch leaf holding the same float64 array, both requiring grad."""
    return Tensor(a.copy(), requires_grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("with_state", [False, True])
def test_stack_matches_pytorch(kind, layers, with_state):
    ours_cls, name = STACKS[kind]
    B, T, I, H = 3, 5, 4, 6
    ours = ours_cls(I, H, layers, dtype=np.float64, rng=np.random.default_rng(0))
    theirs = getattr(torch.nn, name)(I, H, layers, batch_first=True, dtype=torch.float64)
    load(theirs, ours.layers, lambda k: f"_l{k}")
    x, x_t = pair(rand(B, T, I))
    seeds = (1, 2) if kind == "lstm" else (1,)  # (h0, c0) or h0
    parts = [rand(layers, B, H, seed=s, low=-1, high=1) for s in seeds]
    if with_state:
        state = [pair(p) for p in parts]
        ours_state = tuple(s for s, _ in state) if kind == "lstm" else state[0][0]
        theirs_state = tuple(t for _, t in state) if kind == "lstm" else state[0][1]
    else:
        state, ours_state, theirs_state = [], None, None
    out, last = ours(x, ours_state)
    out_t, last_t = theirs(x_t, theirs_state)
    last, last_t = (last, last_t) if kind == "lstm" else ((last,), (last_t,))

    # a loss that weighs every output element differently, so that no gradient term can hide
    weights = [rand(*out.shape, seed=3)] + [rand(*s.shape, seed=4 + i) for i, s in enumerate(last)]
    loss = sum((t * w).sum() for t, w in zip((out, *last), weights))
    loss_t = sum((t * torch.from_numpy(w)).sum() for t, w in zip((out_t, *last_t), weights))
    loss.backward()
    loss_t.backward()

    np.testing.assert_allclose(out.data, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(last, last_t):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    for s, s_t in state:
        np.testing.assert_allclose(s.grad, s_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    check_grads(ours.layers, theirs, lambda k: f"_l{k}")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_cell_matches_pytorch(kind):
    ours_cls, name = CELLS[kind]
    B, I, H = 3, 4, 5
    ours = ours_cls(I, H, dtype=np.float64, rng=np.random.default_rng(0))
    theirs = getattr(torch.nn, name)(I, H, dtype=torch.float64)
    load(theirs, [ours], lambda k: "")
    x, x_t = pair(rand(B, I))
    (h, h_t), (c, c_t) = pair(rand(B, H, seed=1)), pair(rand(B, H, seed=2))
    got = ours(x, (h, c)) if kind == "lstm" else (ours(x, h),)
    want = theirs(x_t, (h_t, c_t)) if kind == "lstm" else (theirs(x_t, h_t),)
    weights = [rand(B, H, seed=3 + i) for i in range(len(got))]
    sum((t * w).sum() for t, w in zip(got, weights)).backward()
    sum((t * torch.from_numpy(w)).sum() for t, w in zip(want, weights)).backward()
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, b in [(x, x_t), (h, h_t)] + ([(c, c_t)] if kind == "lstm" else []):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-10, atol=1e-12)
    check_grads([ours], theirs, lambda k: "")
