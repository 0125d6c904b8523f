"""What a trace cannot see: check=True names the op, the detectable cases run eagerly with a
warning (and still give eager's results), and replays keep nothing alive."""
import gc
import tracemalloc

import numpy as np
import pytest

from tinygrad_rnn import AnomalyError, Tensor, detect_anomaly, jit
from tinygrad_rnn.jit import JitCheckError, JitWarning

from .jit_worlds import check_worlds, params, same


def test_check_names_the_op_reading_an_array_computed_in_numpy_from_an_argument():
    (W,) = params(0, (4, 3))

    @jit(check=True)
    def f(ids):
        loss = (W[ids % 2] * 2.0).sum()  # ids % 2 is a new array: frozen by the trace
        loss.backward()
        return loss.item()
    f(np.array([0, 1, 2]))
    with pytest.raises(JitCheckError, match=r"op 0 \(GetItem.*differs .* by up to [0-9.e+-]+"):
        f(np.array([1, 1, 1]))


def test_check_names_the_op_where_python_branched_on_a_value():
    (W,) = params(1, (3,))

    @jit(check=True)
    def f(x):
        y = Tensor(x) * W
        z = y.tanh() if x.sum() > 0 else y.sigmoid()
        loss = z.sum()
        loss.backward()
        return loss.item()
    f(np.ones(3))
    f(np.full(3, 2.0))  # same branch: fine
    with pytest.raises(JitCheckError, match="op 1 is Sigmoid in the eager run .* but Tanh in"):
        f(-np.ones(3))


def test_check_finds_a_number_from_item_used_in_an_op_and_zero_grad_inside_fn():
    (W,) = params(2, (3,))

    @jit(check=True)
    def scaled(x):
        s = (Tensor(x) * W).sum()
        loss = s * s.item()  # the number is a constant of the trace
        loss.backward()
        return loss.item()
    scaled(np.ones(3))
    with pytest.raises(JitCheckError, match=r"op 2 \(Mul"):
        scaled(np.full(3, 3.0))

    @jit(check=True)
    def zeroing(x):
        W.grad = None  # a side effect outside ops: runs at trace time only
        (Tensor(x) * W).sum().backward()
    zeroing(np.ones(3))
    with pytest.raises(JitCheckError, match=r"gradient of a leaf of shape \(3,\)"):
        zeroing(np.ones(3))


def test_check_passes_a_faithful_function_without_counting_gradients_twice():
    def make():
        W, b = params(3, (3, 2), (2,))

        def fn(x):
            loss = (Tensor(x) @ W + b).tanh().sum()
            loss.backward()
            return loss.item()
        return fn, [W, b]
    (eager_fn, eager_leaves), (fn, leaves) = make(), make()
    f = jit(fn, check=True)
    for x in np.random.default_rng(4).normal(size=(4, 5, 3)):
        same(f(x), eager_fn(x))
        for a, b in zip(leaves, eager_leaves):
            same(a.grad, b.grad)


def eager_with_warning(make, calls, match):
    with pytest.warns(JitWarning, match=match):
        check_worlds(make, calls)


def xs(n=3, shape=(2, 3), seed=5):
    return [(x,) for x in np.random.default_rng(seed).normal(size=(n,) + shape)]


def test_retain_graph_runs_eagerly_with_a_warning():
    def make():
        (W,) = params(6, (3, 3))

        def fn(x):
            loss = (Tensor(x) @ W).tanh().sum()
            loss.backward(retain_graph=True)
            loss.backward()
            return loss.item()
        return fn, [W]
    eager_with_warning(make, xs(), r"retain_graph=True.*running it eagerly")


def test_hooks_and_retain_grad_inside_fn_run_eagerly_with_a_warning():
    def make():
        (W,) = params(7, (3, 3))

        def fn(x):
            y = Tensor(x) @ W
            y.register_hook(lambda g: g * 2)
            z = y.tanh()
            z.retain_grad()
            z.sum().backward()
            return z.grad
        return fn, [W]
    eager_with_warning(make, xs(), "retain_grad.. or register_hook")


