"""`jit`: trace a step once, then replay only its numpy work on every later call.

    @jit
    def step(ids, targets, h):
        logits, h = model(ids, h)
        loss = cross_entropy(logits, targets)
        loss.backward()
        return loss.item(), h

    for ids, targets in batches:        # zero_grad and step stay outside: they are not ops
        optimizer.zero_grad(); loss, h = step(ids, targets, h); optimizer.step()

What is recorded. The first call with a new structure of arguments (shapes, dtypes,
requires_grad, where the None are, the values of numbers; and whether grad mode is on) runs `fn`
eagerly while the engine reports to a tracer: every `Function.apply` (the class, its inputs, its
options, its outputs), every backward walk (the order in which it ran the nodes, where each input
gradient went: into another node's output gradient, summed in arrival order, or into a leaf's
terms) and every `Tensor.item()`. Every array an op reads gets a slot, which is one of
  - an argument: the tracing call copies each array argument into a buffer the trace owns and
    calls fn on those (a Tensor argument becomes a stand-in Tensor over its buffer); a replay
    copies the new values into the same buffers, so that views fn takes of an argument
    (`ids[:, t]` as an index) see the new values, as CUDA graphs do with static inputs;
  - the output of an earlier op, found by its Tensor or by the array itself, so that
    `h.detach()` and `Tensor(y.data)` map back to it;
  - a leaf Tensor reached by closure (a parameter): its `.data` is read when a replay starts, so
    `optimizer.step()`, `p.data -= ...`, `p.data = new` or `load_state_dict` between calls count;
  - anything else, a constant: frozen at trace time.

How a replay binds arrays. The trace becomes the straight-line code of one Python function
(replay.py), a slot a local variable. Each forward makes a fresh node (`cls.__new__`) with the
traced `needs_input_grad` and stand-in parents that carry only a shape (all a backward may read
of them), and calls `cls.forward` on its slots' arrays with the traced options. Each backward
calls `cls.backward` on that node and routes the gradients it returns as the traced walk did;
the end of a walk adds the leaves' totals into their `.grad` through the walk's own `add_terms`
and `accumulate_leaf`. A slot is deleted after its last reader, as the eager walk releases what
it has used. Arrays that will be joined (a Stack's inputs, the gradients an Unbind's backward
stacks, the terms of a weight's deferred gradient) are written by the ops that make them into
the rows of one buffer, new at every call, so that the join is a view: the memory plan
(plan.py). Each walk has a fresh `autograd.walk_memo`, as an eager walk does, so a weight's
contiguous transpose is made anew from the parameter's array of that call.

Rewrites and time batching. Before it is compiled, a trace is rewritten: `(x + h W) + b` adds
the parameter b first, and `tanh(a + h W)` becomes the TanhAddMatMul node (fusion.py). Then it
is searched for ops that a loop repeats at every step independently of each other (a user's
output layer, log-softmax and target pick at every step, the row lookup of each step's input):
each such group runs once, on the stacked arrays of all steps, as a hand-written BPTT does, and
a running sum over the steps becomes one sum (batching.py). A recurrence never batches.

Why it is correct. A replay calls the same forward and backward functions, on the arrays eager
would pass them, and sums gradients by the same rules: where nothing was rewritten, in the same
order, and the results are those of an eager call bit for bit (a CharRNN's step is such a
trace). A batched group computes each step's values with the same op on one more leading axis;
each rewritten op is checked against the traced values when the trace is compiled. An addition
in another order, or the gradient of an input the steps share summed in one reduction rather
than step by step, rounds differently: such a replay agrees with eager to rounding (1e-12 in
float64), not bit for bit. Only the slots bound
anew (arguments, parameters) change between calls; the graph's shape and every constant are
what the trace saw.

What a trace cannot see, and what happens:
  - Python control flow on values (`if loss.item() > 1`): the branch taken at trace time replays;
    so does a module's mode (`model.eval()` between calls: jit one function per mode).
  - An array computed in numpy from an argument (`ids % 2`), or a number from `.item()` used in an
    op: frozen. Value checks in Python (an id out of range) run at trace time only.
  - Random numbers: an op that draws them (`ops.Dropout`, from the generator it is given) draws
    anew at every replay, from the same generator and in the same order as an eager call; a
    mask made in numpy inside fn (`np.random.rand(...) < p`) is frozen like any other array.
  - Side effects outside ops run once, at trace time: keep `optimizer.step()`, `zero_grad()`
    and counters outside fn. A leaf that requires grad made inside fn from constants keeps its
    `.grad` across calls (eager would make a new one).
  - Returned Tensors hold fresh arrays but no graph: call `backward()` inside fn.
  `jit(fn, check=True)` runs fn eagerly beside every replay and raises `JitCheckError` naming the
  first op (its position and Function class) whose value differs, with the largest difference;
  it replays the trace as recorded, op by op, without the rewrites, to compare op for op.
Detected while tracing, and then run eagerly for that structure of arguments with a warning:
`retain_graph=True`, `retain_grad()` or a hook on a non-leaf, a backward reaching ops made
outside fn, ops run inside a backward, an argument that is a non-leaf requiring grad or has
hooks, a leaf requiring grad made inside fn over traced data, a returned number or array the trace
cannot rebuild, a returned tensor that requires grad when fn calls no backward. Under
`detect_anomaly()`, and inside another jitted function's trace, fn runs eagerly. Hooks on
parameters run at every replay, as in eager. A parameter whose shape, dtype or requires_grad
changed between calls is traced again. One thread at a time: a replay uses the trace's buffers.
"""
import functools
import warnings
from collections import OrderedDict

