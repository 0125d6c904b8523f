"""The benchmark's baselines are only meaningful if they are right: the hand-written BPTT must
compute the same gradient as autograd through CharRNN, and every contender must run."""
import os
import sys

import numpy as np
import pytest

from tinygrad_rnn import Tensor, check_gradients
from tinygrad_rnn.nn import CharRNN, cross_entropy

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
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
    np.testing.assert_allclose(loss, loss_fn({k: Tensor(v) for k, v in p.items()}).item(), rtol=1e-12)


def test_every_contender_runs_and_the_model_learns():
    contenders = run.make_contenders(2, 5, 8, np.float32)
    for name in ("handwritten", "gemm_floor", "model", "engine"):
        contenders[name]()
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
