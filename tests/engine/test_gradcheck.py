"""gradcheck passes correct ops, names the bad element of wrong ones; check_gradients reports."""
import numpy as np
import pytest

from tinygrad_rnn import Function, GradcheckError, Tensor, check_gradients, gradcheck

from ..helpers import rand


class GoodSquare(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class WrongSquare(GoodSquare):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        grad = 2 * x * g
        grad.flat[4] += 1.0  # one bad element
        return grad


def test_passes_a_correct_custom_op():
    assert gradcheck(GoodSquare.apply, [Tensor(rand(2, 3), requires_grad=True)])


def test_names_input_element_and_values_of_a_wrong_op():
    x = Tensor(rand(2, 3, seed=1), requires_grad=True)
    with pytest.raises(GradcheckError) as err:
        gradcheck(lambda t: WrongSquare.apply(t).sum(), [x])
    msg = str(err.value)
    expected = 2 * x.data[1, 1]
    assert "input 0" in msg and "element (1, 1)" in msg
    assert f"analytic {expected + 1:.10g}" in msg and "numeric" in msg
    assert not gradcheck(lambda t: WrongSquare.apply(t).sum(), [x], raise_exception=False)


def test_whole_jacobian_is_compared():
    """A wrong off-diagonal entry only shows in the full Jacobian, not in the gradient of a sum."""

    class Shift(Function):
        @staticmethod
        def forward(ctx, x):
            return np.roll(x, 1)

        @staticmethod
        def backward(ctx, g):
            return g  # should be np.roll(g, -1)

    x = Tensor(rand(4), requires_grad=True)
    assert gradcheck(lambda t: Shift.apply(t).sum(), [x])  # the sum hides it
    with pytest.raises(GradcheckError, match="output element"):
        gradcheck(Shift.apply, [x])


def test_refuses_float32():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: t * 2, [Tensor(rand(3).astype(np.float32), requires_grad=True)])


def test_inputs_and_grads_left_untouched():
    x = Tensor(rand(3), requires_grad=True)
    x.grad = np.full(3, 7.0)
    before = x.data.copy()
    gradcheck(lambda t: (t * t).sum(), [x])
    np.testing.assert_array_equal(x.data, before)
    np.testing.assert_array_equal(x.grad, 7.0)


def test_check_gradients_report():
    params = {"w": rand(3, 2), "b": rand(2, seed=1)}
    x = rand(4, 3, seed=2)

    def loss_fn(p):
        return ((x @ p["w"] + p["b"]).tanh() ** 2).sum()

    h = np.tanh(x @ params["w"] + params["b"])
    dz = 2 * h * (1 - h ** 2)
    right = {"w": x.T @ dz, "b": dz.sum(0)}
    report = check_gradients(loss_fn, params, right)
    assert report.ok and report["w"].rel_error < 1e-12
    wrong = dict(right, b=dz.mean(0))
    report = check_gradients(loss_fn, params, wrong)
    assert not report.ok and report["w"].ok and not report["b"].ok
    assert "WRONG" in str(report) and "b" in str(report)
    with pytest.raises(KeyError, match="w"):
        check_gradients(loss_fn, params, {"b": right["b"]})
