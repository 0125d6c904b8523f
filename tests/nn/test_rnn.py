"""RNNCell, RNN and CharRNN: values against plain numpy loops, gradients against finite
differences, the carried hidden state, and the shape of the recorded graph."""
from collections import Counter

import numpy as np
import pytest

from tinygrad_rnn import Tensor, concatenate, gradcheck
from tinygrad_rnn.nn import RNN, CharRNN, RNNCell
from tinygrad_rnn.nn.functional import cross_entropy

from ..helpers import rand


def numpy_rnn(x, cells, h0=None):
    """The recurrence written out: h_t = tanh(x_t Wxh + h_{t-1} Whh + b), layer after layer."""
    B, T, _ = x.shape
    last = []
    for layer, (Wxh, Whh, b) in enumerate(cells):
        h = np.zeros((B, Whh.shape[0])) if h0 is None else h0[layer]
        outputs = []
        for t in range(T):
            h = np.tanh(x[:, t] @ Wxh + h @ Whh + b)
            outputs.append(h)
        x = np.stack(outputs, axis=1)
        last.append(h)
    return x, np.stack(last)


def weights(rnn):
    return [(c.weight_xh.data, c.weight_hh.data, c.bias.data) for c in rnn.layers]


def char_rnn(V=5, H=4, layers=2, seed=0):
    return CharRNN(V, H, layers, embedding_size=None, dtype=np.float64,
                   rng=np.random.default_rng(seed))


def test_cell_one_step():
    cell = RNNCell(3, 4, dtype=np.float64, rng=np.random.default_rng(0))
    x, h = rand(2, 3), rand(2, 4, seed=1, low=-1, high=1)
    W, U, b = cell.weight_xh.data, cell.weight_hh.data, cell.bias.data
    np.testing.assert_allclose(cell(Tensor(x), Tensor(h)).data, np.tanh(x @ W + h @ U + b),
                               rtol=1e-12)
    np.testing.assert_allclose(cell(Tensor(x)).data, np.tanh(x @ W + b), rtol=1e-12)


def test_cell_init_as_pytorch():
    cell = RNNCell(10, 25, rng=np.random.default_rng(0))
    assert [n for n, _ in cell.named_parameters()] == ["weight_xh", "weight_hh", "bias"]
    assert cell.weight_xh.shape == (10, 25) and cell.weight_hh.shape == (25, 25)
    for p in cell.parameters():  # the one bias is PyTorch's b_ih + b_hh: two draws
        bound = (2 if p is cell.bias else 1) / np.sqrt(25)
        assert p.dtype == np.float32 and np.abs(p.data).max() <= bound


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("with_h0", [False, True])
def test_rnn_matches_a_numpy_loop(layers, with_h0):
    rnn = RNN(3, 4, layers, dtype=np.float64, rng=np.random.default_rng(0))
    x = rand(2, 5, 3)
    h0 = rand(layers, 2, 4, seed=1, low=-1, high=1) if with_h0 else None
    out, h_n = rnn(Tensor(x), h0)
    assert out.shape == (2, 5, 4) and h_n.shape == (layers, 2, 4)
    want_out, want_h = numpy_rnn(x, weights(rnn), h0)
    np.testing.assert_allclose(out.data, want_out, rtol=1e-12)
    np.testing.assert_allclose(h_n.data, want_h, rtol=1e-12)
    np.testing.assert_array_equal(h_n.data[-1], out.data[:, -1])


def test_rnn_gradients_including_h0():
    rnn = RNN(2, 3, 2, dtype=np.float64, rng=np.random.default_rng(0))
    x = Tensor(rand(2, 3, 2), requires_grad=True)
    h0 = Tensor(rand(2, 2, 3, seed=1, low=-1, high=1), requires_grad=True)

    def outputs(x, h0, *params):  # both outputs, every element against every input element
        out, h_n = rnn(x, h0)
        return concatenate([out.reshape(-1), h_n.reshape(-1)])

    assert gradcheck(outputs, [x, h0, *rnn.parameters()])


