"""A trace compiled into a flat list of steps (closures over one list of slots), and its replay.

Everything a step needs is worked out here, once: the slots it reads as one `itemgetter`, its
options, the bound `forward`/`backward`, where each gradient goes, and which slots die after it.
A replay then does per node what a hand-written step would do plus one Python call.
"""
import operator

import numpy as np

from .autograd import Deferred, accumulate_leaf, add_terms
from .tensor import Tensor
from .tracer import ADD, FIRST, LEAF_ADD, LEAF_FIRST


class Replay:
    def __init__(self, tracer, spec):
        self.spec = spec
        self.arg_slots = tracer.arg_slots
        self.buffers = [tracer.values[s] for s in tracer.arg_slots]
        self.params = [(s, t, t.data.shape, t.data.dtype, t.requires_grad)
                       for s, t in tracer.params]
        n = len(tracer.values)
        self.template = [v if k in ("arg", "const") else None
                         for v, k in zip(tracer.values, tracer.kinds)]
        self.vals, self.ctxs, self.own = [None] * n, [None] * len(tracer.nodes), {}
        self.leaves = []  # the Tensors of the current call's arguments
        self.targets = [t for e in tracer.events if e[0] == "accumulate" for _, t in e[1]]

        # a slot made by a step (an op's output, a gradient) dies after its last reader
        pinned = set(_spec_slots(spec))
        last = {}
        for i, event in enumerate(tracer.events):
            for s in _reads(event):
                last[s] = i
            for s in _writes(event):
                last.setdefault(s, i)
        frees = [[] for _ in tracer.events]
        for s, i in last.items():
            if tracer.kinds[s] in ("op", "grad") and s not in pinned:
                frees[i].append(s)
        self.steps = [(self._compile(e), tuple(f), e[5] if e[0] == "forward" else None)
                      for e, f in zip(tracer.events, frees)]

    def still_valid(self):
        """Parameters may change values, not shapes, dtypes or requires_grad: else retrace."""
        return all(t.data.shape == shape and t.data.dtype == dtype and t.requires_grad == rg
                   for _, t, shape, dtype, rg in self.params)

    def leaf_targets(self, leaves):
        return [leaves[t] if type(t) is int else t for t in self.targets]

    def run(self, leaves, record=False):
        """One replay on the call's `leaves` (its tensors and arrays, in argument order)."""
        for buffer, x in zip(self.buffers, leaves):
            np.copyto(buffer, x.data if isinstance(x, Tensor) else x)
        vals = self.vals
        vals[:] = self.template
        for s, t, _, _, _ in self.params:
            vals[s] = t.data
        self.leaves[:] = leaves
        ops = []
        try:
            if record:
                for step, frees, outs in self.steps:
                    step()
                    if outs is not None:
                        ops.append((step.cls, tuple([vals[s] for s in outs])))
                    for s in frees:
                        vals[s] = None
            else:
                for step, frees, _ in self.steps:
                    step()
                    for s in frees:
                        vals[s] = None
            outputs = build_outputs(self.spec, vals)
        finally:
            vals[:] = self.template  # nothing of this call stays alive in the trace
            self.ctxs[:] = [None] * len(self.ctxs)
            self.own.clear()
            self.leaves.clear()
        return (outputs, ops) if record else outputs

    def _compile(self, event):
        return getattr(self, "_" + event[0])(*event[1:])

    def _forward(self, cls, ins, options, bound, outs, multi, node, needs, parents):
        vals, ctxs, forward, new = self.vals, self.ctxs, cls.forward, cls.__new__
        get = operator.itemgetter(*ins) if len(ins) > 1 else None
        first = ins[0] if ins else None
        out, ndarray, asarray = outs[0], np.ndarray, np.asarray

        if node is not None and not multi and not bound and get is not None:
            # the common cases (a recorded node, one output), with the least Python per call
            if options:
                def step():
                    ctx = new(cls)
                    ctx.needs_input_grad = needs
                    ctx.parents = parents
                    ctxs[node] = ctx
                    y = forward(ctx, *get(vals), **options)
                    vals[out] = y if type(y) is ndarray else asarray(y)
            else:
                def step():
                    ctx = new(cls)
                    ctx.needs_input_grad = needs
                    ctx.parents = parents
                    ctxs[node] = ctx
                    y = forward(ctx, *get(vals))
                    vals[out] = y if type(y) is ndarray else asarray(y)
        elif node is not None and not multi and not bound and first is not None:
            def step():
                ctx = new(cls)
                ctx.needs_input_grad = needs
                ctx.parents = parents
                ctxs[node] = ctx
                y = forward(ctx, vals[first], **options)
                vals[out] = y if type(y) is ndarray else asarray(y)
        else:
            def options_now():  # an option that is an earlier op's output (an index's data)
                return {**options, **{k: _bind(b, vals) for k, b in bound.items()}}

            def step():
                ctx = new(cls)
                if node is not None:
                    ctx.needs_input_grad, ctx.parents = needs, parents
                    ctxs[node] = ctx
                args = get(vals) if get else () if first is None else (vals[first],)
                y = forward(ctx, *args, **(options_now() if bound else options))
                if multi:
                    for s, o in zip(outs, y):
                        vals[s] = o if type(o) is ndarray else asarray(o)
                else:
                    vals[out] = y if type(y) is ndarray else asarray(y)

        step.cls = cls
        return step

    def _backward(self, node, cls, grad_slots, routes):
        vals, ctxs, own, backward = self.vals, self.ctxs, self.own, cls.backward
        single = grad_slots[0] if len(grad_slots) == 1 and type(grad_slots[0]) is int else None

        def step():
            ctx = ctxs[node]
            ctxs[node] = None
            if single is not None:
                in_grads = backward(ctx, vals[single])
            else:  # several outputs: those nobody used get zeros, as in the walk
                in_grads = backward(ctx, *[vals[s] if type(s) is int else np.zeros(*s)
                                           for s in grad_slots])
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            for i, s in leaf_firsts:
                vals[s] = in_grads[i]
            for i, s in leaf_adds:
                vals[s] = add_terms(vals[s], in_grads[i], own.get(s, False))
                own[s] = True
            for i, s, add in others:
                g = in_grads[i]
                if type(g) is not ndarray and isinstance(g, Deferred):  # a leaf's term
                    g = g.evaluate()
                vals[s] = vals[s] + g if add else g

        # the routes by kind, each kind in the recorded order: a slot's first route comes before
        # its additions, and different slots do not interact, so the sums are the walk's
        leaf_firsts = tuple((i, s) for i, s, mode in routes if mode == LEAF_FIRST)
        leaf_adds = tuple((i, s) for i, s, mode in routes if mode == LEAF_ADD)
        others = tuple((i, s, mode == ADD) for i, s, mode in routes if mode in (FIRST, ADD))
        ndarray = np.ndarray
        return step

    def _accumulate(self, order):
        vals, own, leaves = self.vals, self.own, self.leaves

        def step():
            for s, leaf in order:
                accumulate_leaf(leaves[leaf] if type(leaf) is int else leaf, vals[s],
                                 own.pop(s, False))

        return step


