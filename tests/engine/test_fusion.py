"""The rewrites of a trace before batching (fusion.py): tanh(a + h W) becomes the fused node,
(x + h W) + b adds b first; never where an intermediate is read elsewhere. Replays against eager."""
import numpy as np
import pytest

from .jit_worlds import H, T, check_worlds, params

RTOL = 1e-12


def loop(form):
    def make():
        U, b, X = params(7, (H, H), (H,), (T, 3, H))

        def fn(h):
            total = 0
            for t in range(T):
                x = X[t]
                if form == "x + hU":
                    z = (x + h @ U).tanh()
                elif form == "hU + x":
                    z = (h @ U + x).tanh()
                elif form == "x + hU + b":
                    z = (x + h @ U + b).tanh()
                else:  # the sum is read twice: it must stay
                    s = x + h @ U
                    z = s.tanh() + s.sum()
                total = total + (z * z).sum()
                h = z
            total.backward()
            return total.item()
        return fn, [U, b, X]
    return make


def source_of(jitted):
    (trace,) = jitted._traces.values()
    return trace.source


@pytest.mark.parametrize("form", ["x + hU", "hU + x", "x + hU + b", "sum read twice"])
def test_rewritten_steps_replay_as_eager(form):
    h = np.random.default_rng(8).normal(size=(3, H))
    jitted = check_worlds(loop(form), [(h,), (h * 0.5,)], rtol=RTOL)
    fused = source_of(jitted).count("# TanhAddMatMul\n")
    assert fused == (0 if form == "sum read twice" else 2 * T)  # forward and backward


def test_the_bias_is_added_before_the_product_waits():
    jitted = check_worlds(loop("x + hU + b"), [(np.ones((3, H)),)], rtol=RTOL)
    source = source_of(jitted)
    # x_t + b for all steps in one Add (batched), and the running total as one: none is left
    # inside the recurrence
    assert sum(1 for line in source.splitlines() if "= forward_" in line
               and line.endswith("# Add")) == 2
