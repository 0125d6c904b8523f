"""The engine: `Function` (one recorded operation) and the backward walk.

A forward call `SomeOp.apply(a, b)` runs `SomeOp.forward` on numpy arrays and, when any input
requires grad, keeps the `Function` instance as the output's `_ctx`: it remembers its input
tensors (`parents`) and whatever `forward` saved. The recorded graph is therefore a DAG of
Function nodes hanging off the output tensor.

`backward` walks that DAG once, from the output towards the leaves. A node may only run its own
`backward` once every node that consumed its outputs has sent its share of the gradient, because
the chain rule sums over all paths:  dL/dx = sum over consumers c of (dc/dx)^T dL/dc.
So the walk first counts, for every node, how many edges lead into it from below, then pops nodes
whose count has reached zero (the scheme of HIPS autograd). No recursion: a chain of a million
ops walks as easily as a chain of ten.
"""
import numpy as np

from . import anomaly
from .grad_mode import _GradMode

_ndarray = np.ndarray  # the common case, tested first: a type check is cheaper
_RELEASED = type("Released", (tuple,), {})()  # saved_tensors once backward freed them


_tracer = None  # jit: while a trace records, it hears of every op, walk step and item() (jit.py)
_memo = None  # the scratch space of the walk in progress (walk_memo)


def walk_memo():
    """A dict that lives as long as the backward walk in progress, None outside one.

    For what a backward may reuse across the nodes of one walk but never beyond it: a contiguous
    copy of a weight's transpose, made once for the T steps of a recurrence (ops.matmul.
    transposed). Within a walk the parameters do not change; the optimizer runs after it.
    """
    return _memo


class WalkScope:
    """`with WalkScope():` gives the code inside a fresh walk_memo (a jit replay's walk uses it)."""

    def __enter__(self):
        global _memo
        self.outer, _memo = _memo, {}

    def __exit__(self, *exc):
        global _memo
        _memo = self.outer


class Function:
    """Base class of every differentiable operation, built-in or user-written.

    Subclasses define two static methods on numpy arrays, as in `torch.autograd.Function`:

        forward(ctx, *inputs, **options) -> array, or a tuple of arrays for several outputs
        backward(ctx, *grad_outputs)     -> one gradient per positional input of forward

    Tensor arguments of `apply` reach `forward` as their numpy arrays; other arguments (axes,
    shapes, index arrays) pass through unchanged. `forward` keeps what `backward` needs with
    `ctx.save_for_backward(...)` (released after backward unless `retain_graph=True`), and may
    store small metadata as named attributes (`ctx.axis`, `ctx.shape`). `ctx.needs_input_grad[i]`
    tells whether input i wants a gradient, so backward can skip work nobody asked for. A
    multi-output op receives one gradient per output; outputs nobody used get zeros.

    What backward may return for each input:
      - an array of the input's shape, or None when `needs_input_grad[i]` is False;
      - a `Deferred` term (see below) that evaluates to that array, when summing many such terms
        at once is cheaper than one by one. The op always returns it where it has one; the walk
        decides what happens to it: evaluated at once if the input is made by another op,
        merged with the input's other terms and evaluated once at the end if it is a leaf.

    What backward may read: `ctx.saved_tensors`, the attributes forward set, `ctx.needs_input_grad`,
    the incoming gradients, and the shapes of its inputs, `ctx.parents[i].shape`. Nothing else
    of `ctx.parents` (not their data, not whether they are leaves): backward must give the same
    result when the walk, or a replay of the step, hands it stand-ins that have only a shape.

    After a backward without `retain_graph=True` the node's `released` is True: its saved arrays
    and inputs are gone, and a second backward through it raises.
    """

    # Defaults, replaced on the instance when they change. `parents` and `needs_input_grad` are
    # set by apply() on every recorded node.
    saved_tensors = ()
    retained = None  # {output index: weakref to tensor} for retain_grad() and hooks
    out_specs = None  # [(shape, dtype)] of each output, kept only for multi-output ops
    # jit's memory plan (replay.py). takes_out names the methods that may write their result
    # into `out`, an array of its shape and dtype, and return it either way: forward(ctx, *inputs,
    # out=None) its single output, backward(ctx, *grads, out=None) its first input's gradient.
    # stacks: "inputs" ("grads") if forward (backward) stacks those along a new axis 0 by
    # ops.shape.join, when the op's `axis` option is 0.
    takes_out = ()
    stacks = None

    @property
    def released(self):
        """True once a backward without `retain_graph=True` freed the saved arrays and inputs."""
        return self.saved_tensors is _RELEASED

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    @staticmethod
    def forward(ctx, *inputs, **options):
        raise NotImplementedError("a Function subclass must define forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a Function subclass must define backward(ctx, *grad_outputs)")

    @classmethod
    def apply(cls, *args, **options):
        """Run `forward` on the arrays of the tensor arguments; return the output tensor(s).

        The node is recorded (kept as the outputs' `_ctx`) only when grad mode is on and some
        input requires grad: otherwise the outputs are plain tensors, and the node is dropped.
        A ValueError from forward (numpy's shape errors) is raised again naming the op and the
        input shapes, with the original as its cause.
        """
        Tensor = _tensor.Tensor
        ctx = cls.__new__(cls)
        arrays, needs, record = [], [], False
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                needs.append(a.requires_grad)
                record = record or a.requires_grad
            else:
                arrays.append(a)
                needs.append(False)
        try:
            out = cls.forward(ctx, *arrays, **options)
        except ValueError as err:  # numpy's shape errors, reworded to name the op and the shapes
            shapes = ", ".join(str(a.shape) for a in arrays if isinstance(a, np.ndarray))
            raise ValueError(f"{cls.__name__}: {err} (input shapes: {shapes})") from err

        if record and _GradMode.enabled:
            ctx.parents = args
            ctx.needs_input_grad = tuple(needs)
        else:
            ctx = None
        if anomaly._Mode.enabled:
            site = anomaly.creation_site()
            if ctx is not None:
                ctx.created_at = site
            anomaly.check_forward(cls.__name__, out, arrays, site)
        wrap = _tensor._wrap
        if type(out) is tuple:
            if ctx is not None:
                ctx.out_specs = [(o.shape, o.dtype) for o in out]
            result = tuple([wrap(o, ctx, i) for i, o in enumerate(out)])
        else:
            result = wrap(out, ctx, 0)
        if _tracer is not None:  # jit hook
            _tracer.on_apply(cls, args, options, ctx, result)
        return result

    def __repr__(self):
        return f"<{type(self).__name__}>"


