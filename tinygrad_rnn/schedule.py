"""Putting a trace's events in an order that keeps every dependency, after a pass has changed
them (batching.py), and giving each gradient route its mode by that order.

A unit is a list of events that must stay together (a batched op's stack, op and unbind), with
a priority, its place in the traced order. A unit runs once every slot it reads has been written
by every unit that writes it, and once the forward that made a backward's node has run. Among
the units that could run, the one traced first goes first (Kahn's algorithm with a heap), so an
unchanged trace keeps its order. A walk's end (its accumulate event) closes a segment: units
never move across it.
"""
import heapq

import numpy as np

from .tracer import ADD, FIRST, LEAF_ADD, LEAF_FIRST


def agrees(got, traced):
    """A rewritten op's value on the traced inputs against what the trace recorded: the same
    shape and dtype, and equal to half the dtype's digits (sqrt of its eps, relative to the
    array's largest magnitude: 1.5e-8 in float64, 3.5e-4 in float32). Another summation order
    passes; a rewrite that computes something else does not."""
    got, traced = np.asarray(got), np.asarray(traced)
    if got.shape != traced.shape or got.dtype != traced.dtype:
        return False
    if traced.dtype.kind not in "fc":
        return np.array_equal(got, traced)
    tol = float(np.sqrt(np.finfo(traced.dtype).eps))
    scale = float(np.max(np.abs(traced), initial=0.0, where=np.isfinite(traced)))
    return np.allclose(got, traced, rtol=tol, atol=tol * scale, equal_nan=True)


def schedule(units):
    """The units' events in an order that keeps every dependency (a slot's readers after all
    its writers, a backward after the forward that made its node), segment by segment, the
    traced order breaking ties (Kahn's algorithm). None if there is a cycle."""
    order = []
    for seg in sorted({u[0] for u in units}):
        part = [(priority, evs) for sg, priority, evs in units if sg == seg and evs]
        writers, ctx_of = {}, {}
        for u, (_, evs) in enumerate(part):
            for ev in evs:
                for s in outputs(ev):
                    writers.setdefault(s, set()).add(u)
                if ev[0] == "forward" and ev[7] is not None:
                    ctx_of[ev[7]] = u
        deps = []
        for u, (_, evs) in enumerate(part):
            d = set()
            for ev in evs:
                if ev[0] == "accumulate":  # the walk's end: after everything else
                    d |= set(range(len(part)))
                for s in inputs(ev):
                    d |= writers.get(s, set())
                if ev[0] == "backward" and ev[1] in ctx_of:
                    d.add(ctx_of[ev[1]])
            d.discard(u)
            deps.append(d)
        waiting = [len(d) for d in deps]
        users = [[] for _ in part]
        for u, d in enumerate(deps):
            for v in d:
                users[v].append(u)
        ready = [(part[u][0], u) for u in range(len(part)) if not waiting[u]]
        heapq.heapify(ready)
        done = 0
        while ready:
            _, u = heapq.heappop(ready)
            order += part[u][1]
            done += 1
            for v in users[u]:
                waiting[v] -= 1
                if not waiting[v]:
                    heapq.heappush(ready, (part[v][0], v))
        if done != len(part):
            return None
    return order


def route_modes(order):
    """Each route FIRST (LEAF_FIRST) for the first gradient into its slot in this order, ADD
    (LEAF_ADD) after it; a walk's slots start afresh after its accumulate."""
    written, out = set(), []
    for ev in order:
        if ev[0] == "backward":
            routes = []
            for i, s, mode in ev[4]:
                leaf = mode in (LEAF_FIRST, LEAF_ADD)
                new = (LEAF_ADD if leaf else ADD) if s in written else (LEAF_FIRST if leaf
                                                                         else FIRST)
                written.add(s)
                routes.append((i, s, new))
            ev = ev[:4] + (tuple(routes),)
        elif ev[0] == "accumulate":
            written = set()
        out.append(ev)
    return out


def inputs(event):
    kind = event[0]
    if kind == "forward":
        yield from event[2]
        for v in event[4].values():
            yield from [v] if type(v) is int else [x for is_slot, x in v if is_slot]
    elif kind == "backward":
        yield from (s for s in event[3] if type(s) is int)
    else:
        yield from (s for s, _ in event[1])


def outputs(event):
    if event[0] == "forward":
        return event[5]
    if event[0] == "backward":
        return [s for _, s, _ in event[4]]
    return ()
