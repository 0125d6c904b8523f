"""Time batching of a trace: an op that a loop repeats at every step, each time independently of
the others, runs once over all the steps.

A user's own RNN loop computes, at every step t, things that do not depend on the recurrence: the
output layer `h_t @ O`, its log-softmax, the pick of the target's log-probability, the row lookup
of the input. A hand-written BPTT does each of those once, on the (T, B, ...) array of all steps;
an eager engine (and a plain replay) does it T times, on arrays T times smaller, and at small sizes
the Python per call costs more than the arithmetic. So before a trace is compiled, this pass looks
for groups of forward events that

  - are the same op with the same options, on inputs of the same shapes and dtypes;
  - at each input, read either the same array (shared: a weight, a constant) or one array per
    member (varying: h_1 ... h_T), and likewise for an index option (ids[:, t]);
  - are independent: no member's output reaches another member (a recurrence never batches);

and, where a rule says how the op works on arrays with one more leading axis (`_RULES`), replaces
the group by three ordinary events: a Stack of each varying input, the op once on the stacked
arrays, an Unbind of its output into the members' outputs. Their backward events follow from the
walk's: Unbind's backward stacks the members' output gradients, the op's backward runs once, and
Stack's backward hands each member's input its slice. A group fed by another group's Unbind reads
that group's output directly, so a chain (matmul, add, log-softmax, pick) is stacked once.

The events are then put in an order that respects every dependency (Kahn's algorithm, the traced
order breaking ties), and each gradient route is FIRST or ADD by the new order. The forward
values of each batched op are checked at compile time against the members' traced values; a group
that disagrees, or an order that cannot be found, is left as it was.

What changes: a shared input's gradient is summed over all steps in one reduction, where the walk
added T partial sums, and a matrix product of T*B rows may round differently from T products of
B rows. So a batched replay agrees with eager to rounding (1e-12 in float64), not bit for bit.
"""
from types import SimpleNamespace

import numpy as np

from .ops import (Add, Div, Exp, GetItem, Log, LogSoftmax, MatMul, Mul, Neg, Pow, ReLU, Sigmoid,
                  Stack, Sub, Sum, Tanh, Unbind)
from .schedule import inputs, outputs, route_modes, schedule
from .tracer import ADD, FIRST, LEAF_ADD, LEAF_FIRST, Shadow

MIN_STEPS = 3  # fewer repetitions than this are not worth a stack


def batch(tracer, pinned):
    """The trace with its repeated independent ops batched (a view of it), or the tracer itself."""
    events, kinds, values = tracer.events, tracer.kinds, tracer.values
    readers = {}
    for e, event in enumerate(events):
        for s in inputs(event):
            readers.setdefault(s, []).append(e)
    backward_of = {event[1]: e for e, event in enumerate(events) if event[0] == "backward"}
    candidates = {}
    segment = 0
    for e, event in enumerate(events):
        if event[0] == "accumulate":
            segment += 1
        elif event[0] == "forward":
            key = _key(event, kinds, values, pinned)
            if key is not None:  # members all run backward, or none does
                key = (segment, event[7] in backward_of) + key
                candidates.setdefault(key, []).append(e)
    groups = []
    for members in candidates.values():
        if len(members) >= MIN_STEPS:
            group = _group(members, events, values, backward_of, readers)
            if group is not None:
                groups.append(group)
    if not groups:
        return tracer
    return _rewrite(tracer, groups, backward_of, pinned) or tracer


# --- finding groups --------------------------------------------------------------------------

def _key(event, kinds, values, pinned):
    """What members of one group share, or None if this event never batches."""
    _, cls, ins, options, bound, outs, multi, node, needs, _ = event
    if cls not in _RULES or multi or bound or any(s in pinned for s in outs):
        return None
    parts = []
    for s in ins:
        v = values[s]
        if kinds[s] in ("param", "arg") or not isinstance(v, np.ndarray):
            parts.append(("same", s) if kinds[s] != "const" else ("value", _hashable(v)))
        else:
            parts.append(("array", v.shape, v.dtype.str))
    for k, v in options.items():
        parts.append((k, _option_key(v)))
    return (cls, needs is not None, needs, tuple(parts))


def _option_key(v):
    if isinstance(v, np.ndarray):
        return ("array", v.shape, v.dtype.str)
    if type(v) is tuple and any(isinstance(x, np.ndarray) for x in v):
        return ("tuple",) + tuple(_option_key(x) for x in v)
    return ("value", _hashable(v))