def _bind(binding, vals):
    if type(binding) is int:
        return vals[binding]
    return tuple([vals[x] if is_slot else x for is_slot, x in binding])


def _reads(event):
    kind = event[0]
    if kind == "forward":
        for b in event[4].values():
            yield from [b] if type(b) is int else [x for is_slot, x in b if is_slot]
        yield from event[2]
    elif kind == "backward":
        yield from (s for s in event[3] if type(s) is int)
        yield from (s for _, s, mode in event[4] if mode in (ADD, LEAF_ADD))
    else:
        yield from (s for s, _ in event[1])


def _writes(event):
    if event[0] == "forward":
        return event[5]
    if event[0] == "backward":
        return [s for _, s, _ in event[4]]
    return ()


def _spec_slots(spec):
    if spec[0] in (tuple, list):
        for x in spec[1]:
            yield from _spec_slots(x)
    elif spec[0] != "object":
        yield spec[1]


def build_outputs(spec, vals):
    """fn's return value, from the slots: fresh Tensors and arrays, numbers by `.item()`."""
    kind = spec[0]
    if kind in (tuple, list):
        return kind(build_outputs(x, vals) for x in spec[1])
    if kind == "object":
        return spec[1]
    if kind == "item":
        return vals[spec[1]].item()
    array = vals[spec[1]].copy() if spec[2] else vals[spec[1]]
    return Tensor(array) if kind == "tensor" else array


def difference(a, b):
    """The largest |a - b|, 0.0 when they agree to within a few units in the last place."""
    if a is None or b is None:
        return 0.0 if a is b else float("inf")
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return float("inf")
    if a.dtype.kind not in "fc" and b.dtype.kind not in "fc":
        return 0.0 if np.array_equal(a, b) else float(np.max(np.abs(a.astype(float) - b)))
    tol = 64 * np.finfo(np.result_type(a.dtype, b.dtype, np.float32)).eps
    if np.allclose(a, b, rtol=tol, atol=tol, equal_nan=True):
        return 0.0
    return float(np.nanmax(np.abs(a.astype(np.float64) - b)))
