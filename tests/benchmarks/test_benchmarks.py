"""The benchmark's baselines are only meaningful if they are right: the hand-written BPTT must
compute the same gradient as autograd through CharRNN, and every contender must run."""
import os
import sys

import numpy as np
import pytest

from tinygrad_rnn import Tensor, check_gradients
from tinygrad_rnn.nn import CharRNN, cross_entropy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import handwritten  # noqa: E402
import run  # noqa: E402
import torch_contenders  # noqa: E402


def test_handwritten_bptt_equals_autograd():
    V, H, B, T = 7, 5, 3, 6
    rng = np.random.default_rng(0)
    ids, targets = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    h0 = rng.uniform(-0.5, 0.5, (B, H))
    p = handwritten.init_params(V, H, np.float64)
    loss, grads, _ = handwritten.loss_and_grads(p, ids, targets, h0)

    def loss_fn(t):  # CharRNN, with its parameters swapped for the tensors under test
        model = CharRNN(V, H, embedding_size=None, dtype=np.float64)
        model.rnn.layers[0].weight_xh, model.rnn.layers[0].weight_hh = t["Wxh"], t["Whh"]
        model.rnn.layers[0].bias, model.head.weight, model.head.bias = t["bh"], t["Why"], t["by"]
        logits, _ = model(ids, h0[None])
        return cross_entropy(logits, targets)

    report = check_gradients(loss_fn, p, grads, rtol=1e-10)
    assert report.ok, str(report)
    value = loss_fn({k: Tensor(v) for k, v in p.items()}).item()
    np.testing.assert_allclose(loss, value, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_tinygrad_contender_computes_the_handwritten_gradient(dtype):
    """Each contender's step, traced and replayed too (the jitted ones), takes the gradient the
    hand-written BPTT takes; with lr=0 the weights stay put, so every call computes the same."""
    contenders = run.make_contenders(3, 6, 8, dtype, lr=0.0)
    contenders["handwritten"]()
    expected = contenders["handwritten"].grads()
    tol = 1e-10 if dtype == np.float64 else 2e-4
    for name in ("model", "model_jit", "engine", "engine_jit"):
        for _ in range(3):
            contenders[name]()
            for key, g in contenders[name].grads().items():
                np.testing.assert_allclose(g, expected[key], rtol=tol, atol=tol * 1e-2,
                                           err_msg=f"{name}: {key}")


def test_the_floor_and_the_other_tables_run():
    contenders = run.make_contenders(2, 5, 8, np.float32)
    contenders["gemm_floor"]()
    for step in run.cell_contenders(2, 5, 8, np.float32).values():
        step()
        step()
    project = run.min_char_rnn_contenders(seq_len=5, hidden=8)
    project["document"]()
    project["project"]()


def test_pytorch_contenders_train_the_same_model_when_torch_is_installed():
    pytest.importorskip("torch")

    V, H, B, T = 7, 5, 3, 6
    rng = np.random.default_rng(0)
    ids, targets = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    p = handwritten.init_params(V, H, np.float64)
    _, grads, _ = handwritten.loss_and_grads(p, ids, targets, np.zeros((B, H)))
    contenders = torch_contenders.make_contenders(p, ids, targets, lr=1.0, threads=1)
    for name in ("torch_eager", "torch_rnn"):
        # one SGD step with lr 1 moves each weight by minus its gradient: read the gradient back
        before = {k: v.copy() for k, v in p.items()}
        contenders[name]()
        for key, after in contenders[name].weights().items():
            np.testing.assert_allclose(before[key] - after, grads[key], rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name}: {key}")
