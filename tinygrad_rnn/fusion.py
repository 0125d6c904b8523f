"""Two rewrites of a trace, before time batching: a user's plain-op RNN step becomes the fused node.

A loop written as `h = (x_t + h @ U + b).tanh()` runs four ops and four backwards per step. Two
rewrites of the recorded events make it the model path's one node:

  1. (x + h U) + b  ->  (x + b) + h U   when b is a parameter (or a constant) and h U is a
     matrix product: x + b no longer waits for the recurrence, so time batching (batching.py)
     runs it once over all steps;
  2. tanh(a + h W)  ->  TanhAddMatMul(a, h, W)   (ops/fused.py), the same values and gradients
     as its three ops (tested against them).

Each rewrite takes the place of the events it replaces, forward and backward: the new forward
where the last old one was, the new backward where the first old one was (the walk meets the
last op first), with the old events' gradient routes. An intermediate is only rewritten away
when nobody else reads it, and each new op's value on the traced inputs is checked against what
the trace recorded. Step 1 adds in another order, so a rewritten replay agrees with eager to
rounding (1e-12 in float64), not bit for bit; step 2 alone computes what eager computes.
"""
from types import SimpleNamespace

import numpy as np

from .ops import Add, MatMul, Tanh, TanhAddMatMul
from .schedule import agrees, inputs, route_modes
from .tracer import FIRST, Shadow


def fuse(tracer, pinned):
    """The trace with both rewrites applied where they fit (a view of it), or the tracer."""
    view = SimpleNamespace(**vars(tracer))
    view.values, view.kinds, view.events = list(tracer.values), list(tracer.kinds), \
        list(tracer.events)
    view.joins = list(tracer.joins)
    changed = _rewrite(view, pinned, _reassociate) | _rewrite(view, pinned, _fuse_tanh)
    if not changed:
        return tracer
    view.events = route_modes([e for e in view.events if e is not None])
    return view


def _rewrite(view, pinned, rule):
    """Apply `rule` at every forward event it matches; True if it changed anything."""
    changed, index, e = False, _index(view.events), 0
    while e < len(view.events):  # a rewrite may insert an event: the list grows as we go
        event = view.events[e]
        if event is not None and event[0] == "forward" and rule(view, e, index, pinned):
            changed, index = True, _index(view.events)
        e += 1
    return changed


def _index(events):
    made, readers, backward = {}, {}, {}
    for e, ev in enumerate(events):
        if ev is None:
            continue
        if ev[0] == "forward":
            for s in ev[5]:
                made[s] = e
        elif ev[0] == "backward":
            backward[ev[1]] = e
        for s in inputs(ev):
            readers.setdefault(s, []).append(e)
    return SimpleNamespace(made=made, readers=readers, backward=backward)


def _only_reader(view, index, s, e, pinned):
    """Slot s is read by event e alone (forward events; the walk reads gradients, not it)."""
    return s not in pinned and [r for r in index.readers.get(s, ()) if
                                view.events[r][0] == "forward"] == [e]


def _producer(view, index, s, cls):
    e = index.made.get(s)
    return e if e is not None and view.events[e][1] is cls and not view.events[e][6] else None


def _and_product(view, index, add):
    """An Add's inputs as (the other one, the matrix product), in either order; (x, None) if
    neither is a product."""
    x, m = add[2]
    if _producer(view, index, m, MatMul) is not None:
        return x, m
    return (m, x) if _producer(view, index, x, MatMul) is not None else (x, None)


def _routes(view, index, node):
    """The routes of node's backward event, as {input: (slot, mode)} (None: no backward)."""
    b = index.backward.get(node)
    return None if b is None else {i: (s, m) for i, s, m in view.events[b][4]}


