"""The exported arrays in PyTorch itself: load_state_dict(strict=True) into Embedding -> nn.RNN |
nn.LSTM | nn.GRU -> Linear gives this package's logits and states, and a PyTorch-initialised model
comes back with its own."""
import numpy as np
import pytest

from tinygrad_rnn.export import from_torch, to_torch
from tinygrad_rnn.nn import CharRNN
from tinygrad_rnn.nn.functional import cross_entropy

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402  (after the skip)

V, E, H, B = 7, 4, 5, 3
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-10}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


class TorchCharRNN(nn.Module):
    """The PyTorch model of the README's "When you outgrow it"."""

    def __init__(self, vocab_size, hidden_size, num_layers, cell, embedding_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](
            embedding_size, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        out, state = self.rnn(self.embedding(ids), state)
        return self.head(out), state


def ids_in_two_chunks(seed=1):
    ids = np.random.default_rng(seed).integers(0, V, size=(B, 12))
    return ids[:, :6], ids[:, 6:]


def ours_over_two_chunks(model):
    """(logits of both chunks, the last state as a list of arrays), the state carried."""
    first, second = ids_in_two_chunks()
    logits1, state = model(first)
    logits2, state = model(second, state)
    states = state if isinstance(state, tuple) else (state,)
    return np.concatenate([logits1.data, logits2.data], axis=1), [s.data for s in states]


def torch_over_two_chunks(module):
    first, second = (torch.from_numpy(ids) for ids in ids_in_two_chunks())
    with torch.no_grad():
        logits1, state = module(first)
        logits2, state = module(second, state)
    states = state if isinstance(state, tuple) else (state,)
    return torch.cat([logits1, logits2], dim=1).numpy(), [s.numpy() for s in states]


def assert_same_function(ours, theirs, dtype):
    (logits, states), (torch_logits, torch_states) = ours, theirs
    assert torch_logits.dtype == logits.dtype == dtype
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(torch_logits, logits, rtol=tol, atol=tol)
    assert len(states) == len(torch_states)
    for state, torch_state in zip(states, torch_states):
        np.testing.assert_allclose(torch_state, state, rtol=tol, atol=tol)


@pytest.mark.parametrize("embedding_size", [E, None], ids=["embedding", "one-hot"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_exported_weights_give_pytorch_the_same_logits(cell, layers, dtype, embedding_size):
    model = CharRNN(V, H, layers, cell=cell, embedding_size=embedding_size, dtype=dtype,
                    rng=np.random.default_rng(0))
    module = TorchCharRNN(V, H, layers, cell, embedding_size or V).to(TORCH_DTYPE[dtype])
    module.load_state_dict({name: torch.from_numpy(value)
                            for name, value in to_torch(model).items()}, strict=True)
    assert_same_function(ours_over_two_chunks(model), torch_over_two_chunks(module), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_pytorch_initialised_model_comes_back_with_its_logits(cell, layers, dtype):
    torch.manual_seed(layers)
    module = TorchCharRNN(V, H, layers, cell, E).to(TORCH_DTYPE[dtype])
    with torch.no_grad():  # PyTorch initialises the biases apart: make b_hh count too
        for name, p in module.rnn.named_parameters():
            if name.startswith("bias_hh"):
                p.uniform_(-1, 1)
    model = from_torch(module.state_dict(), None)
    assert model.config() == {"vocab_size": V, "hidden_size": H, "num_layers": layers,
                              "cell": cell, "embedding_size": E, "dropout": 0.0,
                              "dtype": np.dtype(dtype).name}
    assert_same_function(ours_over_two_chunks(model), torch_over_two_chunks(module), dtype)


@pytest.mark.parametrize("embedding_size", [E, None], ids=["embedding", "one-hot"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_training_goes_on_the_same_in_pytorch(cell, embedding_size):
    """The loss's gradient in PyTorch, mapped back by the export's rules, is this package's
    (float64): a step there is the step here."""
    model = CharRNN(V, H, 2, cell=cell, embedding_size=embedding_size, dtype=np.float64,
                    rng=np.random.default_rng(3))
    module = TorchCharRNN(V, H, 2, cell, embedding_size or V).double()
    module.load_state_dict({name: torch.from_numpy(value)
                            for name, value in to_torch(model).items()}, strict=True)
    ids = np.random.default_rng(4).integers(0, V, size=(B, 9))
    logits, _ = model(ids[:, :-1])
    cross_entropy(logits, ids[:, 1:]).backward()
    torch_logits, _ = module(torch.from_numpy(ids[:, :-1]))
    nn.functional.cross_entropy(torch_logits.reshape(-1, V),
                                torch.from_numpy(ids[:, 1:]).reshape(-1)).backward()
    grad = {name: p.grad.numpy() for name, p in module.named_parameters()}
    ours = {name: p.grad for name, p in model.named_parameters()}
    expected = {"head.weight": grad["head.weight"].T, "head.bias": grad["head.bias"]}
    if embedding_size is not None:
        expected["embedding.weight"] = grad["embedding.weight"]
    for k in range(2):
        layer = f"rnn.layers.{k}."
        expected[layer + "weight_hh"] = grad[f"rnn.weight_hh_l{k}"].T
        # one-hot input: PyTorch's identity embedding passes the same gradient to weight_ih_l0
        expected[layer + "weight_xh"] = grad[f"rnn.weight_ih_l{k}"].T
        if cell == "gru":
            expected[layer + "bias_xh"] = grad[f"rnn.bias_ih_l{k}"]
            expected[layer + "bias_hh"] = grad[f"rnn.bias_hh_l{k}"]
        else:  # one bias, their sum: its gradient is that of either
            expected[layer + "bias"] = grad[f"rnn.bias_ih_l{k}"]
    assert sorted(expected) == sorted(ours)
    for name, value in expected.items():
        np.testing.assert_allclose(ours[name], value, rtol=1e-10, atol=1e-12, err_msg=name)