class Deferred:
    """A gradient term whose evaluation can wait, to be batched with others like it.

    A weight used at every time step receives T gradient terms. Summing T small products one by
    one is slow; a backward may instead return a Deferred term, and the walk, the one place that
    knows which inputs are leaves, decides: for a leaf it merges the terms (`merge`) and
    evaluates them once, at the end (`evaluate`); for any other input it evaluates the term at
    once, since the op that made the input needs an array. See ops.MatMulWeightGrad: T outer
    products become one GEMM. Under `detect_anomaly()` every term is evaluated at once, so that
    a non-finite one is blamed on the op that made it.
    """

    def merge(self, other):
        """Absorb `other` (same type) and return True, or return False if it cannot."""
        return False

    def evaluate(self):
        raise NotImplementedError

    def joins(self):
        """The lists of arrays `evaluate` joins along axis 0 (ops.shape.join), for jit's plan."""
        return ()


def backward(root, grad, retain_graph=False):
    """Send `grad` (dL/droot) backwards through the graph that produced `root`.

    Leaves that require grad receive their total gradient added into `.grad`; so do non-leaf
    tensors on which `retain_grad()` was called. Hooks registered with `register_hook` see (and may
    replace) a tensor's gradient before it is used.
    """
    tracer = _tracer  # jit hook: told of the walk's start, each node, and its end
    if tracer is not None:
        tracer.on_backward(root, grad, retain_graph)
    with WalkScope():
        _walk(root, grad, retain_graph, tracer)
    if tracer is not None:  # jit hook
        tracer.on_backward_end()