def _hashable(v):
    try:
        hash(v)
        return v
    except TypeError:
        return ("id", id(v))


def _group(members, events, values, backward_of, readers):
    """The group as a dict, if its members are independent and their arrays line up."""
    first = events[members[0]]
    varying = []
    for j in range(len(first[2])):
        slots = [events[e][2][j] for e in members]
        vals = [values[s] for s in slots]
        if len(set(slots)) == 1 or all(v is vals[0] for v in vals) \
                or not isinstance(vals[0], np.ndarray):  # numbers: equal, by the key
            continue
        if len(set(slots)) != len(slots):
            return None
        varying.append(j)
    index = {}  # option -> whether it is a tuple, and per part "same" or "varying"
    for k, v in first[3].items():
        if not (isinstance(v, np.ndarray) or type(v) is tuple):
            continue
        kinds = _part_kinds(k, members, events)
        if kinds is None:
            return None
        if "varying" in kinds:
            index[k] = kinds
    if not varying and not index:
        return None
    nodes = [events[e][7] for e in members]
    if (nodes[0] is None) != (nodes[-1] is None) or any((n is None) != (nodes[0] is None)
                                                         for n in nodes):
        return None
    if nodes[0] is not None and len({n in backward_of for n in nodes}) != 1:
        return None
    if not _independent(members, events, readers):
        return None
    rule = _RULES[first[1]](first, varying, index, values, len(members))
    if rule is None:
        return None
    return {"members": members, "varying": varying, "index": index, "options": rule,
            "backward": nodes[0] is not None and nodes[0] in backward_of}


def _part_kinds(k, members, events):
    """For option k (an array or a tuple of parts): per part, "same" (one object, or one value)
    or "varying" (an array of its own in each member); None if neither."""
    tuples = [events[e][3][k] for e in members]
    is_tuple = type(tuples[0]) is tuple
    columns = list(zip(*tuples)) if is_tuple else [tuple(tuples)]
    kinds = []
    for column in columns:
        if all(c is column[0] for c in column):
            kinds.append("same")
        elif not isinstance(column[0], np.ndarray):
            if len({_hashable(c) for c in column}) != 1:
                return None
            kinds.append("same")
        elif len({id(c) for c in column}) == len(column):
            kinds.append("varying")
        else:
            return None
    return kinds


def _independent(members, events, readers):
    """No member's output reaches another member (one search from all of them at once)."""
    targets, seen = set(members), set()
    stack = [s for e in members for s in events[e][5]]
    while stack:
        for e in readers.get(stack.pop(), ()):
            if e in targets:
                return False
            if e not in seen and events[e][0] == "forward":
                seen.add(e)
                stack.extend(events[e][5])
    return True


# --- how each op works on one more leading axis ----------------------------------------------

def _elementwise(first, varying, index, values, n):
    """Varying inputs must have the output's shape (broadcasting then lines up from the right)."""
    out = values[first[5][0]]
    if index or any(values[first[2][j]].shape != out.shape for j in varying):
        return None
    return dict(first[3])


def _log_softmax(first, varying, index, values, n):
    axis = first[3].get("axis", -1)
    return None if index else {"axis": axis + 1 if axis >= 0 else axis}


def _matmul(first, varying, index, values, n):
    a, b = (values[s] for s in first[2])
    return {} if varying == [0] and b.ndim == 2 and not index else None


def _sum(first, varying, index, values, n):
    a = values[first[2][0]]
    axis, keepdims = first[3].get("axis"), first[3].get("keepdims", False)
    if index or varying != [0]:
        return None
    axes = range(a.ndim) if axis is None else (axis,) if np.isscalar(axis) else axis
    return {"axis": tuple(ax % a.ndim + 1 for ax in axes), "keepdims": keepdims}


def _getitem(first, varying, index, values, n):
    """a[index] for a shared table and varying int-array indices, or a varying array and
    int-array indices (then the step number is one more index)."""
    idx = first[3]["index"]
    parts = idx if type(idx) is tuple else (idx,)
    if not all(isinstance(p, np.ndarray) and p.dtype.kind in "iu" for p in parts) or \
            len({p.shape for p in parts}) != 1:
        return None
    if varying == [0]:
        return {"index": ("steps", parts[0].ndim)}
    return {"index": ("table",)} if not varying and "index" in index else None