def _reassociate(view, outer_e, index, pinned):
    """Add(Add(x, m), b) with m a product and b a parameter or constant -> Add(Add(x, b), m)."""
    _, cls, ins, options, bound, outs, _, node, needs, _ = view.events[outer_e]
    if cls is not Add:
        return False
    (inner_s, b_s), (out_s,) = ins, outs
    if view.kinds[b_s] not in ("param", "const") or \
            not isinstance(view.values[b_s], np.ndarray):
        return False
    inner_e = _producer(view, index, inner_s, Add)
    if inner_e is None or not _only_reader(view, index, inner_s, outer_e, pinned):
        return False
    inner = view.events[inner_e]
    x_s, m_s = _and_product(view, index, inner)
    if m_s is None:
        return False
    values = view.values
    if not (values[x_s].shape == values[m_s].shape == values[out_s].shape):
        return False
    inner_needs = inner[8] or (False, False)
    x_i = 0 if inner[2][0] == x_s else 1
    need_x, need_m = inner_needs[x_i], inner_needs[1 - x_i]
    need_b = (needs or (False, False))[1]
    xb = values[x_s] + values[b_s]
    if not agrees(xb + values[m_s], values[out_s]):
        return False
    xb_s = _slot(view, "op", xb)
    outer_routes, inner_routes = _routes(view, index, node), _routes(view, index, inner[7])
    if (node is None) != (inner[7] is None) or (outer_routes is None) != (inner_routes is None):
        return False
    new_inner = ("forward", Add, (x_s, b_s), {}, {}, (xb_s,), False,
                 inner[7] if need_x or need_b else None,
                 (need_x, need_b) if need_x or need_b else None,
                 (Shadow(values[x_s].shape), Shadow(values[b_s].shape)))
    new_outer = ("forward", Add, (xb_s, m_s), options, bound, (out_s,), False, node,
                 None if node is None else (need_x or need_b, need_m),
                 None if node is None else (Shadow(xb.shape), Shadow(values[m_s].shape)))
    view.events[inner_e], view.events[outer_e] = None, new_outer
    view.events.insert(outer_e, new_inner)  # right before the outer: x and b exist by then
    if outer_routes is None:
        return True
    index = _index(view.events)
    g_xb = _slot(view, "grad", xb)
    outer_b, inner_b = index.backward[node], index.backward[inner[7]]
    grads = view.events[outer_b][3]
    routes = [(0, g_xb, FIRST)] if need_x or need_b else []
    if need_m:
        routes.append((1,) + inner_routes[1 - x_i])
    view.events[outer_b] = ("backward", node, Add, grads, tuple(routes))
    inner_new = []
    if need_x:
        inner_new.append((0,) + inner_routes[x_i])
    if need_b:
        inner_new.append((1,) + outer_routes[1])
    view.events[inner_b] = (("backward", inner[7], Add, (g_xb,), tuple(inner_new))
                            if inner_new else None)
    return True


def _fuse_tanh(view, tanh_e, index, pinned):
    """Tanh(Add(a, MatMul(h, W))) -> TanhAddMatMul(a, h, W), when nobody else reads the sum or
    the product."""
    _, cls, ins, _, _, outs, _, node, _, _ = view.events[tanh_e]
    if cls is not Tanh:
        return False
    (sum_s,), (out_s,) = ins, outs
    add_e = _producer(view, index, sum_s, Add)
    if add_e is None or not _only_reader(view, index, sum_s, tanh_e, pinned):
        return False
    add = view.events[add_e]
    a_s, m_s = _and_product(view, index, add)
    mm_e = None if m_s is None else _producer(view, index, m_s, MatMul)
    if mm_e is None or not _only_reader(view, index, m_s, add_e, pinned):
        return False
    mm = view.events[mm_e]
    h_s, w_s = mm[2]
    values = view.values
    if values[h_s].ndim != 2 or values[w_s].ndim != 2 or \
            values[a_s].shape != values[out_s].shape:
        return False
    a_i = 0 if add[2][0] == a_s else 1
    add_needs, mm_needs = add[8] or (False, False), mm[8] or (False, False)
    needs = (add_needs[a_i], mm_needs[0] and add_needs[1 - a_i], mm_needs[1] and
             add_needs[1 - a_i])
    routes_add, routes_mm = _routes(view, index, add[7]), _routes(view, index, mm[7])
    routes_tanh = _routes(view, index, node)
    if node is None or routes_tanh is None or add[7] is None or routes_add is None:
        return False
    if (needs[1] or needs[2]) and routes_mm is None:
        return False
    routes = [(0,) + routes_add[a_i]] if needs[0] and a_i in routes_add else []
    for i in (1, 2):
        if needs[i] and i - 1 in routes_mm:
            routes.append((i,) + routes_mm[i - 1])
    y = TanhAddMatMul.forward(TanhAddMatMul.__new__(TanhAddMatMul), values[a_s], values[h_s],
                              values[w_s])
    if not agrees(y, values[out_s]):
        return False
    fused = ("forward", TanhAddMatMul, (a_s, h_s, w_s), {}, {}, (out_s,), False, node, needs,
             (Shadow(values[a_s].shape), Shadow(values[h_s].shape), Shadow(values[w_s].shape)))
    tanh_b = index.backward[node]
    grads = view.events[tanh_b][3]
    old_grad = routes_tanh[0][0]  # the sum's gradient: what the product's weight term joined
    new_grad = routes_add[a_i][0] if a_i in routes_add else None
    view.events[tanh_b] = ("backward", node, TanhAddMatMul, grads, tuple(routes))
    for e in (index.backward.get(add[7]), index.backward.get(mm[7]), add_e, mm_e):
        if e is not None:
            view.events[e] = None
    view.events[tanh_e] = fused
    if new_grad is not None:  # the weight's term joins dz, which the fused node hands to a
        view.joins = [tuple(new_grad if s == old_grad else s for s in join)
                      for join in view.joins]
    return True


def _slot(view, kind, value):
    view.values.append(value)
    view.kinds.append(kind)
    return len(view.values) - 1