def _walk(root, grad, retain_graph, tracer):
    top = root._ctx
    if top is None:  # a leaf: its gradient is `grad` itself
        accumulate_leaf(root, grad, owned=False)
        return

    # Pass 1: count the edges into every node that the root depends on.
    pending = {top: 0}
    stack = [top]
    while stack:
        node = stack.pop()
        for parent, needed in zip(node.parents, node.needs_input_grad):
            if needed and parent._ctx is not None:
                child = parent._ctx
                if child in pending:
                    pending[child] += 1
                else:
                    pending[child] = 1
                    stack.append(child)

    # Pass 2: run each node's backward once all of its outputs' gradients have arrived.
    out_grads = {top: [None] * _n_outputs(top)}
    out_grads[top][root._index] = grad
    leaf_grads = {}  # id(leaf) -> [leaf, summed gradient, whether we own that array]
    ready = [top]
    while ready:
        node = ready.pop()
        if node.saved_tensors is _RELEASED:
            raise RuntimeError(
                f"backward through {type(node).__name__} a second time: its saved values were "
                "freed by the first backward. Pass retain_graph=True to the first call to keep them.")
        grads = out_grads.pop(node)
        if node.retained is not None:
            _visit_retained(node, grads)
        if node.out_specs is not None:  # several outputs: those nobody used get zeros
            grads = [np.zeros(*spec) if g is None else g for g, spec in zip(grads, node.out_specs)]
        if grads[0] is None:  # every consumer sent None: nothing flows through this node
            in_grads = (None,) * len(node.parents)
        else:
            in_grads = node.backward(node, *grads)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if anomaly._Mode.enabled:  # deferred terms too: the op that made one is named
                in_grads = tuple([g.evaluate() if isinstance(g, Deferred) else g for g in in_grads])
                anomaly.check_backward(node, in_grads)
        if tracer is not None:  # jit hook
            tracer.on_node(node, grads, in_grads)

        for parent, needed, g in zip(node.parents, node.needs_input_grad, in_grads):
            if not needed:
                continue
            child = parent._ctx
            if child is None:  # a leaf: sum its terms, fill .grad at the end
                if g is not None:
                    entry = leaf_grads.get(id(parent))
                    if entry is None:
                        leaf_grads[id(parent)] = [parent, g, False]
                    else:
                        entry[1] = add_terms(entry[1], g, entry[2])
                        entry[2] = True
                continue
            slots = out_grads.get(child)
            if slots is None:
                slots = out_grads[child] = [None] * _n_outputs(child)
            if g is not None:
                if type(g) is not _ndarray and isinstance(g, Deferred):  # only a leaf keeps terms
                    g = g.evaluate()
                i = parent._index
                slots[i] = g if slots[i] is None else slots[i] + g  # new array: g may be a view
            left = pending[child] - 1
            pending[child] = left
            if not left:
                ready.append(child)
        if not retain_graph:  # release saved arrays and inputs: only the graph's outline remains
            node.saved_tensors = _RELEASED
            node.parents = node.needs_input_grad = ()

    for leaf, g, owned in leaf_grads.values():
        accumulate_leaf(leaf, g, owned)


def _n_outputs(node):
    return 1 if node.out_specs is None else len(node.out_specs)


def add_terms(total, g, owned):
    """total + g for a leaf's gradient terms, either of which may be Deferred (`owned`: total is
    an array nobody else holds, so it may be added into). Shared with jit's replay, which must
    sum exactly as the walk does."""
    if isinstance(total, Deferred):
        if type(g) is type(total) and total.merge(g):
            return total
        total, owned = total.evaluate(), True
    if isinstance(g, Deferred):
        g = g.evaluate()
    if owned:
        total += g
        return total
    return total + g


def _visit_retained(node, grads):
    """Run hooks and keep `.grad` for outputs of `node` that asked for it (retain_grad/hooks)."""
    for i, ref in node.retained.items():
        tensor = ref()
        if tensor is None or grads[i] is None:
            continue
        for hook in tensor._hooks or ():
            new = hook(grads[i])
            if new is not None:
                grads[i] = np.asarray(new, dtype=tensor.dtype)
        if tensor._retains_grad:
            tensor.grad = grads[i].copy() if tensor.grad is None else tensor.grad + grads[i]


def accumulate_leaf(leaf, g, owned):
    """Add a leaf's total gradient g into `leaf.grad`, after its hooks (shared with jit's replay)."""
    if isinstance(g, Deferred):
        g, owned = g.evaluate(), True
    if g.dtype != leaf.dtype:
        g, owned = g.astype(leaf.dtype), True
    for hook in leaf._hooks or ():
        new = hook(g)
        if new is not None:
            g, owned = np.asarray(new, dtype=leaf.dtype), False
    if leaf.grad is None:
        leaf.grad = g if owned else g.copy()  # never alias an array someone else holds
    else:
        leaf.grad += g


from . import tensor as _tensor  # noqa: E402  (tensor.py imports this module first)
