"""cross_entropy and nll_loss: against the numpy formula, finite differences, and PyTorch."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor, gradcheck
from tinygrad_rnn.nn.functional import cross_entropy, nll_loss

from ..helpers import rand


def numpy_cross_entropy(z, y):
    """Per-position loss logsumexp(z) - z[y], with logsumexp shifted by the max."""
    m = z.max(axis=-1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]
    return lse - np.take_along_axis(z, y[..., None], axis=-1)[..., 0]


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 4)])
def test_value_and_gradient_against_the_formula(shape):
    z = rand(*shape)
    y = np.random.default_rng(1).integers(0, shape[-1], shape[:-1])
    N = y.size
    for reduction, scale in (("mean", 1 / N), ("sum", 1.0)):
        logits = Tensor(z.copy(), requires_grad=True)
        loss = cross_entropy(logits, y, reduction=reduction)
        assert loss.shape == ()
        np.testing.assert_allclose(loss.data, numpy_cross_entropy(z, y).sum() * scale, rtol=1e-12)
        loss.backward()
        # dL/dz = softmax(z) - onehot(y), times 1/N for the mean
        want = (softmax(z) - np.eye(shape[-1])[y]) * scale
        np.testing.assert_allclose(logits.grad, want, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradcheck(reduction):
    logits = Tensor(rand(2, 3, 5), requires_grad=True)
    y = np.array([[0, 4, 4], [2, 1, 3]])
    assert gradcheck(lambda z: cross_entropy(z, y, reduction=reduction), [logits])


def test_finite_for_huge_logits():
    logits = Tensor(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]]), requires_grad=True)
    loss = cross_entropy(logits, np.array([0, 0]), reduction="sum")
    # Row 0 predicts its target with certainty (loss 0); row 1 gives it e^-2e4 / 2.
    np.testing.assert_allclose(loss.data, 2e4 + np.log(2), rtol=1e-12)
    loss.backward()
    assert np.all(np.isfinite(logits.grad))
    np.testing.assert_allclose(logits.grad, [[0, 0, 0], [-1, 0.5, 0.5]], atol=1e-12)


def test_float32_stays_float32():
    loss = cross_entropy(Tensor(rand(4, 3).astype(np.float32)), np.array([0, 1, 2, 0]))
    assert loss.dtype == np.float32


def test_targets_as_tensor():
    z = rand(3, 4)
    y = np.array([3, 0, 1])
    np.testing.assert_allclose(cross_entropy(Tensor(z), Tensor(y)).data,
                               numpy_cross_entropy(z, y).mean(), rtol=1e-12)


def test_nll_loss_picks_the_targets_log_probabilities():
    logp = Tensor(np.log(softmax(rand(4, 3))), requires_grad=True)
    y = np.array([2, 0, 0, 1])
    loss = nll_loss(logp, y)
    np.testing.assert_allclose(loss.data, -logp.data[np.arange(4), y].mean(), rtol=1e-12)
    loss.backward()
    want = np.zeros((4, 3))
    want[np.arange(4), y] = -1 / 4
    np.testing.assert_array_equal(logp.grad, want)


@pytest.mark.parametrize("targets, error, message", [
    (np.array([0, 1]), ValueError, r"targets of shape \(2,\) do not match inputs of shape "
                                   r"\(3, 4\): expected targets of shape \(3,\)"),
    (np.array([0, 4, 1]), IndexError, r"target 4 is out of range \[0, 4\)"),
    (np.array([0, -1, 1]), IndexError, r"target -1 is out of range"),
    (np.array([0.0, 1.0, 2.0]), TypeError, "integer"),
])
def test_bad_targets(targets, error, message):
    with pytest.raises(error, match=message):
        cross_entropy(Tensor(rand(3, 4)), targets)


def test_unknown_reduction():
    with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum'\), got 'none'"):
        cross_entropy(Tensor(rand(3, 4)), np.array([0, 1, 2]), reduction="none")


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_matches_pytorch(reduction):
    torch = pytest.importorskip("torch")
    z, y = rand(7, 5), np.random.default_rng(2).integers(0, 5, 7)
    logits, tz = Tensor(z.copy(), requires_grad=True), torch.tensor(z, requires_grad=True)
    loss = cross_entropy(logits, y, reduction=reduction)
    tloss = torch.nn.functional.cross_entropy(tz, torch.tensor(y), reduction=reduction)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(loss.data, tloss.item(), rtol=1e-12)
    np.testing.assert_allclose(logits.grad, tz.grad.numpy(), rtol=1e-10, atol=1e-15)
