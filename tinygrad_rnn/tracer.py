"""What `jit` records while fn runs eagerly: ops, backward walks and `.item()` calls, as slots.

The engine calls the active tracer (`autograd._tracer`) from `Function.apply` (`on_apply`),
from the walk (`on_backward`, `on_node` after each node's backward, `on_backward_end`) and from
`Tensor.item` (`on_item`). A slot is a number for one array of the step: an argument buffer, a
parameter, a constant, an op's output, or a gradient of the walk. The events, in order, are
  ("forward", cls, input slots, options, options bound to slots, output slots, several outputs?,
   node number or None, needs_input_grad, stand-in parents)
  ("backward", node number, cls, output-gradient slots (or the (shape, dtype) of zeros), routes)
  ("accumulate", ((leaf-total slot, leaf), ...))      the end of a walk, in the walk's order
where a route (i, slot, mode) sends the gradient of input i to a slot: FIRST or ADD for another
node's output gradient, LEAF_FIRST or LEAF_ADD for a leaf's total. A leaf is the index of an
argument, or the Tensor itself. Anything the trace could not replay sets `reason` and stops it.
"""
import os
import traceback

import numpy as np

from . import anomaly
from .autograd import Deferred
from .tensor import Tensor

FIRST, ADD, LEAF_FIRST, LEAF_ADD = range(4)


class Shadow:
    """What a replayed backward sees of an input tensor: its shape."""

    __slots__ = ("shape",)

    def __init__(self, shape):
        self.shape = shape


class _Walk:
    def __init__(self):
        self.grads = {}   # (node, output index) -> slot of the gradient summed so far
        self.leaves = {}  # id(leaf) -> slot of its total
        self.order = []   # (slot, leaf) in the order the walk first saw each leaf
        self.deferred = []  # the first term of each leaf's total that is Deferred (merges extend it)


