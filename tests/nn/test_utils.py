"""Gradient clipping against its formula written out in numpy, and against PyTorch."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor
from tinygrad_rnn.nn.utils import clip_grad_norm_, clip_grad_value_

from ..helpers import rand


def params_with_grads(seed=0, scale=1.0):
    shapes = [(3, 4), (4,), (2, 2)]
    params = [Tensor(np.zeros(s), requires_grad=True) for s in shapes]
    for i, p in enumerate(params):
        p.grad = rand(*p.shape, seed=seed + i) * scale
    return params


@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_scales_by_max_norm_over_the_total_norm(max_norm):
    params = params_with_grads()
    before = [p.grad.copy() for p in params]
    total = np.sqrt(sum((g ** 2).sum() for g in before))  # one long vector's 2-norm
    returned = clip_grad_norm_(params, max_norm)
    assert isinstance(returned, float)
    np.testing.assert_allclose(returned, total, rtol=1e-12)
    coef = min(1.0, max_norm / (total + 1e-6))
    for p, g in zip(params, before):
        np.testing.assert_allclose(p.grad, g * coef, rtol=1e-12)
    if max_norm < total:
        np.testing.assert_allclose(np.sqrt(sum((p.grad ** 2).sum() for p in params)), max_norm,
                                   rtol=1e-5)


def test_clip_grad_norm_in_place_other_norms_and_none_grads():
    params = params_with_grads()
    params.append(Tensor(np.zeros(3), requires_grad=True))  # never got a gradient: skipped
    arrays = [p.grad for p in params[:-1]]
    largest = max(np.abs(g).max() for g in arrays)
    assert clip_grad_norm_(params, 0.1, norm_type=float("inf")) == largest
    assert all(p.grad is g for p, g in zip(params, arrays))  # scaled in place
    np.testing.assert_allclose(max(np.abs(g).max() for g in arrays), 0.1, rtol=1e-5)
    assert params[-1].grad is None
    l1 = sum(np.abs(g).sum() for g in arrays)
    np.testing.assert_allclose(clip_grad_norm_(params, 100.0, norm_type=1), l1, rtol=1e-12)


def test_clip_grad_norm_single_tensor_and_nothing_to_clip():
    p = Tensor(np.zeros(2), requires_grad=True)
    assert clip_grad_norm_([p], 1.0) == 0.0
    p.grad = np.array([3.0, 4.0])
    assert clip_grad_norm_(p, 1.0) == 5.0
    np.testing.assert_allclose(p.grad, [3 / (5 + 1e-6), 4 / (5 + 1e-6)], rtol=1e-12)


def test_clip_grad_value_clips_every_entry_in_place():
    params = params_with_grads(scale=3.0)
    arrays = [p.grad for p in params]
    want = [np.clip(g, -1.5, 1.5) for g in arrays]
    assert clip_grad_value_(params, 1.5) is None
    for p, g, w in zip(params, arrays, want):
        assert p.grad is g
        np.testing.assert_array_equal(p.grad, w)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_matches_pytorch(norm_type):
    torch = pytest.importorskip("torch")
    params = params_with_grads()
    tparams = [torch.zeros(p.shape, dtype=torch.float64, requires_grad=True) for p in params]
    for p, t in zip(params, tparams):
        t.grad = torch.tensor(p.grad)
    total = clip_grad_norm_(params, 0.7, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, 0.7, norm_type)
    np.testing.assert_allclose(total, ttotal.item(), rtol=1e-12)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)


def test_clip_grad_value_matches_pytorch():
    torch = pytest.importorskip("torch")
    params = params_with_grads(scale=3.0)
    tparams = [torch.zeros(p.shape, dtype=torch.float64, requires_grad=True) for p in params]
    for p, t in zip(params, tparams):
        t.grad = torch.tensor(p.grad)
    clip_grad_value_(params, 1.5)
    torch.nn.utils.clip_grad_value_(tparams, 1.5)
    for p, t in zip(params, tparams):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())
