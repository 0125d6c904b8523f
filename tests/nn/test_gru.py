"""GRUCell and GRU: values against the recurrence written out in numpy, gradients against
float64 finite differences, the carried state, the shapes and the initialisation."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor, concatenate, gradcheck
from tinygrad_rnn.nn import GRU, GRUCell

from ..helpers import rand
from .numpy_cells import arrays, gru_step, run


def gru(layers=1, seed=0, input_size=3, hidden=4):
    return GRU(input_size, hidden, layers, dtype=np.float64, rng=np.random.default_rng(seed))


def test_cell_one_step_with_and_without_a_state():
    cell = GRUCell(3, 4, dtype=np.float64, rng=np.random.default_rng(0))
    x, h = rand(2, 3), rand(2, 4, seed=1, low=-1, high=1)
    np.testing.assert_allclose(cell(Tensor(x), Tensor(h)).data, gru_step(x, h, *arrays(cell))[0],
                               rtol=1e-12)
    np.testing.assert_allclose(cell(Tensor(x)).data,
                               gru_step(x, np.zeros((2, 4)), *arrays(cell))[0], rtol=1e-12)


def test_cell_parameters_and_init_as_pytorch():
    cell = GRUCell(10, 25, rng=np.random.default_rng(0))
    assert [(n, p.shape) for n, p in cell.named_parameters()] == [
        ("weight_xh", (10, 75)), ("weight_hh", (25, 75)), ("bias_xh", (75,)), ("bias_hh", (75,))]
    for p in cell.parameters():  # PyTorch's two biases, each its own U(-k, k)
        assert p.dtype == np.float32 and np.abs(p.data).max() <= 1 / np.sqrt(25)


def test_cell_gradient():
    cell = GRUCell(2, 3, dtype=np.float64, rng=np.random.default_rng(0))
    x = Tensor(rand(2, 2), requires_grad=True)
    h = Tensor(rand(2, 3, seed=1, low=-1, high=1), requires_grad=True)
    assert gradcheck(lambda x, h, *ps: cell(x, h), [x, h, *cell.parameters()])
    assert gradcheck(lambda x, *ps: cell(x), [x, *cell.parameters()])  # b_hh from zeros too


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("with_h0", [False, True])
def test_gru_matches_a_numpy_loop(layers, with_h0):
    model = gru(layers)
    x = rand(2, 5, 3)
    h0 = rand(layers, 2, 4, seed=1, low=-1, high=1) if with_h0 else None
    out, h_n = model(Tensor(x), h0)
    assert out.shape == (2, 5, 4) and h_n.shape == (layers, 2, 4)
    want_out, want_h = run("gru", x, model.layers, h0)
    np.testing.assert_allclose(out.data, want_out, rtol=1e-12)
    np.testing.assert_allclose(h_n.data, want_h, rtol=1e-12)


def test_gru_gradients_including_h0():
    model = gru(2, input_size=2, hidden=3)
    x = Tensor(rand(2, 3, 2), requires_grad=True)
    h0 = Tensor(rand(2, 2, 3, seed=1, low=-1, high=1), requires_grad=True)

    def outputs(x, h0, *params):
        out, h_n = model(x, h0)
        return concatenate([out.reshape(-1), h_n.reshape(-1)])

    assert gradcheck(outputs, [x, h0, *model.parameters()])


def test_carried_state_continues_the_sequence():
    model = gru(2)
    x = rand(2, 6, 3)
    whole, _ = model(Tensor(x))
    first, h = model(Tensor(x[:, :3]))
    second, _ = model(Tensor(x[:, 3:]), h.detach())
    np.testing.assert_allclose(np.concatenate([first.data, second.data], axis=1), whole.data,
                               rtol=1e-12)


def test_shape_errors():
    model = GRU(3, 4, 2)
    with pytest.raises(ValueError, match=r"GRU expects x of shape \(batch, time, 3\), got"):
        model(np.zeros((2, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r"h0 must have shape .* \(2, 2, 4\), got \(1, 2, 4\)"):
        model(np.zeros((2, 5, 3), np.float32), np.zeros((1, 2, 4), np.float32))
