"""detect_anomaly: the first non-finite forward or backward raises, naming op, shapes and line."""
import numpy as np
import pytest

from tinygrad_rnn import AnomalyError, Function, Tensor, detect_anomaly


def test_forward_nan_names_op_shapes_and_line():
    x = Tensor(np.array([1.0, -1.0]), requires_grad=True)
    with detect_anomaly(), pytest.raises(AnomalyError) as err, np.errstate(invalid="ignore"):
        x.log()  # log(-1) is NaN
    msg = str(err.value)
    assert "Log forward" in msg and "NaN" in msg and "(2,)" in msg
    assert "test_anomaly.py" in msg and "x.log()" in msg


def test_backward_inf_is_caught_at_the_op_that_made_it():
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    with detect_anomaly():
        y = (x ** 0.5).sum()  # finite forward; d sqrt(x)/dx = inf at 0
        with pytest.raises(AnomalyError) as err, np.errstate(divide="ignore"):
            y.backward()
    msg = str(err.value)
    assert "Pow backward" in msg and "Inf" in msg and "x ** 0.5" in msg


def test_custom_function_backward_checked():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g * np.nan

    x = Tensor(np.ones(3), requires_grad=True)
    with detect_anomaly():
        y = Bad.apply(x).sum()
        with pytest.raises(AnomalyError, match="Bad backward"):
            y.backward()


def test_off_by_default_numpy_semantics_kept():
    with np.errstate(over="ignore", invalid="ignore"):
        y = Tensor(np.array([1000.0])).exp()
        assert np.isinf(y.data[0])
        assert np.isnan(Tensor(np.array([-1.0])).log().data[0])


@pytest.mark.parametrize("name,product", [("Mul", lambda x, w: x * w), ("MatMul", lambda x, w: x @ w)])
def test_backward_overflow_in_a_weight_gradient_is_caught(name, product):
    """dL/dW = x^T g overflows float32 (3e38 * 2 > max); the weight's term is caught at its op,
    whether it is an ordinary product or a term the walk would sum later (the matrix product)."""
    x = Tensor(np.array([[3e38], [3e38]], dtype=np.float32))
    w = Tensor(np.array([[1e-38]], dtype=np.float32), requires_grad=True)
    with detect_anomaly():
        y = product(x, w).sum()
        with pytest.raises(AnomalyError) as err, np.errstate(over="ignore"):
            y.backward()
    assert f"{name} backward" in str(err.value) and "Inf" in str(err.value)
