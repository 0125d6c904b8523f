"""The matrix product, and the deferred term that sums a weight's gradients in one GEMM."""
import numpy as np

from ..autograd import Deferred, Function, walk_memo
from .elementwise import unbroadcast
from .shape import join


class MatMul(Function):
    """y = a @ b with numpy's rules (1-D operands, batched stacks of matrices).

    For matrices, y_ij = sum_k a_ik b_kj, so dL/da = g @ b^T and dL/db = a^T @ g. A 1-D operand
    is treated as a row (left) or column (right) and the added axis removed again; batch axes that
    broadcasting added are summed away.
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        if b.ndim == 2:  # a's rows (under any leading axes) times one matrix: the common case
            if g.ndim > 2:
                # g's rows as one matrix (copied once, when g is a transposed view): matmul on a
                # stack runs one small GEMM per leading index, at half the speed of one large one
                g = _rows(g)
                ga = (g @ transposed(b)).reshape(a.shape) if need_a else None
            else:
                ga = g @ transposed(b) if need_a else None
            return ga, MatMulWeightGrad(a, g) if need_b else None
        a_shape, b_shape = a.shape, b.shape
        if b.ndim == 1:
            b, g = b[:, None], g[..., None]
        if a.ndim == 1:
            a, g = a[None, :], g[..., None, :]
        ga = unbroadcast(g @ np.swapaxes(b, -1, -2), a.shape).reshape(a_shape) if need_a else None
        gb = unbroadcast(np.swapaxes(a, -1, -2) @ g, b.shape).reshape(b_shape) if need_b else None
        return ga, gb


def transposed(W):
    """W^T, for the product g W^T of a backward: W.T itself (a view) the first time a walk asks
    for this W, a contiguous copy from the second time on, reused until the walk ends.

    A recurrence multiplies by the same W^T at every step, and BLAS multiplies by a transposed
    view on a slower path: about a third slower for (32, 256) @ (256, 256)^T in float32. The
    copy (about two products' worth of time) pays from the third use on, and a weight used once
    is never copied. Outside a walk (autograd.walk_memo is None) it is always the view.
    """
    memo = walk_memo()
    if memo is None:
        return W.T
    key = id(W)  # the memo holds W, so no other array can take its id while the walk runs
    seen = memo.get(key)
    if seen is None:
        memo[key] = (W, None)
        return W.T
    if seen[1] is None:
        seen = memo[key] = (W, np.ascontiguousarray(W.T))
    return seen[1]


def _rows(x):
    """x (..., n) as the matrix of its rows (a view when x is contiguous, else a copy)."""
    return x.reshape(-1, x.shape[-1])


class MatMulWeightGrad(Deferred):
    """dL/dW = a^T @ g for y = a @ W with W 2-D (a's batch axes become more rows), unevaluated.

    A weight used at T time steps gets T such terms. Stacking their rows,
    sum_t a_t^T g_t = [a_1; ...; a_T]^T [g_1; ...; g_T], one large GEMM instead of T small ones
    and T additions of full-size matrices. (The walk evaluates the term at once when W is not a
    leaf.)
    """

    def __init__(self, a, g):
        # batch axes become more rows (a and g may differ in rank: g's rows may be made already)
        self.a = [a if a.ndim == 2 else _rows(a)]
        self.g = [g if g.ndim == 2 else _rows(g)]

    def merge(self, other):
        self.a += other.a
        self.g += other.g
        return True

    def evaluate(self):
        a, g = self.a, self.g
        if len(a) == 1:
            return a[0].T @ g[0]
        # The walk meets the terms last step first. Joined in the order the forward made them,
        # the rows are where a jit replay's memory plan put them: views, not copies (shape.join).
        return join(a[::-1]).T @ join(g[::-1])

    def joins(self):
        return self.a[::-1], self.g[::-1]
