"""Elementwise ops: y_i depends on x_i alone (after broadcasting), so each backward is a
product of g with the derivative, summed back over broadcast axes by `unbroadcast`."""
import numpy as np

from ..autograd import Function


def unbroadcast(grad, shape):
    """Sum `grad` down to `shape`, undoing numpy broadcasting.

    If x of shape `shape` was broadcast to y's shape, every copy of x[i] contributed to L, so
    dL/dx[i] is the sum of g over the copies: over the leading axes that broadcasting added, and
    over every axis where x had length 1.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    # np.add.reduce is what ndarray.sum calls, without its Python layer (~1 µs a call)
    if grad.shape[lead:] == shape:  # only leading axes were added, as for a bias over rows
        return np.add.reduce(grad, axis=0 if lead == 1 else tuple(range(lead)))
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return np.add.reduce(grad, axis=axes).reshape(shape)


# --- arithmetic ------------------------------------------------------------------------------

class Add(Function):
    """y = a + b;  dL/da = g,  dL/db = g (each summed back over broadcast axes).

    An input that needs a gradient is a Tensor, still attached to the node as `ctx.parents`
    during backward: its shape comes from there (the other input may be a plain number).
    """

    takes_out = ("forward",)

    @staticmethod
    def forward(ctx, a, b, out=None):
        return a + b if out is None else np.add(a, b, out=out)

    @staticmethod
    def backward(ctx, g):
        (need_a, need_b), (a, b) = ctx.needs_input_grad, ctx.parents
        return (unbroadcast(g, a.shape) if need_a else None,
                unbroadcast(g, b.shape) if need_b else None)


class Sub(Function):
    """y = a - b;  dL/da = g,  dL/db = -g."""

    takes_out = ("forward",)

    @staticmethod
    def forward(ctx, a, b, out=None):
        return a - b if out is None else np.subtract(a, b, out=out)

    @staticmethod
    def backward(ctx, g):
        (need_a, need_b), (a, b) = ctx.needs_input_grad, ctx.parents
        return (unbroadcast(g, a.shape) if need_a else None,
                unbroadcast(-g, b.shape) if need_b else None)


class Mul(Function):
    """y = a * b;  dL/da = g * b,  dL/db = g * a."""

    takes_out = ("forward",)

    @staticmethod
    def forward(ctx, a, b, out=None):
        ctx.save_for_backward(a, b)
        return a * b if out is None else np.multiply(a, b, out=out)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g * b, a.shape) if need_a else None,
                unbroadcast(g * a, b.shape) if need_b else None)


class Div(Function):
    """y = a / b;  dL/da = g / b,  dL/db = -g * a / b^2."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g / b, a.shape) if need_a else None,
                unbroadcast(-g * a / (b * b), b.shape) if need_b else None)


class Neg(Function):
    """y = -a;  dL/da = -g."""

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(Function):
    """y = a ** p for a constant exponent p;  dL/da = g * p * a^(p-1)."""

    @staticmethod
    def forward(ctx, a, p):
        ctx.save_for_backward(a)
        ctx.exponent = p
        return a ** p

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        p = ctx.exponent
        return g * p * a ** (p - 1)


# --- functions of one input ------------------------------------------------------------------

class Exp(Function):
    """y = exp(a);  dL/da = g * y."""

    @staticmethod
    def forward(ctx, a):
        y = np.exp(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class Log(Function):
    """y = log(a);  dL/da = g / a."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a


class Tanh(Function):
    """y = tanh(a);  dL/da = g * (1 - y^2), from the output alone."""

    takes_out = ("forward", "backward")

    @staticmethod
    def forward(ctx, a, out=None):
        y = np.tanh(a, out=out)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g, out=None):
        (y,) = ctx.saved_tensors
        # one array, worked on in place: 1 - y^2, then times g (asarray: a 0-d result is a number)
        d = np.asarray(np.multiply(y, y, out=out))
        np.subtract(1.0, d, out=d)
        d *= g
        return d


class Sigmoid(Function):
    """y = 1 / (1 + exp(-a));  dL/da = g * y * (1 - y).

    Computed as (1 + tanh(a/2)) / 2, an identity that never overflows for large |a|.
    """

    @staticmethod
    def forward(ctx, a):
        y = np.asarray(np.multiply(a, 0.5))  # one new array, the other steps in place
        np.tanh(y, out=y)
        y += 1.0
        y *= 0.5
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        d = np.subtract(1.0, y)
        d *= y
        d *= g
        return d


class ReLU(Function):
    """y = max(a, 0);  dL/da = g where a > 0, else 0."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a > 0)
        return np.maximum(a, 0)

    @staticmethod
    def backward(ctx, g):
        (positive,) = ctx.saved_tensors
        return g * positive


def log_softmax(a, axis, out=None):
    """a - logsumexp(a) along `axis`, on arrays (into `out` if given).

    Stable: logsumexp(a) = m + log(sum(exp(a - m))) with m = max(a), so exp never overflows.
    """
    y = np.subtract(a, np.maximum.reduce(a, axis=axis, keepdims=True), out=out)
    y -= np.log(np.add.reduce(np.exp(y), axis=axis, keepdims=True))
    return y


class LogSoftmax(Function):
    """y = a - logsumexp(a) along `axis` (computed stably by `log_softmax`).

    With p = exp(y) = softmax(a), dy_i/da_j = [i == j] - p_j, hence
    dL/da = g - p * sum(g) (sums along `axis`).
    """

    takes_out = ("forward", "backward")

    @staticmethod
    def forward(ctx, a, axis=-1, out=None):
        y = log_softmax(a, axis, out)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g, out=None):
        (y,) = ctx.saved_tensors
        p_sum_g = np.exp(y, out=out)
        p_sum_g *= np.add.reduce(g, axis=ctx.axis, keepdims=True)
        return np.subtract(g, p_sum_g, out=p_sum_g)
