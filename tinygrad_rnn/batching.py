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
the group by three ordinary events (batched_events.py): a Stack of each varying input, the op
once on the stacked arrays, an Unbind of its output into the members' outputs. Their backward events follow from the
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
import numpy as np

from .batched_events import MIN_STEPS, rewrite
from .ops import (Add, Div, Exp, GetItem, Log, LogSoftmax, MatMul, Mul, Neg, Pow, ReLU, Sigmoid,
                  Sub, Sum, Tanh)
from .schedule import inputs


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
    return rewrite(tracer, groups, backward_of, pinned) or tracer


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
    return (cls, needs, tuple(parts))


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
    parts, index = {}, {}  # array options: per part "same" or "varying"; those that vary
    for k, v in first[3].items():
        if not (isinstance(v, np.ndarray) or type(v) is tuple):
            continue
        parts[k] = _part_kinds(k, members, events)
        if parts[k] is None:
            return None
        if "varying" in parts[k]:
            index[k] = parts[k]
    if not varying and not index:
        return None
    nodes = [events[e][7] for e in members]
    if any((n is None) != (nodes[0] is None) for n in nodes):
        return None
    if nodes[0] is not None and len({n in backward_of for n in nodes}) != 1:
        return None
    if not _independent(members, events, readers):
        return None
    rule = _RULES[first[1]](first, varying, index, values, len(members))
    if rule is None:
        return None
    return {"members": members, "varying": varying, "parts": parts, "options": rule,
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
