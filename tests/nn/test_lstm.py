"""LSTMCell and LSTM: values against the recurrence written out in numpy, gradients against
float64 finite differences, the carried (h, c) state, the shapes and the initialisation."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor, concatenate, gradcheck
from tinygrad_rnn.nn import LSTM, LSTMCell

from ..helpers import rand
from .numpy_cells import arrays, lstm_step, run


def lstm(layers=1, seed=0, input_size=3, hidden=4):
    return LSTM(input_size, hidden, layers, dtype=np.float64, rng=np.random.default_rng(seed))


def test_cell_one_step_with_and_without_a_state():
    cell = LSTMCell(3, 4, dtype=np.float64, rng=np.random.default_rng(0))
    x, h, c = rand(2, 3), rand(2, 4, seed=1, low=-1, high=1), rand(2, 4, seed=2, low=-1, high=1)
    got_h, got_c = cell(Tensor(x), (Tensor(h), Tensor(c)))
    want_h, want_c = lstm_step(x, h, c, *arrays(cell))
    np.testing.assert_allclose(got_h.data, want_h, rtol=1e-12)
    np.testing.assert_allclose(got_c.data, want_c, rtol=1e-12)
    zeros = np.zeros((2, 4))
    for got, want in zip(cell(Tensor(x)), lstm_step(x, zeros, zeros, *arrays(cell))):
        np.testing.assert_allclose(got.data, want, rtol=1e-12)


def test_cell_parameters_and_init_as_pytorch():
    cell = LSTMCell(10, 25, rng=np.random.default_rng(0))
    assert [(n, p.shape) for n, p in cell.named_parameters()] == [
        ("weight_xh", (10, 100)), ("weight_hh", (25, 100)), ("bias", (100,))]
    k = 1 / np.sqrt(25)
    assert all(p.dtype == np.float32 for p in cell.parameters())
    assert np.abs(cell.weight_xh.data).max() <= k and np.abs(cell.weight_hh.data).max() <= k
    # the one bias stands for PyTorch's b_ih + b_hh: the sum of two U(-k, k), variance 2k^2/3
    assert np.abs(cell.bias.data).max() <= 2 * k
    big = LSTMCell(4, 400, dtype=np.float64, rng=np.random.default_rng(1))
    np.testing.assert_allclose(big.bias.data.var(), 2 / 3 / 400, rtol=0.1)


def test_cell_gradient():
    cell = LSTMCell(2, 3, dtype=np.float64, rng=np.random.default_rng(0))
    x = Tensor(rand(2, 2), requires_grad=True)
    h = Tensor(rand(2, 3, seed=1, low=-1, high=1), requires_grad=True)
    c = Tensor(rand(2, 3, seed=2, low=-1, high=1), requires_grad=True)

    def step(x, h, c, *params):
        return concatenate([t.reshape(-1) for t in cell(x, (h, c))])

    assert gradcheck(step, [x, h, c, *cell.parameters()])
    assert gradcheck(lambda x, *ps: concatenate([t.reshape(-1) for t in cell(x)]),
                     [x, *cell.parameters()])


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("with_state", [False, True])
def test_lstm_matches_a_numpy_loop(layers, with_state):
    model = lstm(layers)
    x = rand(2, 5, 3)
    state = (tuple(rand(layers, 2, 4, seed=s, low=-1, high=1) for s in (1, 2))
             if with_state else None)
    out, (h_n, c_n) = model(Tensor(x), state)
    assert out.shape == (2, 5, 4) and h_n.shape == c_n.shape == (layers, 2, 4)
    want_out, (want_h, want_c) = run("lstm", x, model.layers, state)
    np.testing.assert_allclose(out.data, want_out, rtol=1e-12)
    np.testing.assert_allclose(h_n.data, want_h, rtol=1e-12)
    np.testing.assert_allclose(c_n.data, want_c, rtol=1e-12)
    np.testing.assert_array_equal(h_n.data[-1], out.data[:, -1])


def test_lstm_gradients_including_the_initial_state():
    model = lstm(2, input_size=2, hidden=3)
    x = Tensor(rand(2, 3, 2), requires_grad=True)
    h0 = Tensor(rand(2, 2, 3, seed=1, low=-1, high=1), requires_grad=True)
    c0 = Tensor(rand(2, 2, 3, seed=2, low=-1, high=1), requires_grad=True)

    def outputs(x, h0, c0, *params):  # every output element against every input element
        out, (h_n, c_n) = model(x, (h0, c0))
        return concatenate([out.reshape(-1), h_n.reshape(-1), c_n.reshape(-1)])

    assert gradcheck(outputs, [x, h0, c0, *model.parameters()])


def test_carried_state_continues_the_sequence():
    model = lstm(2)
    x = rand(2, 6, 3)
    whole, _ = model(Tensor(x))
    first, state = model(Tensor(x[:, :3]))
    second, _ = model(Tensor(x[:, 3:]), tuple(t.detach() for t in state))
    np.testing.assert_allclose(np.concatenate([first.data, second.data], axis=1), whole.data,
                               rtol=1e-12)


def test_state_errors():
    model = LSTM(3, 4, 2)
    x = np.zeros((2, 5, 3), np.float32)
    with pytest.raises(ValueError, match=r"LSTM expects x of shape \(batch, time, 3\), got"):
        model(np.zeros((2, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r"state must be a pair \(h0, c0\), got ndarray"):
        model(x, np.zeros((2, 2, 4), np.float32))
    with pytest.raises(ValueError, match=r"c0 must have shape .* \(2, 2, 4\), got \(2, 3, 4\)"):
        model(x, (np.zeros((2, 2, 4), np.float32), np.zeros((2, 3, 4), np.float32)))
    with pytest.raises(ValueError, match="num_layers"):
        LSTM(3, 4, 0)


def test_gates_are_split_by_one_op_per_step():
    """The four gates come out of one Split node per step (not four slices, each of which
    would scatter its gradient into a zero array of all four gates' size)."""
    from .test_rnn import graph_ops

    out, _ = lstm(1)(Tensor(rand(2, 5, 3)))
    ops = graph_ops(out)
    assert ops["Split"] == 5 and ops["GetItem"] == 0
    assert ops["Sigmoid"] == 3 * 5 - 1 and ops["Tanh"] == 2 * 5  # from zeros, f is not needed