import numpy as np

from . import anomaly, autograd
from .grad_mode import is_grad_enabled
from .replay import Replay, build_outputs
from .tensor import Tensor
from .tracer import Recorder, Tracer

_EAGER = "eager"  # cache entry of an argument structure whose trace found something unsupported


class JitCheckError(RuntimeError):
    """`jit(fn, check=True)`: a replay differs from the eager run of the same call."""


class JitWarning(UserWarning):
    """A jitted function runs eagerly for some arguments: the trace found what it cannot replay."""


def jit(fn=None, *, check=False, cache_size=8):
    """Trace `fn` on its first call, replay its numpy work on later calls with new arguments.

    `jit(fn)`, `@jit` or `@jit(check=True)`. Arguments: Tensors, numpy arrays, numbers, None, and
    tuples or lists of them. Up to `cache_size` traces are kept, the least recently used dropped.
    See the module's docstring for the contract.
    """
    if fn is None:
        return functools.partial(jit, check=check, cache_size=cache_size)
    if cache_size < 1:
        raise ValueError(f"jit: cache_size must be at least 1, got {cache_size}")
    return _Jitted(fn, check, cache_size)


class _Jitted:
    def __init__(self, fn, check, cache_size):
        functools.update_wrapper(self, fn)
        self.fn, self.check, self.cache_size = fn, check, cache_size
        self._traces = OrderedDict()

    def __call__(self, *args, **kwargs):
        if autograd._tracer is not None or anomaly._Mode.enabled:
            return self.fn(*args, **kwargs)  # part of an outer trace, or checked op by op
        leaves, seen = [], {}
        key = (is_grad_enabled(), _key(args, leaves, seen, "argument"),
               tuple((k, _key(v, leaves, seen, f"argument {k!r}"))
                     for k, v in sorted(kwargs.items())))
        trace = self._traces.get(key)
        if trace is None or (trace is not _EAGER and not trace.still_valid()):
            return self._trace(key, args, kwargs, leaves)
        self._traces.move_to_end(key)
        if trace is _EAGER:
            return self.fn(*args, **kwargs)
        if self.check:
            return self._checked(trace, args, kwargs, leaves)
        return trace.run(leaves)

    def _trace(self, key, args, kwargs, leaves):
        reason = next((f"argument tensor {i} {why}" for i, x in enumerate(leaves)
                       if isinstance(x, Tensor) for why in _argument_problems(x)), None)
        if reason is not None:
            self._warn(reason)
            self._remember(key, _EAGER)
            return self.fn(*args, **kwargs)
        standins = {}
        for x in leaves:  # the trace's own copy of every array argument: its input slots
            buffer = np.array(x.data if isinstance(x, Tensor) else x, order="C", copy=True)
            if isinstance(x, Tensor):
                s = Tensor(buffer, requires_grad=x.requires_grad)
                s.grad = x.grad  # the eager walk adds into x's own .grad array, in place
                standins[id(x)] = s
            else:
                standins[id(x)] = buffer
        tracer = Tracer([standins[id(x)] for x in leaves])
        autograd._tracer = tracer
        try:
            result = self.fn(*_substitute(args, standins), **_substitute(kwargs, standins))
        finally:
            autograd._tracer = None
            for x in leaves:
                if isinstance(x, Tensor):
                    x.grad = standins[id(x)].grad
        spec = tracer.output_spec(result)
        if tracer.reason is not None:
            self._warn(tracer.reason)
            self._remember(key, _EAGER)
            return result
        trace = Replay(tracer, spec, self.check)
        self._remember(key, trace)
        return build_outputs(spec, tracer.values)

    def _warn(self, reason):
        warnings.warn(f"jit({getattr(self.fn, '__name__', 'fn')}): {reason}: running it eagerly "
                      "for arguments like these", JitWarning, stacklevel=4)  # the caller's line

    def _remember(self, key, trace):
        self._traces[key] = trace
        self._traces.move_to_end(key)
        while len(self._traces) > self.cache_size:
            self._traces.popitem(last=False)

    def _checked(self, trace, args, kwargs, leaves):
        """Replay, then run fn eagerly from the same gradients, and compare op by op."""
        targets = trace.leaf_targets(leaves)
        before = [None if t.grad is None else t.grad.copy() for t in targets]
        drawn = [g.bit_generator.state for g in trace.generators]
        outputs, replayed_ops = trace.run(leaves, record=True)
        replayed_grads = [t.grad for t in targets]
        for t, g in zip(targets, before):
            t.grad = g
        for generator, state in zip(trace.generators, drawn):  # the eager run draws the same
            generator.bit_generator.state = state
        recorder = Recorder()
        autograd._tracer = recorder
        try:
            expected = self.fn(*args, **kwargs)
        finally:
            autograd._tracer = None
        for i, ((cls, outs), (ecls, eouts, site)) in enumerate(zip(replayed_ops, recorder.ops)):
            if cls is not ecls:
                raise JitCheckError(
                    f"jit check: op {i} is {ecls.__name__} in the eager run ({site}) but "
                    f"{cls.__name__} in the trace: fn's graph depends on values (Python control "
                    "flow on them?)")
            worst = max(difference(a, b) for a, b in zip(outs, eouts))
            if worst:
                raise JitCheckError(
                    f"jit check: op {i} ({cls.__name__}, {site}) differs from the eager run by "
                    f"up to {worst:.3g}: it reads something the trace froze (an array computed "
                    "in numpy from an argument, a number from .item()?)")
        if len(replayed_ops) != len(recorder.ops):
            raise JitCheckError(f"jit check: the eager run made {len(recorder.ops)} ops, the trace "
                                f"{len(replayed_ops)}: fn's graph depends on values")
        for t, g in zip(targets, replayed_grads):
            worst = difference(g, t.grad)
            if worst:
                raise JitCheckError(f"jit check: the gradient of a leaf of shape {t.shape} differs "
                                    f"from the eager run by up to {worst:.3g} (zero_grad() inside "
                                    "fn?)")
        pairs = zip(_flat(outputs), _flat(expected))
        worst = max((difference(a, b) for a, b in pairs), default=0.0)
        if worst:
            raise JitCheckError(f"jit check: fn's returned values differ from the eager run by up "
                                f"to {worst:.3g}")
        return outputs


