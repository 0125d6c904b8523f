"""Dropout as a layer (nn.Dropout), in the recurrent stacks and in CharRNN: on while training,
off in eval mode, and its gradient through a whole model against finite differences."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor, gradcheck
from tinygrad_rnn.nn import GRU, LSTM, RNN, CharRNN, Dropout
from tinygrad_rnn.nn.functional import cross_entropy, dropout

from ..helpers import rand

IDS = np.array([[0, 3, 1, 4, 2], [2, 2, 0, 1, 3]])


def test_the_layer_drops_while_training_and_passes_through_in_eval_mode():
    layer, x = Dropout(0.4, rng=np.random.default_rng(0)), Tensor(np.ones((100, 100)))
    y = layer(x).data
    assert set(np.unique(y)) == {0.0, 1 / 0.6}
    assert abs((y == 0).mean() - 0.4) < 0.015  # 10,000 draws: the standard error is 0.005
    assert layer.eval()(x) is x
    assert repr(layer) == "Dropout(p=0.4)"


def test_a_seeded_generator_repeats_the_masks():
    a, b = (Dropout(0.5, rng=np.random.default_rng(3)) for _ in range(2))
    x = Tensor(rand(6, 7))
    np.testing.assert_array_equal(a(x).data, b(x).data)


@pytest.mark.parametrize("p", [-0.1, 1.5, True, "0.5"])
def test_a_probability_outside_0_1_is_refused_in_pytorchs_words(p):
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        Dropout(p)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        dropout(Tensor(np.ones(2)), p)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        CharRNN(5, 4, dropout=p)


def test_functional_dropout_is_the_identity_when_off():
    x = Tensor(rand(3, 4))
    assert dropout(x, 0.5, training=False) is x and dropout(x, 0.0) is x


def model_pair(cell, layers, p, E=3):
    """Two CharRNNs with the same weights (dropout draws nothing at construction), one with
    dropout p."""
    return [CharRNN(5, 4, layers, cell=cell, embedding_size=E, dropout=q, dtype=np.float64,
                    rng=np.random.default_rng(0)) for q in (p, 0.0)]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_charrnn_in_eval_mode_is_the_model_without_dropout(cell, layers):
    dropped, plain = model_pair(cell, layers, 0.5)
    expected = plain(IDS)[0].data
    assert not np.allclose(dropped(IDS)[0].data, expected)  # training: masks applied
    np.testing.assert_array_equal(dropped.eval()(IDS)[0].data, expected)


def test_charrnn_drops_the_top_layers_outputs_before_the_head():
    model = CharRNN(5, 4, 2, cell="gru", dropout=1.0, rng=np.random.default_rng(0))
    logits, _ = model(IDS)  # every input of the head is zero: only its bias remains
    np.testing.assert_array_equal(logits.data, np.broadcast_to(model.head.bias.data, logits.shape))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_gradient_through_a_model_with_dropout_matches_finite_differences(cell):
    model = CharRNN(5, 3, 2, cell=cell, embedding_size=3, dropout=0.3, dtype=np.float64,
                    rng=np.random.default_rng(1))
    state = model.rng.bit_generator.state
    targets = np.roll(IDS, -1, axis=1)
    params = list(model.parameters())

    def loss(*_):
        model.rng.bit_generator.state = state  # the same masks at every evaluation
        return cross_entropy(model(IDS)[0], targets)

    assert gradcheck(loss, params)


@pytest.mark.parametrize("stack", [RNN, LSTM, GRU])
def test_a_stack_drops_between_layers_only_while_training(stack):
    rnn = stack(3, 4, num_layers=3, dropout=0.5, dtype=np.float64, rng=np.random.default_rng(0))
    plain = stack(3, 4, num_layers=3, dtype=np.float64, rng=np.random.default_rng(0))
    x = rand(2, 5, 3)
    assert not np.allclose(rnn(x)[0].data, plain(x)[0].data)
    np.testing.assert_array_equal(rnn.eval()(x)[0].data, plain(x)[0].data)
    assert repr(rnn).splitlines()[1].strip() == "3, 4, num_layers=3, dropout=0.5"


def test_a_one_layer_stack_warns_that_dropout_does_nothing_there():
    with pytest.warns(UserWarning, match="dropout=0.2 acts between layers; with num_layers=1"):
        GRU(3, 4, dropout=0.2)


def test_evaluating_switches_dropout_off_and_restores_every_modules_mode():
    model, plain = model_pair("lstm", 2, 0.5)
    model.embedding.eval()  # a submodule in a mode of its own
    with pytest.raises(RuntimeError):
        with model.evaluating():
            np.testing.assert_array_equal(model(IDS)[0].data, plain(IDS)[0].data)
            raise RuntimeError("the block fails")
    assert model.training and not model.embedding.training and model.rnn.training


def test_sampling_never_drops():
    from tinygrad_rnn.charrnn.data import Vocab

    dropped, plain = model_pair("gru", 2, 0.9)
    dropped.vocab = plain.vocab = Vocab("abcde")
    assert dropped.generate("ab", 20, seed=4) == plain.generate("ab", 20, seed=4)
    assert dropped.training
