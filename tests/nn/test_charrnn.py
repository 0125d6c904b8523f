"""CharRNN for every cell and both input forms (an Embedding, or the one-hot input): the
parameter names and shapes, values against numpy, gradients against finite differences, the
carried state, sampling, config() round trips and parameter_count, release 0.1.0's layout."""
import json
import os

import numpy as np
import pytest

from tinygrad_rnn import gradcheck
from tinygrad_rnn.nn import CharRNN
from tinygrad_rnn.nn.charrnn import complete_config
from tinygrad_rnn.nn.functional import cross_entropy

from ..helpers import rand
from .numpy_cells import char_model

CELLS = ["rnn", "lstm", "gru"]
FORMS = [None, 3]  # embedding_size: the one-hot input, or an Embedding(V, 3)
DATA = os.path.join(os.path.dirname(__file__), "..", "data")


def model_of(cell, E, V=5, H=4, layers=2, seed=0):
    return CharRNN(V, H, layers, cell=cell, embedding_size=E, dtype=np.float64,
                   rng=np.random.default_rng(seed))


def random_state(cell, layers=2, B=2, H=4):
    parts = [rand(layers, B, H, seed=s, low=-1, high=1) for s in (1, 2)]
    return tuple(parts) if cell == "lstm" else parts[0]


def state_arrays(state):
    return [t.data for t in state] if isinstance(state, tuple) else [state.data]