def _argument_problems(t):
    if t._ctx is not None and t.requires_grad:
        yield (f"is made by {type(t._ctx).__name__} and requires grad (gradients cannot flow out "
               "of a jitted function: pass it detached, or its leaves by closure)")
    if t._hooks:
        yield "has hooks"


def _key(obj, leaves, seen, where):
    """The cache key of one argument; its arrays and tensors are appended to `leaves`."""
    if isinstance(obj, (Tensor, np.ndarray)):
        first = seen.get(id(obj))
        if first is not None:  # the same object twice: one input slot
            return ("same", first)
        seen[id(obj)] = len(leaves)
        leaves.append(obj)
        if isinstance(obj, Tensor):
            return ("tensor", obj.shape, obj.dtype, obj.requires_grad)
        return ("array", obj.shape, obj.dtype)
    if obj is None or isinstance(obj, (bool, int, float, str, np.generic)):
        return (type(obj), obj)
    if isinstance(obj, (tuple, list)):
        return (type(obj), tuple([_key(x, leaves, seen, where) for x in obj]))
    raise TypeError(f"jit: {where} of type {type(obj).__name__}: arguments are Tensors, numpy "
                    "arrays, numbers, None, and tuples or lists of them")


def _substitute(obj, standins):
    if isinstance(obj, (Tensor, np.ndarray)):
        return standins[id(obj)]
    if isinstance(obj, dict):
        return {k: _substitute(v, standins) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(_substitute(x, standins) for x in obj)
    return obj


def _flat(obj):
    """The arrays and numbers in a returned structure, in order, for check=True's comparison."""
    if isinstance(obj, (tuple, list)):
        return [y for x in obj for y in _flat(x)]
    if isinstance(obj, Tensor):
        return [obj.data]
    return [obj] if isinstance(obj, (np.ndarray, int, float)) else []


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