def test_a_hook_on_a_parameter_is_honoured_by_replays():
    (W,) = params(8, (3,))
    seen = []
    f = jit(lambda x: (Tensor(x) * W).sum().backward())
    f(np.ones(3))
    W.register_hook(lambda g: seen.append(g.copy()) or g * 10)
    W.grad = None
    f(np.full(3, 2.0))
    same(seen[-1], np.full(3, 2.0))
    same(W.grad, np.full(3, 20.0))


def test_gradients_into_a_graph_built_outside_run_eagerly_with_a_warning():
    def make():
        (W,) = params(9, (3, 3))
        outside = W * 2.0  # a closure tensor made by an op before fn runs

        def fn(x):
            loss = (Tensor(x) @ outside).sum()
            loss.backward(retain_graph=False)
            return loss.item()
        return fn, [W]
    with pytest.warns(JitWarning, match="outside fn"):
        (fn, leaves) = make()
        jit(fn)(np.ones((2, 3)))
    assert leaves[0].grad is not None


def test_an_argument_that_is_a_non_leaf_requiring_grad_runs_eagerly_with_a_warning():
    def make():
        (W,) = params(10, (3, 3))

        def fn(h):
            loss = (h @ W).sum()
            loss.backward()
            return loss.item()
        return fn, [W]
    calls = [lambda leaves, x=x: (Tensor(x, requires_grad=True) * 1.0,) for (x,) in xs()]
    eager_with_warning(make, calls, "argument tensor 0 is made by Mul and requires grad")


def test_returned_numbers_not_from_item_run_eagerly_with_a_warning():
    def make():
        (W,) = params(11, (3,))

        def fn(x):
            (Tensor(x) * W).sum().backward()
            return float(x.sum())  # computed in Python: a trace would freeze it
        return fn, [W]
    eager_with_warning(make, xs(shape=(3,)), "returns the number .* not made by Tensor.item")


def test_detect_anomaly_runs_a_traced_function_eagerly():
    (W,) = params(12, (3,))
    f = jit(lambda x: (Tensor(x) * W).log().sum().backward())
    f(np.ones(3))
    f(np.ones(3))
    with detect_anomaly(), np.errstate(invalid="ignore"), pytest.raises(AnomalyError, match="Log"):
        f(-np.ones(3))


def test_a_grad_mode_change_is_a_new_trace():
    (W,) = params(13, (3,))
    from tinygrad_rnn import no_grad
    f = jit(lambda x: (Tensor(x) * W).sum())
    with no_grad():
        assert f(np.ones(3)).data == W.data.sum()
        assert f(np.full(3, 2.0)).data == 2 * W.data.sum()
    with pytest.warns(JitWarning, match="calls no backward"):
        f(np.ones(3))


def live_tensors():
    gc.collect()
    return sum(isinstance(o, Tensor) for o in gc.get_objects())


def test_replays_keep_nothing_alive():
    W, U = params(14, (50, 20), (20, 20))

    @jit
    def f(ids, h):
        h = Tensor(h)
        for t in range(ids.shape[1]):
            h = (W[ids[:, t]] + h @ U).tanh()
        loss = (h * h).sum()
        loss.backward()
        return loss.item(), h
    rng = np.random.default_rng(15)
    ids, h = rng.integers(0, 50, (8, 10)), rng.normal(size=(8, 20))
    for _ in range(3):
        W.grad = U.grad = None
        _, out = f(ids, h)
    del out
    tensors = live_tensors()
    tracemalloc.start()
    for _ in range(3):
        W.grad = U.grad = None
        _, out = f(ids, h)
    del out
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(20):
        W.grad = U.grad = None
        _, out = f(ids, h)
    del out
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert live_tensors() == tensors
    assert after - before < 4096  # not one more array of the step (8 x 20 floats is 1280 bytes)