@pytest.mark.parametrize("cell, g", [("rnn", 1), ("lstm", 4), ("gru", 3)])
@pytest.mark.parametrize("E", FORMS)
def test_parameter_names_and_shapes(cell, g, E):
    V, H = 5, 4
    biases = ([("bias_xh", (g * H,)), ("bias_hh", (g * H,))] if cell == "gru"
              else [("bias", (g * H,))])
    want = [] if E is None else [("embedding.weight", (V, E))]
    for k, inputs in enumerate([E or V, H]):
        want += [(f"rnn.layers.{k}.weight_xh", (inputs, g * H)),
                 (f"rnn.layers.{k}.weight_hh", (H, g * H))]
        want += [(f"rnn.layers.{k}.{name}", shape) for name, shape in biases]
    want += [("head.weight", (H, V)), ("head.bias", (V,))]
    model = model_of(cell, E, V, H)
    assert [(n, p.shape) for n, p in model.named_parameters()] == want
    assert CharRNN.parameter_count(model.config()) == sum(int(np.prod(s)) for _, s in want) \
        == sum(p.data.size for p in model.parameters())


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("E", FORMS)
@pytest.mark.parametrize("with_state", [False, True])
def test_values_match_numpy(cell, E, with_state):
    model = model_of(cell, E)
    ids = np.array([[0, 3, 3, 1], [4, 2, 0, 0]])
    state = random_state(cell) if with_state else None
    logits, last = model(ids, state)
    assert logits.shape == (2, 4, 5)
    assert isinstance(last, tuple) == (cell == "lstm")
    assert all(a.shape == (2, 2, 4) for a in state_arrays(last))
    states, want = char_model(model, ids, state)
    np.testing.assert_allclose(logits.data, want, rtol=1e-12)
    np.testing.assert_allclose(state_arrays(last)[0][-1], states[:, -1], rtol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("E", FORMS)
def test_loss_gradient_for_every_parameter(cell, E):
    model = model_of(cell, E, V=4, H=3, layers=2)
    ids, targets = np.array([[0, 3, 3], [2, 1, 0]]), np.array([[3, 3, 1], [1, 0, 2]])
    state = random_state(cell, H=3)
    assert gradcheck(lambda *ps: cross_entropy(model(ids, state)[0], targets),
                     list(model.parameters()))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("E", FORMS)
def test_carried_state_continues_the_sequence(cell, E):
    model = model_of(cell, E)
    ids = np.random.default_rng(0).integers(0, 5, (2, 6))
    whole, _ = model(ids)
    first, state = model(ids[:, :3])
    detached = tuple(t.detach() for t in state) if cell == "lstm" else state.detach()
    second, _ = model(ids[:, 3:], detached)
    np.testing.assert_allclose(np.concatenate([first.data, second.data], axis=1), whole.data,
                               rtol=1e-12)


class Letters:
    """A vocabulary as `generate` needs one: `chars` and `encode`."""

    chars = "abcde"

    def encode(self, text):
        return np.array([self.chars.index(ch) for ch in text])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("E", FORMS)
def test_generate(cell, E):
    model = model_of(cell, E)
    model.vocab = Letters()
    text = model.generate("abc", 30, temperature=0.8, seed=1)
    assert len(text) == 30 and set(text) <= set("abcde")
    assert model.generate("abc", 30, temperature=0.8, seed=1) == text
    # greedy decoding picks the argmax of the numpy model's logits after the prime
    _, logits = char_model(model, [[0, 1, 2]])
    assert model.generate("abc", 1, temperature=0) == "abcde"[int(np.argmax(logits[0, -1]))]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("E", [None, 7])
def test_config_round_trip(cell, E):
    model = CharRNN(11, 6, 2, cell=cell, embedding_size=E, dropout=0.25,
                    rng=np.random.default_rng(0))
    config = model.config()
    assert config == {"vocab_size": 11, "hidden_size": 6, "num_layers": 2, "cell": cell,
                      "embedding_size": E, "dropout": 0.25, "dtype": "float32"}
    assert json.loads(json.dumps(config)) == config
    rebuilt = CharRNN.from_config(config)
    assert rebuilt.config() == config
    assert {k: (v.shape, v.dtype) for k, v in rebuilt.state_dict().items()} == \
        {k: (v.shape, v.dtype) for k, v in model.state_dict().items()}
    assert CharRNN.parameter_count(config) == sum(p.data.size for p in model.parameters())


def test_a_release_0_1_config_means_a_one_hot_rnn():
    old = {"vocab_size": 65, "hidden_size": 16, "num_layers": 2, "dtype": "float32"}
    assert complete_config(old) == dict(old, cell="rnn", embedding_size=None, dropout=0.0)
    assert CharRNN.from_config(old).config() == complete_config(old)
    assert CharRNN.parameter_count(old) == sum(
        p.data.size for p in CharRNN.from_config(old).parameters())


def test_release_0_1_weights_load_and_give_its_logits():
    """The checkpoint release 0.1.0 wrote: its configuration, names and shapes build and load
    into today's CharRNN, which computes the logits that release recorded."""
    with np.load(os.path.join(DATA, "checkpoint_v1.npz")) as npz:
        meta = json.loads(bytes(npz["meta"]).decode())
        params = {k[len("params/"):]: npz[k] for k in npz.files if k.startswith("params/")}
    with open(os.path.join(DATA, "checkpoint_v1.json")) as f:
        recorded = json.load(f)
    model = CharRNN.from_config(meta["config"])
    model.load_state_dict(params)  # strict: exactly the names and shapes of release 0.1.0
    logits, _ = model(np.array(recorded["ids"]))
    np.testing.assert_allclose(logits.data, np.array(recorded["logits"]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_float32_by_default_and_the_state_stays_float32(cell):
    model = CharRNN(6, 5, cell=cell, rng=np.random.default_rng(0))
    logits, state = model(np.zeros((2, 3), dtype=np.int64))
    logits, state = model(np.zeros((2, 3), dtype=np.int64), state)
    assert logits.dtype == np.float32
    assert all(a.dtype == np.float32 for a in state_arrays(state))


def test_embedding_initialised_as_pytorch():
    model = CharRNN(50, 8, embedding_size=40, rng=np.random.default_rng(0))
    w = model.embedding.weight.data
    assert abs(w.mean()) < 0.05 and abs(w.std() - 1) < 0.05  # N(0, 1): 2,000 draws


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"cell must be one of 'rnn', 'lstm', 'gru', got 'tanh'"):
        CharRNN(5, 4, cell="tanh")
    with pytest.raises(ValueError, match=r"embedding_size must be a positive integer or None, "
                                         r"got 0"):
        CharRNN(5, 4, embedding_size=0)
    model = CharRNN(5, 4, cell="lstm")
    with pytest.raises(IndexError, match=r"character id 5 is out of range \[0, 5\)"):
        model(np.array([[0, 5]]))
    with pytest.raises(ValueError, match=r"\(batch, time\), got \(3,\)"):
        model(np.array([0, 1, 2]))
