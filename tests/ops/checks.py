"""The oracle every op test uses: forward against numpy, gradients against float64 central
differences (tinygrad_rnn.gradcheck), and a fused op's values and gradients against its twin's."""
import numpy as np

from tinygrad_rnn import Tensor, gradcheck


def check(op, np_op, *arrays, **kw):
    """Forward equals numpy's, and the gradient of every input equals finite differences."""
    ts = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    np.testing.assert_allclose(op(*ts).data, np_op(*arrays), rtol=1e-12, atol=1e-12)
    assert gradcheck(op, ts, **kw)


def value_and_grads(fn, arrays):
    """fn's output and the gradients of its sum with respect to each input."""
    ts = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.sum().backward()
    return out.data, [t.grad for t in ts]