_RULES = {Add: _elementwise, Sub: _elementwise, Mul: _elementwise, Div: _elementwise,
          Neg: _elementwise, Pow: _elementwise, Exp: _elementwise, Log: _elementwise,
          Tanh: _elementwise, Sigmoid: _elementwise, ReLU: _elementwise,
          LogSoftmax: _log_softmax, MatMul: _matmul, Sum: _sum, GetItem: _getitem}


# --- rewriting the trace ---------------------------------------------------------------------

class _Builder:
    """New slots and events over a copy of the tracer's slot lists."""

    def __init__(self, tracer):
        self.values, self.kinds = list(tracer.values), list(tracer.kinds)
        self.node = max([e[7] for e in tracer.events if e[0] == "forward" and e[7] is not None],
                        default=-1)
        self.unbinds = set()  # the nodes of the Unbinds this pass made

    def slot(self, kind, value):
        self.values.append(value)
        self.kinds.append(kind)
        return len(self.values) - 1

    def new_node(self):
        self.node += 1
        return self.node


def _rewrite(tracer, groups, backward_of, pinned):
    events = tracer.events
    segment, k = [], 0  # a walk's accumulate ends a segment: nothing moves across it
    for event in events:
        segment.append(k)
        k += event[0] == "accumulate"
    b = _Builder(tracer)
    replaced, units, chained = set(), [], {}
    for group in groups:
        members = group["members"]
        walks = [backward_of[events[e][7]] for e in members] if group["backward"] else []
        if len({segment[e] for e in members + walks}) != 1:
            continue
        built = _build(group, events, b, chained, backward_of)
        if built is None:
            continue
        forward, backward = built
        replaced.update(members + walks)
        units.append((segment[members[0]], members[0], forward))
        if backward:
            units.append((segment[members[0]], min(walks), backward))
    if not units:
        return None
    units += _running_sums(events, replaced, chained, b, backward_of, segment, pinned)
    units += [(segment[e], e, [event]) for e, event in enumerate(events) if e not in replaced]
    order = schedule(_pruned(units, b))
    if order is None:
        return None
    view = SimpleNamespace(**vars(tracer))
    view.values, view.kinds, view.events = b.values, b.kinds, route_modes(order)
    return view


def _running_sums(events, replaced, chained, b, backward_of, segment, pinned):
    """acc = acc - s_t (or + s_t) at every step, where s_1 .. s_n are the rows of one batched
    output S in order: the chain becomes acc_0 - sum(S) (a loss summed over the steps), two ops
    instead of n. Returns the new units; the chain's events join `replaced`."""
    made = {s: e for e, ev in enumerate(events) if ev[0] == "forward" for s in ev[5]}
    readers = {}
    for e, ev in enumerate(events):
        if ev[0] == "forward":
            for s in ev[2]:
                readers[s] = readers.get(s, 0) + 1
    units = []
    for e, ev in enumerate(events):
        if ev[0] != "forward" or ev[1] not in (Add, Sub) or e in replaced:
            continue
        link = chained.get(ev[2][1])
        if link is None or link[0] != 0:
            continue
        chain, t = [e], 0
        while True:  # follow acc to its one reader, the next link
            out = events[chain[-1]][5][0]
            nxt = [f for f, fv in enumerate(events) if fv[0] == "forward" and fv[2][:1] == (out,)]
            if readers.get(out, 0) != 1 or out in pinned or len(nxt) != 1:
                break
            f = nxt[0]
            fv = events[f]
            step = chained.get(fv[2][1]) if len(fv[2]) == 2 else None
            if fv[1] is not ev[1] or f in replaced or step is None or step[1] != link[1] \
                    or step[0] != t + 1:
                break
            chain.append(f)
            t += 1
        S, gS = link[1], link[2]
        if len(chain) != len(b.values[S]) or len(chain) < MIN_STEPS:
            continue
        last = events[chain[-1]]
        nodes = [events[c][7] for c in chain]
        walked = [n is not None and n in backward_of for n in nodes]
        if len(set(walked)) != 1 or len({segment[c] for c in chain}) != 1:
            continue
        acc0 = ev[2][0]
        r = np.add.reduce(b.values[S], axis=0)
        result = ev[1].forward(ev[1].__new__(ev[1]), b.values[acc0], r)
        if np.shape(result) != np.shape(b.values[last[5][0]]) or not np.allclose(
                result, b.values[last[5][0]], rtol=1e-9, atol=1e-12):
            continue
        r_s = b.slot("op", r)
        sum_node = b.new_node() if walked[0] else None
        forward = [("forward", Sum, (S,), {"axis": 0, "keepdims": False}, {}, (r_s,), False,
                    sum_node, (True,) if walked[0] else None,
                    (Shadow(b.values[S].shape),) if walked[0] else None),
                   ("forward", ev[1], (acc0, r_s), last[3], {}, last[5], False, last[7],
                    None if last[8] is None else (ev[8][0], True),
                    None if last[9] is None else (ev[9][0], Shadow(r.shape)))]
        replaced.update(chain)
        units.append((segment[e], chain[-1], forward))
        if not walked[0]:
            continue
        back = [events[backward_of[n]] for n in nodes]
        replaced.update(backward_of[n] for n in nodes)
        g_r = b.slot("grad", r)
        first_routes = [(0, s, m) for i, s, m in back[0][4] if i == 0]
        backward = [("backward", last[7], ev[1], back[-1][3],
                     tuple(first_routes) + ((1, g_r, FIRST),)),
                    ("backward", sum_node, Sum, (g_r,), ((0, gS, FIRST),))]
        units.append((segment[e], min(backward_of[n] for n in nodes), backward))
    return units