class Tracer:
    def __init__(self, arguments):
        self.values, self.kinds = [], []  # per slot: the trace-time array; arg/param/const/op/grad
        self.by_tensor, self.by_array = {}, {}  # id -> slot (the objects are kept in `keep`)
        self.keep, self.events, self.items = [], [], {}
        self.params = []  # (slot, Tensor) of the leaves read by closure
        self.arg_slots, self.arg_of = [], {}  # argument index -> slot; id(stand-in) -> index
        self.nodes = {}  # id(node) -> node number
        self.walk, self.reason, self.walked = None, None, False
        self.made = {}  # id(gradient array) -> the slot it was first routed to (by its maker)
        self.joins = []  # slots that a Deferred term's evaluate joins (None: an array of no slot)
        for i, a in enumerate(arguments):
            array = a.data if isinstance(a, Tensor) else a
            s = self._new("arg", array)
            self.by_array[id(array)] = s
            self.arg_slots.append(s)
            if isinstance(a, Tensor):
                self.by_tensor[id(a)], self.arg_of[id(a)] = s, i
            self.keep.append(a)

    def stop(self, reason):
        if self.reason is None:
            self.reason, self.walk = reason, None

    def _new(self, kind, value):
        self.values.append(value)
        self.kinds.append(kind)
        return len(self.values) - 1

    def tensor_slot(self, t):
        s = self.by_tensor.get(id(t))
        if s is not None:
            return s
        s = self.by_array.get(id(t.data))
        if s is None:  # reached by closure: read at replay time
            s = self._new("param", t.data)
            self.params.append((s, t))
            self.by_array[id(t.data)] = s
        elif t.requires_grad and t._ctx is None:
            self.stop("a leaf that requires grad is made inside fn over a traced array")
        self.by_tensor[id(t)] = s
        self.keep.append(t)
        return s

    def array_slot(self, a):
        s = self.by_array.get(id(a))
        return self._new("const", a) if s is None else s

    def _binding(self, v):
        """A slot for an option that is an op's output (or a tuple holding some), else None."""
        if isinstance(v, np.ndarray):
            s = self.by_array.get(id(v))
            return s if s is not None and self.kinds[s] == "op" else None
        if type(v) is tuple and any(self._binding(x) is not None for x in v):
            return tuple([(True, self._binding(x)) if self._binding(x) is not None else (False, x)
                          for x in v])
        return None

    def on_apply(self, cls, args, options, ctx, result):
        if self.reason is not None:
            return
        if self.walk is not None:
            return self.stop(f"{cls.__name__} ran inside a backward")
        if anomaly._Mode.enabled:
            return self.stop("detect_anomaly() is on inside fn")
        ins = tuple([self.tensor_slot(a) if isinstance(a, Tensor) else
                     self.array_slot(a) if isinstance(a, np.ndarray) else self._new("const", a)
                     for a in args])
        bound = {k: self._binding(v) for k, v in options.items()}
        bound = {k: b for k, b in bound.items() if b is not None}
        multi = type(result) is tuple
        outs = []
        for t in result if multi else (result,):
            s = self._new("op", t.data)
            self.by_tensor[id(t)] = self.by_array[id(t.data)] = s
            self.keep.append(t)
            outs.append(s)
        node = needs = parents = None
        if ctx is not None:
            node = self.nodes[id(ctx)] = len(self.nodes)
            self.keep.append(ctx)
            needs = ctx.needs_input_grad
            parents = tuple([Shadow(a.shape) if isinstance(a, Tensor) else a for a in args])
        self.events.append(("forward", cls, ins, options, bound, tuple(outs), multi, node, needs,
                            parents))

    def on_item(self, t, value):
        if self.reason is None:
            self.items[id(value)] = self.tensor_slot(t)
            self.keep.append(value)

    def leaf(self, t):
        """Where a leaf's gradient goes at replay: an argument's index, or the Tensor itself."""
        if id(t) in self.arg_of:
            return self.arg_of[id(t)]
        s = self.tensor_slot(t)
        if self.kinds[s] != "param":
            self.stop("a leaf that requires grad is made inside fn over a traced array")
        return t

    def on_backward(self, root, grad, retain_graph):
        if self.reason is not None:
            return
        if retain_graph:
            return self.stop("backward(retain_graph=True)")
        if anomaly._Mode.enabled:
            return self.stop("detect_anomaly() is on inside fn")
        self.walked = True
        seed = self.array_slot(grad)
        if root._ctx is None:  # the walk adds grad into the leaf and ends
            self.events.append(("accumulate", ((seed, self.leaf(root)),)))
            return
        node = self.nodes.get(id(root._ctx))
        if node is None:
            return self.stop("backward() of a tensor computed outside fn")
        self.walk = _Walk()
        self.walk.grads[node, root._index] = seed

    def on_node(self, node_obj, grads, in_grads):
        walk = self.walk
        if walk is None:
            return
        if node_obj.retained is not None:
            return self.stop("retain_grad() or register_hook() on a tensor made inside fn")
        if grads[0] is None:  # nothing flows through this node: no step
            return
        node = self.nodes.get(id(node_obj))
        if node is None:
            return self.stop("the backward reaches ops made outside fn")
        specs = node_obj.out_specs or (None,)
        grad_slots = tuple([walk.grads.pop((node, i), spec) for i, spec in enumerate(specs)])
        routes = []
        for i, (parent, needed, g) in enumerate(zip(node_obj.parents, node_obj.needs_input_grad,
                                                    in_grads)):
            if not needed or g is None:
                continue
            if parent._ctx is None:
                leaf = self.leaf(parent)
                s = walk.leaves.get(id(parent))
                mode = LEAF_ADD if s is not None else LEAF_FIRST
                if s is None:
                    s = walk.leaves[id(parent)] = self._new("grad", None)
                    walk.order.append((s, leaf))
                    if isinstance(g, Deferred):
                        walk.deferred.append(g)
            else:
                child = self.nodes.get(id(parent._ctx))
                if child is None:
                    return self.stop("the backward reaches ops made outside fn")
                s = walk.grads.get((child, parent._index))
                mode = ADD if s is not None else FIRST
                if s is None:
                    # its value: the first term, whose shape and dtype the memory plan reads
                    s = walk.grads[child, parent._index] = self._new("grad", g)
                    self.made.setdefault(id(g), s)
            routes.append((i, s, mode))
        self.events.append(("backward", node, type(node_obj), grad_slots, tuple(routes)))

    def on_backward_end(self):
        if self.walk is not None:
            self.events.append(("accumulate", tuple(self.walk.order)))
            for term in self.walk.deferred:
                self.joins += [tuple([self.made.get(id(a), self.by_array.get(id(a)))
                                      for a in arrays]) for arrays in term.joins()]
            self.walk = None

    def output_spec(self, obj):
        """How to rebuild fn's return value from the slots (see replay.build_outputs)."""
        if isinstance(obj, (tuple, list)):
            return (type(obj), [self.output_spec(x) for x in obj])
        if isinstance(obj, Tensor):
            if obj.requires_grad and not self.walked:
                self.stop("fn returns a tensor that requires grad but calls no backward(); "
                          "a replay returns tensors without a graph")
            s = self.by_tensor.get(id(obj), self.by_array.get(id(obj.data)))
            return ("object", obj) if s is None else ("tensor", s, self._shares_argument(s))
        if isinstance(obj, np.ndarray):
            s = self.by_array.get(id(obj))
            if s is None:
                self.stop("fn returns an array not made by an op (it would be frozen)")
                return ("object", obj)
            return ("array", s, self._shares_argument(s))
        if isinstance(obj, (int, float)) and not isinstance(obj, bool):
            s = self.items.get(id(obj))
            if s is None:
                self.stop(f"fn returns the number {obj!r}, not made by Tensor.item() (it would "
                          "be frozen)")
            return ("item", s)
        if obj is not None and not isinstance(obj, str):
            self.stop(f"fn returns a {type(obj).__name__}, which a replay cannot rebuild")
        return ("object", obj)

    def _shares_argument(self, s):
        """Whether a returned array may be a view of an array the trace keeps (an argument
        buffer the next call overwrites, a constant): then each call returns a copy."""
        return any(np.may_share_memory(self.values[s], v) for v, k in zip(self.values, self.kinds)
                   if k in ("arg", "const") and isinstance(v, np.ndarray))


class Recorder:
    """check=True: the ops of an eager run, with their outputs and where fn made them."""

    def __init__(self):
        self.ops = []

    def on_apply(self, cls, args, options, ctx, result):
        outs = tuple([t.data for t in result]) if type(result) is tuple else (result.data,)
        self.ops.append((cls, outs, _site()))

    def on_item(self, t, value):
        pass

    def on_backward(self, root, grad, retain_graph):
        pass

    def on_node(self, node, grads, in_grads):
        pass

    def on_backward_end(self):
        pass


def _site():
    """'file:line' of the innermost caller outside the engine and the jit."""
    for frame in reversed(traceback.extract_stack()):
        here = os.path.dirname(frame.filename)
        if (frame.filename not in anomaly._ENGINE_FILES and here != anomaly._OPS_DIR
                and frame.filename != __file__):
            return f"{os.path.basename(frame.filename)}:{frame.lineno}"
    return "unknown"
