"""Linear and Embedding: forward against numpy, gradients against finite differences, init."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor, gradcheck
from tinygrad_rnn.nn import Embedding, Linear

from ..helpers import rand


def test_linear_is_x_at_w_plus_b_with_weight_in_by_out():
    layer = Linear(3, 4, dtype=np.float64, rng=np.random.default_rng(0))
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (4,)
    x = rand(5, 3)
    np.testing.assert_allclose(layer(Tensor(x)).data, x @ layer.weight.data + layer.bias.data,
                               rtol=1e-12)


def test_linear_on_a_sequence_batch():
    layer = Linear(3, 4, dtype=np.float64, rng=np.random.default_rng(0))
    x = rand(2, 5, 3)
    y = layer(Tensor(x))
    assert y.shape == (2, 5, 4)
    np.testing.assert_allclose(y.data, x @ layer.weight.data + layer.bias.data, rtol=1e-12)


def test_linear_without_bias():
    layer = Linear(3, 2, bias=False, dtype=np.float64, rng=np.random.default_rng(0))
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    x = rand(4, 3)
    np.testing.assert_allclose(layer(Tensor(x)).data, x @ layer.weight.data, rtol=1e-12)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 3), (3,)])
def test_linear_gradients(shape):
    layer = Linear(3, 2, dtype=np.float64, rng=np.random.default_rng(0))
    x = Tensor(rand(*shape), requires_grad=True)
    assert gradcheck(lambda x, w, b: layer(x), [x, layer.weight, layer.bias])


def test_linear_init_as_pytorch_and_reproducible():
    layer = Linear(16, 200, rng=np.random.default_rng(3))
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    bound = 1 / np.sqrt(16)
    for p in (layer.weight, layer.bias):
        assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > 0.9 * bound
    again = Linear(16, 200, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(layer.weight.data, again.weight.data)


def test_embedding_looks_up_rows_for_ids_of_any_shape():
    emb = Embedding(5, 3, dtype=np.float64, rng=np.random.default_rng(0))
    for ids in (np.array(2), np.array([4, 0]), np.array([[1, 1, 3], [0, 2, 4]])):
        out = emb(ids)
        assert out.shape == ids.shape + (3,)
        np.testing.assert_array_equal(out.data, emb.weight.data[ids])
    np.testing.assert_array_equal(emb(Tensor(np.array([1, 2]))).data, emb.weight.data[[1, 2]])


def test_embedding_gradient_adds_up_repeated_ids():
    emb = Embedding(4, 3, dtype=np.float64, rng=np.random.default_rng(0))
    ids = np.array([[1, 3, 1], [1, 0, 3]])
    g = rand(2, 3, 3)
    emb(ids).backward(g)
    one_hot = np.eye(4)[ids.reshape(-1)]  # W[ids] = one_hot @ W, so dL/dW = one_hot^T @ g
    np.testing.assert_allclose(emb.weight.grad, one_hot.T @ g.reshape(-1, 3), rtol=1e-12)
    assert gradcheck(lambda w: emb(ids) * Tensor(g), [emb.weight])


def test_embedding_init_is_standard_normal_and_reproducible():
    emb = Embedding(100, 100, rng=np.random.default_rng(5))
    assert emb.weight.dtype == np.float32
    assert abs(emb.weight.data.mean()) < 0.05 and abs(emb.weight.data.std() - 1) < 0.05
    np.testing.assert_array_equal(emb.weight.data,
                                  Embedding(100, 100, rng=np.random.default_rng(5)).weight.data)


@pytest.mark.parametrize("ids, error, message", [
    (np.array([0, 5]), IndexError, r"index 5 is out of range \[0, 5\)"),
    (np.array([-1, 2]), IndexError, r"index -1 is out of range"),
    (np.array([0.0, 1.0]), TypeError, "integer array"),
])
def test_embedding_rejects_bad_ids(ids, error, message):
    with pytest.raises(error, match=message):
        Embedding(5, 2)(ids)


def test_reprs():
    assert repr(Linear(3, 4, bias=False)) == "Linear(in_features=3, out_features=4, bias=False)"
    assert repr(Embedding(10, 3)) == "Embedding(10, 3)"