def _pruned(units, b):
    """Drop an Unbind whose outputs nobody reads now (a chained group reads the whole array),
    and in an Unbind's backward use zeros for an output gradient nobody writes any more."""
    read = {s for _, _, evs in units for ev in evs for s in inputs(ev)}
    written = {s for _, _, evs in units for ev in evs for s in outputs(ev)}
    dropped = set()
    for _, _, evs in units:
        for ev in evs:
            if ev[0] == "forward" and ev[1] is Unbind and ev[7] is not None and \
                    ev[7] in b.unbinds and not any(s in read for s in ev[5]):
                dropped.add(ev[7])
    result = []
    for seg, priority, evs in units:
        kept = []
        for ev in evs:
            if ev[0] == "forward" and ev[7] in dropped:
                continue
            if ev[0] == "backward" and ev[1] in b.unbinds:
                if ev[1] in dropped:
                    continue
                grads = tuple(g if type(g) is not int or g in written
                              else (b.values[g].shape, b.values[g].dtype) for g in ev[3])
                if all(type(g) is not int for g in grads):
                    continue
                ev = ev[:3] + (grads,) + ev[4:]
            kept.append(ev)
        result.append((seg, priority, kept))
    return result


def _build(group, events, b, chained, backward_of):
    """The new forward events (stacks, the op, the unbind) and backward events of one group.

    `chained` maps the member outputs of groups built before to (step, their batched output,
    its gradient slot): a varying input that is such a group's outputs, in order, reads that
    output itself.
    """
    members = group["members"]
    n = len(members)
    _, cls, ins, options, _, outs0, _, node, needs, parents = events[members[0]]
    values = b.values
    forward, backward, batched_ins, stacks, feeds = [], [], [], {}, {}
    for j, s in enumerate(ins):
        if j not in group["varying"]:
            batched_ins.append(s)
            continue
        slots = [events[e][2][j] for e in members]
        links = [chained.get(x) for x in slots]
        if all(link is not None and link[0] == t and link[1] == links[0][1]
               for t, link in enumerate(links)) and len(values[links[0][1]]) == n:
            batched_ins.append(links[0][1])  # another group's output, whole
            feeds[j] = links[0][2]
            continue
        xs = b.slot("op", np.stack([values[x] for x in slots]))
        stack_node = b.new_node() if group["backward"] and needs[j] else None
        forward.append(("forward", Stack, tuple(slots), {"axis": 0}, {}, (xs,), False,
                        stack_node, None if stack_node is None else (True,) * n,
                        None if stack_node is None else tuple(Shadow(values[x].shape)
                                                              for x in slots)))
        stacks[j] = (stack_node, xs)
        batched_ins.append(xs)
    new_options, bound = dict(options), {}
    new_options.update(group["options"])
    if "index" in group["options"]:
        new_options["index"], bound["index"] = _stacked_index(group, members, events, b, forward)
    y = _forward_value(cls, [values[x] for x in batched_ins], new_options, bound, values)
    expected = np.stack([values[events[e][5][0]] for e in members])
    if y is None or y.shape != expected.shape or y.dtype != expected.dtype or \
            not np.allclose(y, expected, rtol=1e-9, atol=1e-12, equal_nan=True):
        return None
    ys = b.slot("op", y)
    op_node = b.new_node() if group["backward"] else None
    op_parents = None if op_node is None else tuple(
        Shadow(values[x].shape) if isinstance(p, Shadow) else p
        for x, p in zip(batched_ins, parents))
    forward.append(("forward", cls, tuple(batched_ins), new_options, bound, (ys,), False,
                    op_node, needs if op_node is not None else None, op_parents))
    outs = tuple(events[e][5][0] for e in members)
    unbind_node = b.new_node()
    b.unbinds.add(unbind_node)
    forward.append(("forward", Unbind, (ys,), {"axis": 0}, {}, outs, True,
                    unbind_node if group["backward"] else None,
                    (True,) if group["backward"] else None,
                    (Shadow(y.shape),) if group["backward"] else None))
    gy = b.slot("grad", y) if group["backward"] else None
    if not group["backward"]:
        chained.update((x, (t, ys, gy)) for t, x in enumerate(outs))
        return forward, backward
    member_backward = [events[backward_of[events[e][7]]] for e in members]
    backward.append(("backward", unbind_node, Unbind,
                     tuple(ev[3][0] for ev in member_backward), ((0, gy, FIRST),)))
    routes = []
    for j in range(len(ins)):
        if not needs[j]:
            continue
        if j in feeds:
            routes.append((j, feeds[j], ADD))
        elif j in stacks:
            routes.append((j, b.slot("grad", values[stacks[j][1]]), FIRST))
        else:
            shared = {r[1] for ev in member_backward for r in ev[4] if r[0] == j}
            modes = {r[2] for ev in member_backward for r in ev[4] if r[0] == j}
            if len(shared) != 1:
                return None
            routes.append((j, shared.pop(), LEAF_FIRST if modes & {LEAF_FIRST, LEAF_ADD}
                           else FIRST))
    backward.append(("backward", op_node, cls, (gy,), tuple(routes)))
    for j, (stack_node, _) in stacks.items():
        if stack_node is None:
            continue
        gx = next(r[1] for r in routes if r[0] == j)
        stack_routes = [(t, r[1], r[2]) for t, ev in enumerate(member_backward)
                        for r in ev[4] if r[0] == j]
        backward.append(("backward", stack_node, Stack, (gx,), tuple(stack_routes)))
    chained.update((x, (t, ys, gy)) for t, x in enumerate(outs))
    return forward, backward


