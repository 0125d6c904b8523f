"""A jit replay's memory plan: which arrays its ops write straight into the rows of one buffer.

A hand-written BPTT keeps its states and their gradients in preallocated (T, B, H) arrays, so
that stacking them for the output layer or for a weight's gradient costs nothing. A replay gets
the same from its trace: every group of arrays that will be joined along axis 0 is known, and so
is the op that makes each member. If each can write into a given array (`Function.takes_out`),
the replay hands it row i of one buffer, and the join finds a view (ops.shape.join).
"""
import numpy as np

from .tracer import FIRST


def plan(tracer, pinned):
    """The memory plan: arrays that will be joined along axis 0 (a Stack's inputs, the gradients
    an Unbind's backward joins, the arrays a Deferred term such as a weight's gradient joins when
    it is evaluated) are written by their makers straight into the rows of one buffer, so that
    the join is a view of it instead of a copy (see ops.shape.join).

    A group is planned when every member is made by its own op that can write into an array it
    is given (`takes_out`: a forward's single output, or a backward's gradient of its first
    input), and all have one shape and dtype. Returns ({event: "rows_k[i]"}, {event: lines
    that make buffer k, before its first maker}, {event: lines after it}, {argument slot: the
    name its value goes by from the start}).
    """
    makers, written = {}, {}  # slot -> (event, is it an output that can be written into?)
    made_at = {}  # slot -> the event that makes it (an op's output of any kind)
    for e, event in enumerate(tracer.events):
        if event[0] == "forward":
            made_at.update((s, e) for s in event[5])
        if event[0] == "forward" and not event[6]:
            makers[event[5][0]] = (e, "forward" in event[1].takes_out)
        elif event[0] == "backward":
            for i, s, mode in event[4]:
                written[s] = written.get(s, 0) + 1
                makers[s] = (e, mode == FIRST and i == 0 and "backward" in event[2].takes_out)
    axis = {}  # node -> its forward's `axis` option
    groups = []
    for event in tracer.events:
        if event[0] == "forward":
            axis[event[7]] = event[3].get("axis", 0)
            if event[1].stacks == "inputs" and axis[event[7]] == 0:
                groups.append(event[2])
        elif event[0] == "backward" and event[2].stacks == "grads" and axis[event[1]] == 0:
            groups.append(event[3])
    # then what the Deferred terms join; the longest first (a shorter one may be part of it)
    groups += sorted(tracer.joins, key=len, reverse=True)
    outs, allocations, taken = {}, {}, set()
    copies = {}  # event -> lines after it: a value copied into its planned row, and renamed
    renamed = {}  # slot -> the name of its copy (an argument's slot)
    starts = {group[1:]: group for group in groups if len(group) > 2}
    for group in groups:
        if len(group) < 2 or not all(type(s) is int and s not in taken for s in group):
            continue
        values = [tracer.values[s] for s in group]
        events = [makers.get(s, (None, False)) for s in group]
        if (not all(ok and written.get(s, 1) == 1 for s, (_, ok) in zip(group, events))
                or len({e for e, _ in events}) < len(group)
                or not all(type(v) is np.ndarray and v.shape == values[0].shape
                           and v.dtype == values[0].dtype for v in values)):
            continue
        k = len(taken)  # a number no earlier buffer has: they hold len(taken) rows in all
        first = min(e for e, _ in events)
        # A join of one row more in front, [x, h_1 .. h_{n-1}] beside this [h_1 .. h_n]: the
        # states a weight's term joins when x = h_0 was carried in. x is copied into an extra
        # first row once it exists, so that both joins are views of the one buffer.
        before = starts.get(tuple(group[:-1]))
        x = before[0] if before is not None else None
        extra = _fits_in_front(tracer, x, values[0], first, made_at, taken | pinned)
        shape = (len(group) + extra,) + values[0].shape
        make = f"rows_{k} = planned_rows(empty({shape}, '{values[0].dtype.str}'))"
        if not extra:
            allocations.setdefault(first, []).append(make)
        elif tracer.kinds[x] == "arg":  # at the start; the argument's name is then the row's
            renamed[x] = f"a{x}"
            allocations.setdefault(0, []).append(
                f"{make}; a{x} = rows_{k}[0]; copyto(a{x}, arg_{x})")
        else:  # right after x's maker
            allocations.setdefault(made_at[x], []).append(make)
            copies[made_at[x]] = copies.get(made_at[x], []) + [
                f"copyto(rows_{k}[0], s{x}); s{x} = rows_{k}[0]"]
        for i, (e, _) in enumerate(events):
            outs[e] = f"rows_{k}[{i + extra}]"
        taken.update(group)
        if extra:
            taken.add(x)
    return outs, allocations, copies, renamed


def _fits_in_front(tracer, x, row, first, made_at, excluded):
    """Can slot x take a row in front of a buffer of rows like `row`, first written at event
    `first`? It must be an array of that shape and dtype, an argument or made before then."""
    if type(x) is not int or x in excluded:
        return False
    value, kind = tracer.values[x], tracer.kinds[x]
    return (type(value) is np.ndarray and value.shape == row.shape and value.dtype == row.dtype
            and (kind == "arg" or (kind == "op" and made_at.get(x, first) < first)))
