"""The backward walk: accumulation, reuse, depth, graph release, no_grad, detach, errors, hooks."""
import gc
import weakref

import numpy as np
import pytest

from tinygrad_rnn import Function, Tensor, no_grad

from ..helpers import rand


def test_chain_rule_by_hand():
    x = Tensor(2.0, requires_grad=True)
    y = x * x * x + 3 * x  # dy/dx = 3x^2 + 3 = 15
    y.backward()
    assert x.grad == 15.0


def test_gradients_accumulate_until_zeroed():
    x = Tensor([1.0, -2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [6, 6])
    x.zero_grad()
    assert x.grad is None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2, -4])


def test_node_used_many_times():
    """A diamond and a node reused n times: every path's contribution is summed, once."""
    x = Tensor(1.5, requires_grad=True)
    h = x.tanh()
    y = h * h + h + h.exp() * h  # dy/dh = 2h + 1 + e^h (h + 1)
    y.backward()
    h0 = np.tanh(1.5)
    np.testing.assert_allclose(x.grad, (2 * h0 + 1 + np.exp(h0) * (h0 + 1)) * (1 - h0 ** 2))

    w = Tensor(np.ones(3), requires_grad=True)
    total = w
    for _ in range(50):
        total = total + w
    total.sum().backward()
    np.testing.assert_array_equal(w.grad, [51, 51, 51])


def test_deep_chain_has_no_recursion_limit():
    x = Tensor(np.array([0.5]), requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y * 1.0
    y = y + 0  # and one more op type in the chain
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0])


def test_non_scalar_backward_needs_grad():
    x = Tensor(rand(3), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"grad argument.*\(3,\)"):
        y.backward()
    with pytest.raises(ValueError, match="shape"):
        y.backward(np.ones(4))
    y.backward(np.array([1.0, 10.0, 100.0]))
    np.testing.assert_array_equal(x.grad, [2, 20, 200])


def test_backward_without_grad_says_so():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor([1.0]) * 2).sum().backward()


def test_second_backward_through_freed_graph_raises():
    x = Tensor(rand(3), requires_grad=True)
    y = (x.tanh() * x).sum()
    node = y.grad_fn
    assert not node.released
    y.backward()
    assert node.released
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_keeps_it():
    x = Tensor(rand(3), requires_grad=True)
    y = (x.tanh() * x).sum()
    y.backward(retain_graph=True)
    assert not y.grad_fn.released
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first)


def test_saved_arrays_are_released_after_backward():
    x = Tensor(rand(1000), requires_grad=True)
    h = x.tanh()
    saved = weakref.ref(h.grad_fn.saved_tensors[0])  # tanh keeps its output for backward
    loss = (h * 2).sum()
    del h
    loss.backward()
    gc.collect()
    assert saved() is None


def test_no_grad_records_nothing():
    x = Tensor(rand(3), requires_grad=True)
    with no_grad():
        y = x * 2 + 1
    assert not y.requires_grad and y.grad_fn is None

    @no_grad()
    def f(t):
        return t.exp()

    assert not f(x).requires_grad and (x * 2).requires_grad


def test_detach_cuts_the_graph():
    x = Tensor(rand(3), requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad
    z = (y * x).sum()
    z.backward()
    np.testing.assert_allclose(x.grad, y.data)  # only the direct path


def test_partial_requires_grad():
    a = Tensor(rand(2, 3), requires_grad=True)
    b = Tensor(rand(3, 4))
    (a @ b).sum().backward()
    assert b.grad is None
    np.testing.assert_allclose(a.grad, np.ones((2, 4)) @ b.data.T)


def test_retain_grad_and_hooks():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.copy()))
    x.register_hook(lambda g: g * 10)  # a hook may replace the gradient
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad, [6, 12])
    np.testing.assert_array_equal(seen[0], [6, 12])
    np.testing.assert_array_equal(x.grad, [180, 360])


def test_hook_replacing_gradient_of_intermediate():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 1
    handle = h.register_hook(lambda g: np.zeros_like(g))
    (h * 5).sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 0])
    handle.remove()
    x.grad = None
    h2 = x * 1
    (h2 * 5).sum().backward()
    np.testing.assert_array_equal(x.grad, [5, 5])


class Cube(Function):
    """A user-defined op: y = x^3, dy/dx = 3x^2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2


def test_custom_function_apply():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = Cube.apply(x)
    assert type(y.grad_fn).__name__ == "Cube"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3, 12])
    with no_grad():
        assert not Cube.apply(x).requires_grad


def test_weight_used_at_many_steps_mixed_with_other_uses():
    """Deferred weight-gradient terms (one GEMM at the end) merge with ordinary ones correctly."""
    from tinygrad_rnn import gradcheck

    def unrolled(w, h):
        for _ in range(6):
            h = (h @ w).tanh()
        return (h * w.sum(axis=0)).sum() + (h @ w.T).sum()

    w = Tensor(rand(4, 4, seed=1) * 0.5, requires_grad=True)
    assert gradcheck(unrolled, [w, Tensor(rand(3, 4, seed=2), requires_grad=True)])
    assert gradcheck(lambda w: (Tensor(rand(2, 3, 4)) @ w).sum() + (w ** 2).sum(), [w])


def test_table_rows_read_at_many_steps():
    """Deferred row-gradient terms of a leaf table (embedding) merge with ordinary uses."""
    from tinygrad_rnn import gradcheck

    ids = np.array([[0, 2], [2, 2], [1, 0]])

    def unrolled(table):
        h = 0
        for t in range(3):
            h = (table[ids[t]] + h).tanh()
        return (h * table[1]).sum() + table.sum()

    assert gradcheck(unrolled, [Tensor(rand(3, 4, seed=3), requires_grad=True)])


def test_a_forward_value_error_names_the_op_and_keeps_the_original_as_cause():
    class Broken(Function):
        @staticmethod
        def forward(ctx, x):
            raise ValueError("my own check failed")

    with pytest.raises(ValueError, match=r"Broken: my own check failed \(input shapes: \(2,\)\)") as err:
        Broken.apply(Tensor(np.ones(2)))
    assert isinstance(err.value.__cause__, ValueError)
    assert str(err.value.__cause__) == "my own check failed"
    assert err.value.__cause__.__traceback__ is not None  # the user's line can still be found
