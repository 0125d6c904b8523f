"""jit: every replay gives what the same function gives run eagerly, bit for bit in float64.

Each test builds two identical worlds (parameters from one seed): one calls fn eagerly, the other
through jit, with the same arguments and the same updates between calls; the returned values and
every leaf's .grad must be equal after every call.
"""
import numpy as np
import pytest

from tinygrad_rnn import Tensor, jit, no_grad, stack
from tinygrad_rnn.nn import CharRNN
from tinygrad_rnn.nn.functional import cross_entropy

from .jit_worlds import H, T, V, batches, check_worlds, params, plain_rnn, same

# The plain-op loop's replay is rewritten (fusion.py, batching.py): it adds x_t + b before
# h @ U, so it agrees with eager to rounding; CharRNN's replays below agree bit for bit.
PLAIN_RTOL = 1e-12

def test_plain_op_rnn_replays_as_eager_with_numpy_ids_and_grads_accumulating():
    def make():
        W, U, b, O = params(0, (V, H), (H, H), (H,), (H, V))
        return plain_rnn(W, U, b, O), [W, U, b, O]
    check_worlds(make, [(ids, tg, Tensor(h)) for ids, tg, h in batches(4)], rtol=PLAIN_RTOL)


def test_a_replay_is_one_straight_line_function_with_a_call_per_op():
    W, U, b, O = params(0, (V, H), (H, H), (H,), (H, V))
    jitted = jit(plain_rnn(W, U, b, O))
    ids, targets, h = batches(1)[0]
    jitted(ids, targets, Tensor(h))
    (trace,) = jitted._traces.values()
    assert "for " not in trace.source and "while " not in trace.source
    # each call names its op, forward and back; the step is one fused node (fusion.py)
    assert trace.source.count("# TanhAddMatMul\n") == 2 * T


def test_an_argument_tensor_that_requires_grad_gets_its_grad_accumulated():
    data = batches(3)
    worlds = []
    for _ in range(2):
        W, U, b, O = params(0, (V, H), (H, H), (H,), (H, V))
        starts = [Tensor(h, requires_grad=True) for _, _, h in data]
        worlds.append((plain_rnn(W, U, b, O), [W, U, b, O] + starts))
    (eager_fn, eager_leaves), (fn, leaves) = worlds
    jitted = jit(fn)
    for i in (0, 1, 0, 2):  # the first start twice: its .grad adds up
        ids, targets, _ = data[i]
        same(jitted(ids, targets, leaves[4 + i]), eager_fn(ids, targets, eager_leaves[4 + i]),
             PLAIN_RTOL)
    for a, b in zip(leaves, eager_leaves):
        assert a.grad is not None
        same(a.grad, b.grad, PLAIN_RTOL)


def test_parameter_updates_in_place_and_replaced_arrays_are_honoured():
    def make():
        W, U, b, O = params(0, (V, H), (H, H), (H,), (H, V))
        return plain_rnn(W, U, b, O), [W, U, b, O]

    def update(i, leaves):
        for p in leaves:
            if i % 2 == 0:
                p.data -= 0.1 * p.grad  # in place
            else:
                p.data = p.data - 0.1 * p.grad  # a new array
            p.grad = None
    check_worlds(make, [(ids, tg, Tensor(h)) for ids, tg, h in batches(5)], update,
                 rtol=PLAIN_RTOL)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_char_rnn_with_cross_entropy_and_the_state_carried(cell):
    def make():
        model = CharRNN(V, H, num_layers=2, cell=cell, embedding_size=3, dtype=np.float64,
                        rng=np.random.default_rng(0))

        def step(ids, targets, state):
            logits, state = model(ids, state)
            loss = cross_entropy(logits, targets)
            loss.backward()
            detached = (tuple(s.detach() for s in state) if isinstance(state, tuple)
                        else state.detach())
            return loss.item(), logits, detached
        return step, list(model.parameters())

    data = batches(4)
    carried = {}

    def args(i):
        def of(leaves):  # the world's own carried state; None starts each "pass"
            return data[i][0], data[i][1], None if i % 2 == 0 else carried[id(leaves)]
        return of
    (eager_fn, eager_leaves), (fn, leaves) = make(), make()
    jitted = jit(fn)
    for i in range(4):
        expected = eager_fn(*args(i)(eager_leaves))
        got = jitted(*args(i)(leaves))
        same(got, expected)
        carried[id(eager_leaves)], carried[id(leaves)] = expected[2], got[2]
        for a, b in zip(leaves, eager_leaves):
            same(a.grad, b.grad)


def test_mlp_with_broadcasting_and_elementwise_ops():
    def make():
        W1, b1, scale, W2 = params(2, (5, 6), (6,), (1, 6), (6, 2))

        def fn(x, y):
            z = ((x @ W1 + b1) * scale).relu() + (x @ W1).sigmoid() * 0.5
            out = (z @ W2).exp().log() / 2.0 - y
            loss = (out ** 2).mean() + (z - 1).sum(axis=0).max()
            loss.backward()
            return loss, out
        return fn, [W1, b1, scale, W2]
    rng = np.random.default_rng(3)
    check_worlds(make, [(rng.normal(size=(4, 5)), rng.normal(size=(4, 2))) for _ in range(3)])


