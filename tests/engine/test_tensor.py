"""Tensor basics: construction, dtypes, mixing with numbers and arrays, repr."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor


def test_construction_and_attributes():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert t.shape == (2, 2) and t.ndim == 2 and t.dtype == np.float64 and t.numel() == 4
    assert t.requires_grad and t.grad is None and t.is_leaf
    assert isinstance(t.numpy(), np.ndarray) and Tensor(3.5).item() == 3.5
    assert Tensor([1, 2], dtype=np.float32).dtype == np.float32


def test_only_floats_require_grad():
    with pytest.raises(TypeError, match="int64"):
        Tensor([1, 2, 3], requires_grad=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_through_ops_and_numbers(dtype):
    t = Tensor(np.ones((2, 3), dtype=dtype), requires_grad=True)
    y = ((2 * t + 1.5) / 3 - t ** 2).tanh().log_softmax() @ np.ones((3,), dtype=dtype)
    y = (1 - y).exp().sum()
    assert y.dtype == dtype
    y.backward()
    assert t.grad.dtype == dtype


def test_numbers_and_arrays_on_either_side():
    t = Tensor(np.array([1.0, 2.0]))
    a = np.array([10.0, 20.0])
    for got, want in [(t + 1, [2, 3]), (1 + t, [2, 3]), (t - 1, [0, 1]), (1 - t, [0, -1]),
                      (t * 2, [2, 4]), (2 * t, [2, 4]), (t / 2, [0.5, 1]), (2 / t, [2, 1]),
                      (a + t, [11, 22]), (t + a, [11, 22]), (a * t, [10, 40]), (a - t, [9, 18]),
                      (a / t, [10, 10]), (-t, [-1, -2])]:
        assert isinstance(got, Tensor)
        np.testing.assert_array_equal(got.data, want)
    assert isinstance(a @ t, Tensor) and (a @ t).item() == 50


def test_numbers_and_arrays_enter_the_graph_as_constants():
    t = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    a = np.array([3.0, 5.0])
    y = (t * a + 2.0) / 4.0 - a
    assert y.grad_fn.parents[1] is a  # the array itself: no Tensor made for it, no gradient asked
    assert y.grad_fn.needs_input_grad == (True, False)
    y.sum().backward()
    np.testing.assert_array_equal(t.grad, a / 4.0)


def test_repr_shows_data_grad_and_op():
    t = Tensor([1.0, 2.0], requires_grad=True)
    (t * t).sum().backward()
    assert repr(t) == "Tensor([1., 2.], requires_grad=True, grad=[2., 4.])"
    assert "grad_fn=Mul" in repr(t * 2) and "float32" in repr(Tensor([1.0], dtype=np.float32))


def test_pow_needs_a_number():
    with pytest.raises(TypeError, match="exponent"):
        Tensor([1.0]) ** Tensor([2.0])


def test_tensor_index_and_len():
    t = Tensor(np.arange(6.0).reshape(3, 2))
    assert len(t) == 3
    np.testing.assert_array_equal(t[Tensor(np.array([2, 0]))].data, [[4, 5], [0, 1]])
