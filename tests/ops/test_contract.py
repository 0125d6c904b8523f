"""The Function contract every op keeps: backward reads only ctx's own state and the shapes of
its inputs, so it gives the same gradients when its inputs are stand-ins with nothing but a shape
(as a replay of a recorded step hands it), whether the inputs are leaves or made by other ops."""
import inspect

import numpy as np
import pytest

from tinygrad_rnn import Function, Tensor, ops
from tinygrad_rnn.autograd import Deferred

from ..helpers import rand


def leaf(*shape, seed=0, low=-2.0, high=2.0):
    return Tensor(rand(*shape, seed=seed, low=low, high=high), requires_grad=True)


CASES = {  # op -> a call of it on tensors that require grad
    "Add": lambda: ops.Add.apply(leaf(3, 4), leaf(4, seed=1)),
    "Sub": lambda: ops.Sub.apply(leaf(3, 1), leaf(4, seed=1)),
    "Mul": lambda: ops.Mul.apply(leaf(3, 4), leaf(1, 4, seed=1)),
    "Div": lambda: ops.Div.apply(leaf(3, 4), leaf(4, seed=1, low=0.5)),
    "Neg": lambda: ops.Neg.apply(leaf(3)),
    "Pow": lambda: ops.Pow.apply(leaf(3, low=0.5), p=1.5),
    "Exp": lambda: ops.Exp.apply(leaf(3)),
    "Log": lambda: ops.Log.apply(leaf(3, low=0.5)),
    "Tanh": lambda: ops.Tanh.apply(leaf(3)),
    "Sigmoid": lambda: ops.Sigmoid.apply(leaf(3)),
    "ReLU": lambda: ops.ReLU.apply(leaf(3)),
    "LogSoftmax": lambda: ops.LogSoftmax.apply(leaf(2, 5), axis=0),
    "MatMul": lambda: ops.MatMul.apply(leaf(2, 3, 4), leaf(4, 5, seed=1)),
    "Sum": lambda: ops.Sum.apply(leaf(2, 3), axis=1, keepdims=True),
    "Max": lambda: ops.Max.apply(leaf(2, 3), axis=0),
    "Reshape": lambda: ops.Reshape.apply(leaf(2, 3), shape=(3, 2)),
    "Transpose": lambda: ops.Transpose.apply(leaf(2, 3, 4), axes=(2, 0, 1)),
    "GetItem": lambda: ops.GetItem.apply(leaf(5, 3), index=np.array([[4, 0], [4, 4]])),
    "Stack": lambda: ops.Stack.apply(leaf(2, 3), leaf(2, 3, seed=1), axis=1),
    "Concatenate": lambda: ops.Concatenate.apply(leaf(2, 3), leaf(2, 1, seed=1), axis=1),
    "Unbind": lambda: ops.Unbind.apply(leaf(3, 2), axis=0),
    "Split": lambda: ops.Split.apply(leaf(3, 6), sizes=[1, 2, 3], axis=1),
    "TanhAddMatMul": lambda: ops.TanhAddMatMul.apply(leaf(4), leaf(3, 5, seed=1), leaf(5, 4, seed=2)),
    "CrossEntropy": lambda: ops.CrossEntropy.apply(leaf(4, 3), targets=np.array([0, 2, 2, 1])),
    "Dropout": lambda: ops.Dropout.apply(leaf(4, 3), p=0.5, rng=np.random.default_rng(0)),
}


class StandIn:
    """All a backward may know of an input: its shape."""

    def __init__(self, shape):
        self.shape = shape


def as_arrays(grads):
    grads = grads if isinstance(grads, tuple) else (grads,)
    return [g.evaluate() if isinstance(g, Deferred) else g for g in grads]


def test_every_op_is_covered():
    functions = {name for name, obj in inspect.getmembers(ops, inspect.isclass)
                 if issubclass(obj, Function)}
    assert functions == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_backward_needs_only_shapes_of_its_inputs(name):
    out = CASES[name]()
    outs = out if isinstance(out, tuple) else (out,)
    ctx = outs[0]._ctx
    grads = [rand(*o.shape, seed=9 + k) for k, o in enumerate(outs)]
    with_tensors = as_arrays(type(ctx).backward(ctx, *grads))
    ctx.parents = tuple(StandIn(p.shape) if isinstance(p, Tensor) else p for p in ctx.parents)
    with_stand_ins = as_arrays(type(ctx).backward(ctx, *grads))
    assert len(with_tensors) == len(with_stand_ins) == len(ctx.parents)
    for p, a, b in zip(ctx.parents, with_tensors, with_stand_ins):
        assert a is not None and a.shape == p.shape
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", [
    lambda w: (leaf(2, 3, 4) @ w).sum(),
    lambda w: w[np.array([0, 3, 3])].sum(),
    lambda w: ops.TanhAddMatMul.apply(leaf(4, 4), leaf(4, 4, seed=1), w).sum()])
def test_deferred_terms_equal_for_leaves_and_non_leaves(make):
    """The same weight gradient whether the weight is a leaf (terms summed at the end) or made by
    another op (terms evaluated at once by the walk)."""
    w = leaf(4, 4, seed=5)
    make(w).backward()
    w2 = leaf(4, 4, seed=5)
    through = w2 * 1.0
    through.retain_grad()
    make(through).backward()
    np.testing.assert_allclose(through.grad, w.grad, rtol=1e-14)
    np.testing.assert_allclose(w2.grad, w.grad, rtol=1e-14)