def test_reductions_reshapes_indexing_stack_unbind_split():
    def make():
        (A,) = params(4, (4, 6))

        def fn(x, pick):
            y = A * x
            parts = y.unbind(axis=0)
            s = stack([parts[2], parts[0]], axis=1).reshape(3, 4).transpose()
            left, right = y.split(3, axis=1)
            total = (s.sum(axis=0, keepdims=True).max(axis=1) + y[1:3, ::2].sum()
                     + y[pick].max(axis=(0, 1)) + y[:, -1].sum()
                     + (left * right).mean(axis=-1).sum())
            total.backward()
            return total.item(), s
        return fn, [A]
    rng = np.random.default_rng(5)
    check_worlds(make, [(rng.normal(size=(4, 6)), rng.integers(0, 4, 3)) for _ in range(3)])


def test_no_grad_inside_and_two_backward_calls():
    def make():
        W, U = params(6, (3, 3), (3, 3))

        def fn(x):
            with no_grad():
                frozen = (x @ U).tanh()  # replayed, without backward
            a = ((x @ W) * frozen).sum()
            a.backward()
            b = (x @ U).sum()
            b.backward()
            return a.item(), b.item(), frozen
        return fn, [W, U]
    rng = np.random.default_rng(7)
    check_worlds(make, [(rng.normal(size=(2, 3)),) for _ in range(3)])


def test_same_array_twice_kwargs_numbers_and_none():
    def make():
        (W,) = params(8, (3, 3))

        def fn(x, y, scale, extra=None, shift=0.5):
            out = (x @ W + y) * scale + shift
            if extra is not None:
                out = out + extra
            loss = out.sum()
            loss.backward()
            return loss.item()
        return fn, [W]
    rng = np.random.default_rng(9)
    xs = [rng.normal(size=(2, 3)) for _ in range(4)]
    check_worlds(make, [(x, x, 2.0, None) for x in xs[:2]] + [(x, x, 3.0, x) for x in xs[2:]])
    (W,) = params(8, (3, 3))
    f = jit(lambda x, *, shift: (x @ W + shift).sum().item())
    assert f(xs[0], shift=1.0) == (xs[0] @ W.data + 1.0).sum()
    assert f(xs[1], shift=1.0) == (xs[1] @ W.data + 1.0).sum()


def test_new_shapes_and_dtypes_retrace_and_the_cache_is_bounded():
    (W,) = params(10, (3, 3))
    traced = []

    def fn(x):
        traced.append(x.shape)  # Python runs only when tracing
        loss = (Tensor(x) @ W).sum()
        loss.backward()
        return loss.item()
    f = jit(fn, cache_size=2)
    rng = np.random.default_rng(11)
    shapes = [(1, 3), (2, 3), (1, 3), (2, 3), (4, 3), (1, 3)]
    for shape in shapes:
        x = rng.normal(size=shape)
        assert f(x) == (x @ W.data).sum()
    assert traced == [(1, 3), (2, 3), (4, 3), (1, 3)]  # (1, 3) dropped when (4, 3) came
    x32 = rng.normal(size=(1, 3)).astype(np.float32)
    f(x32)
    assert traced[-1] == (1, 3) and len(traced) == 5


def test_returned_arrays_and_a_grad_set_to_none_are_fresh_each_call():
    (W,) = params(12, (3, 3))

    @jit
    def f(x):
        y = Tensor(x) @ W
        y.sum().backward()
        return y, y.data, Tensor(x).reshape(9)
    rng = np.random.default_rng(13)
    xs = [rng.normal(size=(3, 3)) for _ in range(3)]
    results, grads = [], []
    for x in xs:
        W.grad = None
        results.append(f(x))
        grads.append(W.grad)
    for x, (y, arr, flat), g in zip(xs, results, grads):
        same(y.data, x @ W.data)
        same(arr, x @ W.data)
        same(flat.data, x.reshape(9))
        same(g, x.T @ np.ones((3, 3)))
    assert grads[0] is not grads[1] and results[0][1] is not results[1][1]


def test_a_jitted_function_inside_another_runs_as_part_of_the_outer_trace(recwarn):
    (W,) = params(14, (3, 3))

    def cell(h):
        return (h @ W).tanh()
    inner = jit(cell)

    def outer(x, cell):
        loss = cell(cell(Tensor(x))).sum()
        loss.backward()
        return loss.item()
    f = jit(lambda x: outer(x, inner))
    for x in np.random.default_rng(15).normal(size=(3, 2, 3)):
        W.grad = None
        expected = outer(x, cell)
        g = W.grad
        W.grad = None
        assert f(x) == expected
        same(W.grad, g)
    assert not recwarn.list


def test_unsupported_argument_types_are_named():
    f = jit(lambda x: x)
    with pytest.raises(TypeError, match="argument of type dict"):
        f({"a": 1})
    with pytest.raises(ValueError, match="cache_size"):
        jit(lambda x: x, cache_size=0)
