"""Tensor: a numpy array, its gradient, and a link to the Function that made it.

Every operator and method here is a call into the ops package (tinygrad_rnn/ops/); the Tensor
itself holds no math.
"""
import weakref

import numpy as np

from . import ops
from . import autograd as _autograd
from .autograd import backward as _backward


class Tensor:
    """A numpy array that records the operations applied to it, as `torch.Tensor` does.

    `data` is the array (wrapped without a copy). `grad` is None until a backward pass reaches
    this tensor, then an array of the same shape holding dL/d(this), summed over backward calls
    until `zero_grad()`. Only floating-point tensors can require grad.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_index", "_retains_grad", "_hooks",
                 "__weakref__")
    __array_priority__ = 1000  # so that `ndarray + Tensor` calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = np.asarray(data, dtype=dtype)
        if requires_grad and not np.issubdtype(self.data.dtype, np.floating):
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx = None
        self._index = 0
        self._retains_grad = False
        self._hooks = None

    # --- what it is ---------------------------------------------------------------------------

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    grad_fn = property(lambda self: self._ctx, doc="the Function that produced this tensor")
    is_leaf = property(lambda self: self._ctx is None)
    T = property(lambda self: self.transpose())

    def numel(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def numpy(self):
        return self.data

    def item(self):
        value = self.data.item()
        if _autograd._tracer is not None:  # jit hook: a returned number came from this tensor
            _autograd._tracer.on_item(self, value)
        return value

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        extra = f", dtype={self.dtype}" if self.dtype != np.float64 else ""
        if self._ctx is not None:
            extra += f", grad_fn={type(self._ctx).__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        if self.grad is not None:
            extra += ", grad=" + np.array2string(self.grad, precision=4, separator=", ")
        return f"Tensor({body}{extra})"

    # --- gradients ----------------------------------------------------------------------------

    def backward(self, grad=None, retain_graph=False):
        """Compute dself/dx for every leaf x that requires grad, adding it into `x.grad`.

        A scalar's gradient defaults to 1. For a non-scalar, pass `grad`: the gradient of some
        scalar L with respect to this tensor, so that the leaves receive dL/dx.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() called on a tensor that does not require grad: no graph "
                               "was recorded for it (no input had requires_grad=True, or it was "
                               "made under no_grad() or by detach())")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() needs a grad argument for a non-scalar tensor of shape "
                                   f"{self.shape}: pass the gradient of your scalar loss with respect to it")
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward(): grad has shape {grad.shape} but the tensor has shape {self.shape}")
        _backward(self, grad, retain_graph)

    def zero_grad(self):
        """Forget the accumulated gradient (`grad = None`, as PyTorch's `set_to_none`)."""
        self.grad = None

    def detach(self):
        """The same data, cut from the graph: gradients do not flow back through it."""
        return Tensor(self.data)

    def retain_grad(self):
        """Keep `.grad` on this non-leaf tensor after backward (leaves always keep theirs)."""
        if self._ctx is not None:
            self._retains_grad = True
            self._watch()

    def register_hook(self, hook):
        """Call `hook(grad)` when this tensor's gradient is computed; a non-None return replaces it.

        Returns a handle whose `remove()` unregisters the hook.
        """
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        if self._ctx is not None:
            self._watch()
        return _HookHandle(self._hooks, hook)

    def _watch(self):
        ctx = self._ctx
        if ctx.retained is None:
            ctx.retained = {}
        ctx.retained[self._index] = weakref.ref(self)

    # --- arithmetic (numbers and arrays mix in on either side) ---------------------------------

    @staticmethod
    def _operand(x):
        """The other operand of an operator: a Tensor stays one; a Python number or an array
        becomes a constant, which the op sees as it is (a number takes the tensor's dtype, as in
        numpy) and which gets no gradient."""
        return x if isinstance(x, (Tensor, int, float)) else np.asarray(x)

    def __add__(self, x): return ops.Add.apply(self, self._operand(x))
    def __radd__(self, x): return ops.Add.apply(self._operand(x), self)
    def __sub__(self, x): return ops.Sub.apply(self, self._operand(x))
    def __rsub__(self, x): return ops.Sub.apply(self._operand(x), self)
    def __mul__(self, x): return ops.Mul.apply(self, self._operand(x))
    def __rmul__(self, x): return ops.Mul.apply(self._operand(x), self)
    def __truediv__(self, x): return ops.Div.apply(self, self._operand(x))
    def __rtruediv__(self, x): return ops.Div.apply(self._operand(x), self)
    def __matmul__(self, x): return ops.MatMul.apply(self, self._operand(x))
    def __rmatmul__(self, x): return ops.MatMul.apply(self._operand(x), self)
    def __neg__(self): return ops.Neg.apply(self)

    def __pow__(self, p):
        if not isinstance(p, (int, float)):
            raise TypeError(f"Tensor ** only takes a Python number as exponent, got {type(p).__name__}")
        return ops.Pow.apply(self, p=p)

    # --- elementwise functions ----------------------------------------------------------------

    def exp(self): return ops.Exp.apply(self)
    def log(self): return ops.Log.apply(self)
    def tanh(self): return ops.Tanh.apply(self)
    def sigmoid(self): return ops.Sigmoid.apply(self)
    def relu(self): return ops.ReLU.apply(self)
    def sqrt(self): return self ** 0.5

    def log_softmax(self, axis=-1):
        return ops.LogSoftmax.apply(self, axis=axis)

    def softmax(self, axis=-1):
        """exp(log_softmax): the stable route, and its gradient follows from the two ops."""
        return self.log_softmax(axis).exp()

    # --- reductions ---------------------------------------------------------------------------

    def sum(self, axis=None, keepdims=False):
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        count = self.data.size if axis is None else np.prod([self.shape[a] for a in np.atleast_1d(axis)])
        return self.sum(axis, keepdims) * (1.0 / count)

    def max(self, axis=None, keepdims=False):
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    # --- shape and indexing -------------------------------------------------------------------

    def reshape(self, *shape):
        """`t.reshape(4, 6)` or `t.reshape((4, 6))`; one size may be -1."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.Reshape.apply(self, shape=shape)

    def transpose(self, *axes):
        """Reverse the axes, or permute them as given: `t.transpose(1, 0, 2)`."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.Transpose.apply(self, axes=axes or None)

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple([i.data if isinstance(i, Tensor) else i for i in index])
        return ops.GetItem.apply(self, index=index)

    def unbind(self, axis=0):
        """The slices along `axis` as a tuple of tensors (`torch.unbind`)."""
        return ops.Unbind.apply(self, axis=axis)

    def split(self, split_size_or_sections, axis=-1):
        """Consecutive parts along `axis` (`torch.split`): an int gives parts of that length
        (the last one shorter if the length does not divide), a list gives each part's length."""
        length = self._axis_length(axis, "split")
        if isinstance(split_size_or_sections, (int, np.integer)):
            size = int(split_size_or_sections)
            if size <= 0:
                raise ValueError(f"split: split_size must be a positive integer, got {size}")
            sizes = [size] * (length // size) + ([length % size] if length % size else [])
        else:
            sizes = [int(n) for n in split_size_or_sections]
            if sum(sizes) != length or min(sizes, default=0) < 0:
                raise ValueError(f"split: sections {sizes} must be non-negative and sum to the "
                                 f"length {length} of axis {axis}")
        return ops.Split.apply(self, sizes=sizes or [0], axis=axis)

    def chunk(self, chunks, axis=-1):
        """`chunks` parts of equal length along `axis` (`torch.chunk`): each of length
        ceil(n / chunks), the last one shorter when that does not divide n (so there may be fewer
        than `chunks` parts, as in PyTorch)."""
        if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
            raise ValueError(f"chunk: chunks must be a positive integer, got {chunks!r}")
        length = self._axis_length(axis, "chunk")
        return self.split(max(1, -(-length // int(chunks))), axis)

    def _axis_length(self, axis, op):
        if not -self.ndim <= axis < self.ndim:
            raise IndexError(f"{op}: axis {axis} is out of range for a tensor of shape {self.shape}")
        return self.shape[axis]


def _wrap(array, ctx, index):
    """Make the output tensor of an op; `ctx` is its Function node, or None when not recording."""
    t = Tensor.__new__(Tensor)
    t.data = array if type(array) is np.ndarray else np.asarray(array)
    t.grad = None
    t.requires_grad = ctx is not None
    t._ctx = ctx
    t._index = index
    t._retains_grad = False
    t._hooks = None
    return t


class _HookHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _tensors(tensors):
    return [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]


def stack(tensors, axis=0):
    """Join tensors of one shape along a new axis (`torch.stack`)."""
    return ops.Stack.apply(*_tensors(tensors), axis=axis)


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis (`torch.concatenate`)."""
    return ops.Concatenate.apply(*_tensors(tensors), axis=axis)
