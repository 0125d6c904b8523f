"""A trace compiled into the straight-line Python code of one step, and its replay.

Everything a step needs is worked out once, when the trace is compiled: which arrays each call
reads, its options, where each gradient goes, whether a leaf's total is an array of our own yet,
and after which line each array dies. The result is the source of one function (`source`), in
which every slot of the trace is a local variable and every op one call, as one would write the
step by hand:

    c4 = new_4(cls_4); c4.needs_input_grad = needs_4; c4.parents = parents_4
    s12 = forward_4(c4, s7, s10, p11, out=rows_0[1])  # TanhAddMatMul
    ...
    r = backward_26(c4, s37, out=rows_4[1]); del c4  # TanhAddMatMul
    r = r if type(r) is tuple else (r,)
    g = r[1]; s36 = s36 + (g if type(g) is ndarray else evaluated(g))   # dL/dh, to h's sum
    s41 = add_terms(s41, r[2], True)                                     # dL/dW, to W's terms
    del s37

Arguments are the trace's own buffers and constants are what the trace saw, so both are names
bound once (`arg_…`, `const_…`); a parameter's array is read from its Tensor on entry (`p…`).
Local variables cost a replay less than any list of slots, and the interpreter runs one flat
function with no loop, no dispatch and no bookkeeping of its own.

The memory plan (plan.py, the `rows_…` above): arrays that will be stacked are written by the
ops that make them into the rows of one buffer, so that the stack is a view. A hand-written
BPTT does the same with its preallocated (T, B, H) arrays of states and of their gradients.
"""
from keyword import iskeyword

import numpy as np

from .autograd import Deferred, WalkScope, accumulate_leaf, add_terms, walk_memo
from .ops.shape import forget_planned, planned_rows
from .tensor import Tensor
from .batching import batch
from .fusion import fuse
from .plan import plan
from .schedule import inputs, outputs
from .tracer import ADD, LEAF_ADD, LEAF_FIRST


class Replay:
    def __init__(self, tracer, spec, check=False):
        self.spec = spec
        self.buffers = [tracer.values[s] for s in tracer.arg_slots]
        self.params = [(s, t, t.data.shape, t.data.dtype, t.requires_grad)
                       for s, t in tracer.params]
        self.targets = [t for e in tracer.events if e[0] == "accumulate" for _, t in e[1]]
        # the generators random ops draw from (Dropout's rng): check=True rewinds them for its
        # eager run, so that both draw the same masks
        self.generators = list({id(v): v for e in tracer.events if e[0] == "forward"
                                for v in e[3].values() if isinstance(v, np.random.Generator)
                                }.values())
        # the ops a loop repeats independently at every step, run once over all steps
        pinned = set(_spec_slots(spec))
        batched = batch(fuse(tracer, pinned), pinned)
        self.source = _Writer(batched, spec, record=False).source()
        self._replay = _compile(self.source, _namespace(batched))
        # check=True: a variant of the trace as recorded (op by op, as eager runs them) that
        # also lists every forward's (class, outputs), in order
        self._recording = (_compile(_Writer(tracer, spec, record=True).source(),
                                    _namespace(tracer)) if check else None)

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
        try:
            with WalkScope():  # the walk's scratch space, as backward() gives one (walk_memo)
                if not record:
                    return build_outputs(self.spec, self._replay(leaves))
                ops = []
                return build_outputs(self.spec, self._recording(leaves, ops)), ops
        finally:
            forget_planned()  # the plan's buffers die with the slots that hold them


def _compile(source, namespace):
    code = compile(source, "<jit replay>", "exec")
    namespace = dict(namespace)
    exec(code, namespace)
    return namespace["replay"]


def _namespace(tracer):
    """The names a replay's source refers to: the engine's helpers, and every event's objects."""
    ns = {"ndarray": np.ndarray, "asarray": np.asarray, "zeros": np.zeros, "empty": np.empty,
          "copyto": np.copyto,
          "add_terms": add_terms, "accumulate_leaf": accumulate_leaf, "evaluated": _evaluated,
          "planned_rows": planned_rows, "walk_memo": walk_memo}
    for s, (value, kind) in enumerate(zip(tracer.values, tracer.kinds)):
        if kind in ("arg", "const"):
            ns[f"{kind}_{s}"] = value
    for s, t in tracer.params:
        ns[f"param_{s}"] = t
    for e, event in enumerate(tracer.events):
        if event[0] == "forward":
            cls, _, options, _, _, _, _, needs, parents = event[1:]
            ns.update({f"cls_{e}": cls, f"new_{e}": cls.__new__, f"forward_{e}": cls.forward,
                       f"needs_{e}": needs, f"parents_{e}": parents})
            for j, v in enumerate(options.values()):
                ns[f"option_{e}_{j}"] = v
        elif event[0] == "backward":
            ns[f"backward_{e}"] = event[2].backward
            for i, g in enumerate(event[3]):
                if type(g) is not int:
                    ns[f"zeros_{e}_{i}"] = g  # (shape, dtype) of an output nobody used
        else:
            for j, (_, leaf) in enumerate(event[1]):
                if type(leaf) is not int:
                    ns[f"leaf_{e}_{j}"] = leaf
    return ns


