"""02: write your own op as a Function, and let gradcheck catch a wrong backward.

A Function has a forward and a backward on numpy arrays. Here: softplus(x) = log(1 + e^x),
computed in the overflow-free form max(x, 0) + log(1 + e^-|x|). Its derivative is the sigmoid,
1 / (1 + e^-x). `gradcheck` compares what backward returns with central finite differences,
(f(x + eps) - f(x - eps)) / 2 eps, element by element, in float64.

The wrong version differentiates the stable formula piece by piece and forgets the chain-rule
factor d(-|x|)/dx = -sign(x). For x < 0 that factor is +1, so the mistake is invisible there;
for x > 0 it flips a sign. What to look at: the GradcheckError names input 0, element (2,),
the first positive entry of x, with the analytic and numeric values side by side. A test that
only tried negative inputs would have passed.

Run:  python examples/02_custom_function.py
"""
import numpy as np

from tinygrad_rnn import Function, GradcheckError, Tensor, gradcheck


def stable_softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


class Softplus(Function):
    """y = log(1 + e^x);  dL/dx = g * sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return stable_softplus(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (1 + np.exp(-x))


class WrongSoftplus(Softplus):
    """The same forward; a backward that drops the -sign(x) of d(-|x|)/dx."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        e = np.exp(-np.abs(x))
        return g * ((x > 0) + e / (1 + e))  # should be (x > 0) - sign(x) * e / (1 + e)


def softplus(x):
    return Softplus.apply(x)


def wrong_softplus(x):
    return WrongSoftplus.apply(x)


x = Tensor(np.array([-1.5, -0.3, 0.7, 2.0]), requires_grad=True)  # float64, as gradcheck needs
print(f"x = {x.data}")
print(f"softplus(x) = {np.round(softplus(x).data, 6)}")
print(f"gradcheck(softplus, x): {gradcheck(softplus, x)}\n")

try:
    gradcheck(wrong_softplus, x)
except GradcheckError as err:
    print(f"gradcheck(wrong_softplus, x) raised GradcheckError:\n  {err}\n")

right = np.round(1 / (1 + np.exp(-x.data)), 4)
out = wrong_softplus(x)
out.backward(np.ones(4))
print(f"sigmoid(x), the true derivative: {right}")
print(f"the wrong backward's:            {np.round(x.grad, 4)}   (wrong exactly where x > 0)")
