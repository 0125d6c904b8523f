"""The events a batched group becomes (batching.py finds the groups).

For a group of n independent steps of one op: a Stack of each varying input (or, when another
group's outputs are that input in order, that group's output itself), the op once on the stacked
arrays, and an Unbind of the result into the members' outputs. Backward: Unbind's backward
stacks the members' output gradients, the op's backward runs once, Stack's backward hands each
member's input its slice; a shared input gets the one summed gradient. A running sum over a
group's rows (`loss = loss - s_t`) becomes one Sum and one op. Each new op is run on the traced
values when it is built and compared with what the members computed; a group that disagrees is
left as it was.
"""
from types import SimpleNamespace

import numpy as np

from .ops import Add, Stack, Sub, Sum, Unbind
from .schedule import agrees, inputs, outputs, route_modes, schedule
from .tracer import ADD, FIRST, LEAF_ADD, LEAF_FIRST, Shadow

MIN_STEPS = 3  # fewer repetitions than this are not worth a stack


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


def rewrite(tracer, groups, backward_of, pinned):
    """The trace with each group (batching.py) replaced by its batched events, and running sums
    over their rows by one sum; in dependency order. None if nothing could be rewritten."""
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
    readers, first_of = {}, {}  # slot -> forward reads of it; -> events reading it first
    for e, ev in enumerate(events):
        if ev[0] == "forward":
            for s in ev[2]:
                readers[s] = readers.get(s, 0) + 1
            if ev[2]:
                first_of.setdefault(ev[2][0], []).append(e)
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
            nxt = first_of.get(out, [])
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
        if not agrees(result, b.values[last[5][0]]):
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
        new_options["index"], binding = _stacked_index(group, members, events, b, forward)
        if binding is not None:
            bound["index"] = binding
    y = _forward_value(cls, [values[x] for x in batched_ins], new_options, bound, values)
    expected = np.stack([values[events[e][5][0]] for e in members])
    if y is None or not agrees(y, expected):
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
    kinds = group["parts"]["index"]
    parts = []
    for column, kind in zip(columns, kinds):
        if kind == "same":
            parts.append((False, column[0]))
            continue
        view = _columns_view(column)
        if view is not None:  # ids[:, t] for t in order: ids.T itself, no copy at all
            parts.append((False, view))
            continue
        slots = tuple(b.slot("const", c) for c in column)
        xs = b.slot("op", np.stack(column))
        forward.append(("forward", Stack, slots, {"axis": 0}, {}, (xs,), False, None, None,
                        None))
        parts.append((True, xs))
    rule = group["options"]["index"]
    if rule[0] == "steps":
        parts.insert(0, (False, np.arange(n).reshape((n,) + (1,) * rule[1])))
    elif not is_tuple:  # a table's rows: one stacked array (a view needs no binding)
        is_slot, x = parts[0]
        return (b.values[x], x) if is_slot else (x, None)
    value = tuple(b.values[x] if is_slot else x for is_slot, x in parts)
    return value, tuple(parts)


def _columns_view(column):
    """The arrays of `column` stacked, as a view, when they are consecutive columns base[:, t]
    of one 2-D array (an argument's buffer, whose values a replay renews): base.T[t0:t0+n]."""
    base = column[0].base
    if not isinstance(base, np.ndarray) or base.ndim != 2 or column[0].ndim != 1:
        return None
    start = (column[0].__array_interface__["data"][0]
             - base.__array_interface__["data"][0]) // base.strides[1] if base.strides[1] else -1
    if not 0 <= start <= base.shape[1] - len(column):
        return None
    view = base.T[start:start + len(column)]
    if all(c.base is base and c.shape == view.shape[1:] and c.strides == view.strides[1:]
           and c.__array_interface__["data"][0] == row.__array_interface__["data"][0]
           for c, row in zip(column, view)):
        return view
    return None


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