class _Writer:
    """Writes the replay function's source from a tracer's events."""

    def __init__(self, tracer, spec, record):
        self.tracer, self.record = tracer, record
        self.kinds = tracer.kinds
        self.pinned = set(_spec_slots(spec))
        self.backwarded = {e[1] for e in tracer.events if e[0] == "backward"}
        self.owned = set()  # leaf totals that are arrays of our own (after a first addition)
        self.outs, self.allocations, self.copies, self.renamed = plan(tracer, self.pinned)

    def name(self, s):
        if s in self.renamed:
            return self.renamed[s]
        kind = self.kinds[s]
        return f"{kind}_{s}" if kind in ("arg", "const") else f"p{s}" if kind == "param" \
            else f"s{s}"

    def source(self):
        events = self.tracer.events
        last = {}  # slot -> the event after which nobody reads it
        for i, event in enumerate(events):
            for s in _reads(event):
                last[s] = i
            for s in outputs(event):
                last.setdefault(s, i)
        frees = [[] for _ in events]
        for s, i in last.items():
            if self.kinds[s] in ("op", "grad") and s not in self.pinned:
                frees[i].append(s)
        lines = ["def replay(leaves, ops=None):"]
        lines += [f"    p{s} = param_{s}.data" for s, _ in self.tracer.params]
        for e, (event, dead) in enumerate(zip(events, frees)):
            lines += ["    " + line for line in self.allocations.get(e, ())]
            lines += ["    " + line for line in getattr(self, event[0])(e, *event[1:])]
            lines += ["    " + line for line in self.copies.get(e, ())]
            if dead:
                lines.append("    del " + ", ".join(f"s{s}" for s in sorted(dead)))
        returned = sorted(self.pinned)
        lines.append("    return {" + ", ".join(f"{s}: {self.name(s)}" for s in returned) + "}")
        return "\n".join(lines) + "\n"

    def forward(self, e, cls, ins, options, bound, outs, multi, node, needs, parents):
        lines = []
        if node in self.backwarded:  # a node whose backward runs later: keep it, as apply does
            ctx = f"c{node}"
            lines.append(f"{ctx} = new_{e}(cls_{e}); {ctx}.needs_input_grad = needs_{e}; "
                         f"{ctx}.parents = parents_{e}")
        else:
            ctx = f"new_{e}(cls_{e})"
        args = [ctx] + [self.name(s) for s in ins]
        keywords = [(k, self.option(e, j, bound.get(k))) for j, k in enumerate(options)]
        if all(k.isidentifier() and not iskeyword(k) for k, _ in keywords):
            args += [f"{k}={value}" for k, value in keywords]
        elif keywords:  # a key Python cannot spell as a keyword argument
            args.append("**{" + ", ".join(f"{k!r}: {value}" for k, value in keywords) + "}")
        if e in self.outs:
            args.append(f"out={self.outs[e]}")
        call = f"forward_{e}({', '.join(args)})"
        names = [f"s{s}" for s in outs]
        lines.append(f"{', '.join(names)}{',' if multi else ''} = {call}  # {cls.__name__}")
        lines += [f"if type({n}) is not ndarray: {n} = asarray({n})" for n in names]
        if self.record:
            lines.append(f"ops.append((cls_{e}, ({', '.join(names)},)))")
        return lines

    def option(self, e, j, binding):
        """Option j's value: a name bound once, or an expression of slots (an index's data)."""
        if binding is None:
            return f"option_{e}_{j}"
        if type(binding) is int:
            return self.name(binding)
        parts = [self.name(x) if is_slot else f"option_{e}_{j}[{i}]"
                 for i, (is_slot, x) in enumerate(binding)]
        return f"({', '.join(parts)},)"

    def backward(self, e, node, cls, grad_slots, routes):
        grads = [self.name(s) if type(s) is int else f"zeros(*zeros_{e}_{i})"
                 for i, s in enumerate(grad_slots)]
        if e in self.outs:
            grads.append(f"out={self.outs[e]}")
        lines = [f"r = backward_{e}(c{node}, {', '.join(grads)}); del c{node}  # {cls.__name__}",
                 "r = r if type(r) is tuple else (r,)"]  # one input's gradient may come bare
        for i, s, mode in routes:
            g, name = f"r[{i}]", self.name(s)
            if mode == LEAF_FIRST:
                lines.append(f"{name} = {g}")
            elif mode == LEAF_ADD:
                lines.append(f"{name} = add_terms({name}, {g}, {s in self.owned})")
                self.owned.add(s)
            else:  # only a leaf keeps Deferred terms: for any other input, evaluate at once
                value = "(g if type(g) is ndarray else evaluated(g))"
                lines.append(f"g = {g}; {name} = " + (f"{name} + {value}" if mode == ADD
                                                      else value))
        return lines

    def accumulate(self, e, order):
        lines = []
        for j, (s, leaf) in enumerate(order):
            target = f"leaves[{leaf}]" if type(leaf) is int else f"leaf_{e}_{j}"
            lines.append(f"accumulate_leaf({target}, {self.name(s)}, {s in self.owned})")
            self.owned.discard(s)
        return lines + ["walk_memo().clear()  # the walk ends: the next one starts afresh"]


def _evaluated(g):
    """A gradient term as an array: a Deferred one evaluated (only a leaf may keep it)."""
    return g.evaluate() if isinstance(g, Deferred) else g


def _reads(event):
    """The slots an event reads; an ADD route reads the sum it adds to, too."""
    yield from inputs(event)
    if event[0] == "backward":
        yield from (s for _, s, mode in event[4] if mode in (ADD, LEAF_ADD))


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