def _stacked_index(group, members, events, b, forward):
    """The batched op's index option and its binding: each varying part stacked by a Stack
    event at every replay (they are views of argument buffers, whose values change), the same
    parts as they are, and for a varying input the step number in front."""
    n = len(members)
    tuples = [events[e][3]["index"] for e in members]
    is_tuple = type(tuples[0]) is tuple
    columns = list(zip(*tuples)) if is_tuple else [tuple(tuples)]
    kinds = _part_kinds("index", members, events)
    parts = []
    for column, kind in zip(columns, kinds):
        if kind == "same":
            parts.append((False, column[0]))
            continue
        slots = tuple(b.slot("const", c) for c in column)
        xs = b.slot("op", np.stack(column))
        forward.append(("forward", Stack, slots, {"axis": 0}, {}, (xs,), False, None, None,
                        None))
        parts.append((True, xs))
    rule = group["options"]["index"]
    if rule[0] == "steps":
        parts.insert(0, (False, np.arange(n).reshape((n,) + (1,) * rule[1])))
    elif not is_tuple:  # a table's rows: one stacked array
        return b.values[parts[0][1]], parts[0][1]
    value = tuple(b.values[x] if is_slot else x for is_slot, x in parts)
    return value, tuple(parts)


def _forward_value(cls, arrays, options, bound, values):
    """The batched op run on the trace's values (to check it against the members')."""
    real = {}
    for k, v in options.items():
        binding = bound.get(k)
        if binding is None:
            real[k] = v
        elif type(binding) is int:
            real[k] = values[binding]
        else:
            real[k] = tuple(values[x] if is_slot else x for is_slot, x in binding)
    try:
        y = cls.forward(cls.__new__(cls), *arrays, **real)
    except (ValueError, IndexError, TypeError):
        return None
    return np.asarray(y)