def test_rnn_shape_errors():
    rnn = RNN(3, 4, 2)
    with pytest.raises(ValueError, match=r"\(batch, time, 3\), got \(2, 5, 2\)"):
        rnn(np.zeros((2, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r"h0 must have shape .* \(2, 2, 4\), got \(1, 2, 4\)"):
        rnn(np.zeros((2, 5, 3), np.float32), np.zeros((1, 2, 4), np.float32))
    with pytest.raises(ValueError, match="num_layers"):
        RNN(3, 4, 0)


def test_char_rnn_parameters_and_embedding():
    model = char_rnn(V=5, H=4, layers=2)
    assert [(n, p.shape) for n, p in model.named_parameters()] == [
        ("rnn.layers.0.weight_xh", (5, 4)), ("rnn.layers.0.weight_hh", (4, 4)),
        ("rnn.layers.0.bias", (4,)), ("rnn.layers.1.weight_xh", (4, 4)),
        ("rnn.layers.1.weight_hh", (4, 4)), ("rnn.layers.1.bias", (4,)),
        ("head.weight", (4, 5)), ("head.bias", (5,))]
    assert model.embedding is None
    assert model.vocab is None


@pytest.mark.parametrize("with_h0", [False, True])
def test_char_rnn_is_a_one_hot_rnn_with_a_linear_head(with_h0):
    model = char_rnn(V=5, H=4, layers=2)
    ids = np.array([[0, 3, 3, 1], [4, 2, 0, 0]])
    h0 = rand(2, 2, 4, seed=1, low=-1, high=1) if with_h0 else None
    logits, h = model(ids, h0)
    assert logits.shape == (2, 4, 5) and h.shape == (2, 2, 4)
    out, want_h = numpy_rnn(np.eye(5)[ids], weights(model.rnn), h0)
    np.testing.assert_allclose(logits.data, out @ model.head.weight.data + model.head.bias.data,
                               rtol=1e-12)
    np.testing.assert_allclose(h.data, want_h, rtol=1e-12)


@pytest.mark.parametrize("with_h0", [False, True])
def test_char_rnn_loss_gradient_for_every_parameter(with_h0):
    model = char_rnn(V=4, H=3, layers=2)
    ids = np.array([[0, 3, 3], [2, 1, 0]])
    targets = np.array([[3, 3, 1], [1, 0, 2]])
    h0 = rand(2, 2, 3, seed=1, low=-1, high=1) if with_h0 else None
    params = list(model.parameters())
    assert gradcheck(lambda *ps: cross_entropy(model(ids, h0)[0], targets), params)


def test_carried_state_continues_the_sequence_and_detach_cuts_the_graph():
    model = char_rnn()
    ids = np.random.default_rng(0).integers(0, 5, (2, 6))
    whole, _ = model(ids)
    first, h = model(ids[:, :3])
    second, _ = model(ids[:, 3:], h.detach())
    np.testing.assert_allclose(np.concatenate([first.data, second.data], axis=1), whole.data,
                               rtol=1e-12)

    # With a detached h, the second half's gradient is that of a model started from a constant.
    targets = np.random.default_rng(1).integers(0, 5, (2, 3))
    cross_entropy(model(ids[:, 3:], h.detach())[0], targets).backward()
    carried = [p.grad.copy() for p in model.parameters()]
    assert first.grad_fn is not None and h.grad is None  # nothing flowed into the first half
    model.zero_grad()
    cross_entropy(model(ids[:, 3:], h.data.copy())[0], targets).backward()
    for got, want in zip(carried, [p.grad for p in model.parameters()]):
        np.testing.assert_array_equal(got, want)


def test_float32_by_default():
    model = CharRNN(6, 5, rng=np.random.default_rng(0))
    logits, h = model(np.zeros((2, 3), dtype=np.int64))
    assert logits.dtype == np.float32 and h.dtype == np.float32
    logits, h = model(np.zeros((2, 3), dtype=np.int64), h)  # carrying h keeps float32
    assert logits.dtype == np.float32 and h.dtype == np.float32


def test_same_seed_same_model():
    a, b = char_rnn(seed=7), char_rnn(seed=7)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(x, y, err_msg=name)


def graph_ops(root):
    """How many times each op type occurs in the graph behind `root`."""
    counts, seen, stack = Counter(), set(), [root.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        counts[type(node).__name__] += 1
        stack.extend(p.grad_fn for p in node.parents if isinstance(p, Tensor))
    return counts


@pytest.mark.parametrize("with_h0", [False, True])
def test_graph_is_one_gather_one_split_and_one_node_per_step(with_h0):
    """The whole-sequence work happens once; a time step is one fused tanh(x + h @ W_hh) node."""
    model = char_rnn(V=5, H=4, layers=1)
    T = 7
    h0 = np.zeros((1, 2, 4)) if with_h0 else None
    logits, h = model(np.zeros((2, T), dtype=np.int64), h0)
    ops = graph_ops(logits)
    steps = T if with_h0 else T - 1  # from zeros, the first step is just tanh(x_0)
    assert ops["GetItem"] == 1 and ops["Unbind"] == 1 and ops["Stack"] == 1
    assert ops["TanhAddMatMul"] == steps and ops["Tanh"] == T - steps
    assert ops["MatMul"] == 1 and ops["Add"] == 2  # the output projection; input and output biases


def test_char_rnn_rejects_bad_ids():
    model = char_rnn(V=5)
    with pytest.raises(IndexError, match=r"character id 5 is out of range \[0, 5\)"):
        model(np.array([[0, 5]]))
    with pytest.raises(ValueError, match=r"\(batch, time\), got \(3,\)"):
        model(np.array([0, 1, 2]))


def test_config_rebuilds_the_same_shape_and_counts_its_parameters():
    model = CharRNN(7, 6, 2, dtype=np.float64, rng=np.random.default_rng(0))
    config = model.config()
    assert config == {"vocab_size": 7, "hidden_size": 6, "num_layers": 2, "cell": "rnn",
                      "embedding_size": 128, "dropout": 0.0, "dtype": "float64"}
    rebuilt = CharRNN.from_config(config)
    assert {k: (v.shape, v.dtype) for k, v in rebuilt.state_dict().items()} == \
        {k: (v.shape, v.dtype) for k, v in model.state_dict().items()}
    assert CharRNN.parameter_count(config) == sum(p.data.size for p in model.parameters())


def test_ten_thousand_steps_train_without_recursion():
    """BPTT over a 10,000-step sequence: the walk is iterative, memory linear in the length."""
    model = CharRNN(5, 8, dtype=np.float64, rng=np.random.default_rng(0))
    ids = np.random.default_rng(1).integers(0, 5, (1, 10_001))
    logits, _ = model(ids[:, :-1])
    loss = cross_entropy(logits, ids[:, 1:])
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.all(np.isfinite(p.grad)), name
    assert np.abs(model.rnn.layers[0].weight_hh.grad).sum() > 0
