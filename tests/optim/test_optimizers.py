"""Optimizers: every step against the update formula written out in numpy, and against PyTorch;
state_dict round trips; parameter groups; validation."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor
from tinygrad_rnn.optim import SGD, Adagrad, Adam, AdamW

from ..helpers import rand

STEPS = 5


# --- the update rules, written out independently ------------------------------------------------

def sgd_steps(p, grads, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False):
    buf, out = None, []
    for g in grads:
        d = g + weight_decay * p
        if momentum:
            buf = d if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
        out.append(p)
    return out


def adagrad_steps(p, grads, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                  eps=1e-10):
    s, out = np.full_like(p, initial_accumulator_value), []
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        s = s + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)
        out.append(p)
    return out


def adam_steps(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled=False):
    (b1, b2), m, v, out = betas, np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def adamw_steps(p, grads, weight_decay=1e-2, **kw):
    return adam_steps(p, grads, weight_decay=weight_decay, decoupled=True, **kw)


CASES = [
    (SGD, sgd_steps, dict(lr=0.1)),
    (SGD, sgd_steps, dict(lr=0.1, momentum=0.9)),
    (SGD, sgd_steps, dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.05)),
    (SGD, sgd_steps, dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.1)),
    (Adagrad, adagrad_steps, dict()),
    (Adagrad, adagrad_steps, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1,
                                  initial_accumulator_value=0.3, eps=1e-6)),
    (Adam, adam_steps, dict()),
    (Adam, adam_steps, dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    (AdamW, adamw_steps, dict()),
    (AdamW, adamw_steps, dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.5)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _, _) in enumerate(CASES)]


def run(cls, kwargs, p0, grads):
    p = Tensor(p0.copy(), requires_grad=True)
    opt = cls([p], **kwargs)
    out = []
    for g in grads:
        p.grad = g.copy()
        opt.step()
        out.append(p.data.copy())
    return out


def problem(seed=0):
    return rand(3, 4, seed=seed), [rand(3, 4, seed=seed + 1 + t) for t in range(STEPS)]


@pytest.mark.parametrize("cls, formula, kwargs", CASES, ids=IDS)
def test_each_step_follows_the_formula(cls, formula, kwargs):
    p0, grads = problem()
    for got, want in zip(run(cls, kwargs, p0, grads), formula(p0, grads, **kwargs)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cls, formula, kwargs", CASES, ids=IDS)
def test_each_step_matches_pytorch(cls, formula, kwargs):
    torch = pytest.importorskip("torch")
    p0, grads = problem()
    tp = torch.tensor(p0.copy(), requires_grad=True)
    topt = getattr(torch.optim, cls.__name__)([tp], **kwargs)
    for got, g in zip(run(cls, kwargs, p0, grads), grads):
        tp.grad = torch.tensor(g)
        topt.step()
        np.testing.assert_allclose(got, tp.detach().numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cls", [SGD, Adagrad, Adam, AdamW])
def test_float32_parameters_stay_float32(cls):
    p = Tensor(rand(3).astype(np.float32), requires_grad=True)
    opt = cls([p], lr=0.1, **({"momentum": 0.9} if cls is SGD else {}))
    data = p.data
    for _ in range(2):
        p.grad = np.ones(3, np.float32)
        opt.step()
    assert p.data is data and p.dtype == np.float32  # updated in place
    assert all(v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, np.ndarray))


def test_parameters_without_grad_are_skipped_and_zero_grad_clears():
    a, b = Tensor(rand(2), requires_grad=True), Tensor(rand(2, seed=1), requires_grad=True)
    before = b.data.copy()
    opt = Adam([a, b])
    a.grad = np.ones(2)
    opt.step()
    np.testing.assert_array_equal(b.data, before)
    assert b not in opt.state or not opt.state[b]
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_param_groups_have_their_own_hyperparameters():
    a, b = Tensor(np.zeros(2), requires_grad=True), Tensor(np.zeros(2), requires_grad=True)
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1.0]
    for p in (a, b):
        p.grad = np.ones(2)
    opt.step()
    np.testing.assert_allclose(a.data, [-0.1, -0.1])
    np.testing.assert_allclose(b.data, [-1.0, -1.0])
    opt.param_groups[0]["lr"] = 0.5  # how a schedule changes the learning rate
    opt.step()
    np.testing.assert_allclose(a.data, [-0.6, -0.6])


def test_accepts_a_generator_of_parameters():
    from tinygrad_rnn.nn import Linear

    layer = Linear(2, 3)
    opt = SGD(layer.parameters(), lr=0.1)
    assert opt.param_groups[0]["params"] == [layer.weight, layer.bias]


@pytest.mark.parametrize("make, message", [
    (lambda p: SGD([p], lr=-1), "invalid learning rate: -1"),
    (lambda p: SGD([p], lr=0.1, momentum=-0.5), "invalid momentum"),
    (lambda p: SGD([p], lr=0.1, weight_decay=-1), "invalid weight_decay"),
    (lambda p: SGD([p], lr=0.1, nesterov=True), "nesterov"),
    (lambda p: SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (lambda p: Adagrad([p], lr_decay=-1), "invalid lr_decay"),
    (lambda p: Adagrad([p], initial_accumulator_value=-1), "invalid initial_accumulator_value"),
    (lambda p: Adagrad([p], eps=-1), "invalid eps"),
    (lambda p: Adam([p], lr=-0.1), "invalid learning rate"),
    (lambda p: Adam([p], betas=(0.9, 1.0)), r"invalid betas: \(0.9, 1.0\)"),
    (lambda p: Adam([p], betas=(-0.1, 0.9)), "invalid betas"),
    (lambda p: AdamW([p], weight_decay=-1), "invalid weight_decay"),
    (lambda p: AdamW([p], eps=-1), "invalid eps"),
    (lambda p: SGD([], lr=0.1), "empty parameter list"),
    (lambda p: SGD([p, p], lr=0.1), "more than once"),
])
def test_bad_hyperparameters_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make(Tensor(np.zeros(2), requires_grad=True))


def test_params_must_be_an_iterable_of_tensors():
    with pytest.raises(TypeError, match="single Tensor"):
        SGD(Tensor(np.zeros(2), requires_grad=True), lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors, got ndarray"):
        SGD([np.zeros(2)], lr=0.1)


# --- state_dict ---------------------------------------------------------------------------------

def as_read_back(tree):
    """What a checkpoint reader may hand back: tuples as lists, numbers as 0-d arrays."""
    if isinstance(tree, dict):
        return {k: as_read_back(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [as_read_back(v) for v in tree]
    return np.asarray(tree)


@pytest.mark.parametrize("cls, formula, kwargs", CASES, ids=IDS)
@pytest.mark.parametrize("read_back", [False, True])
def test_state_dict_round_trip_resumes_exactly(cls, formula, kwargs, read_back):
    p0, grads = problem()
    p = Tensor(p0.copy(), requires_grad=True)
    opt = cls([p], **kwargs)
    for g in grads[:3]:
        p.grad = g.copy()
        opt.step()
    sd = opt.state_dict()

    q = Tensor(p.data.copy(), requires_grad=True)
    resumed = cls([q], lr=123.0)  # hyperparameters come from the state_dict
    resumed.load_state_dict(as_read_back(sd) if read_back else sd)
    assert resumed.param_groups[0] == {**opt.param_groups[0], "params": [q]}
    for g in grads[3:]:
        p.grad, q.grad = g.copy(), g.copy()
        opt.step()
        resumed.step()
    np.testing.assert_array_equal(q.data, p.data)


def test_state_dict_layout_and_copies():
    a, b = Tensor(rand(2, 3), requires_grad=True), Tensor(rand(3), requires_grad=True)
    opt = Adam([{"params": [a]}, {"params": [b], "lr": 0.1}])
    a.grad = np.ones((2, 3))
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"] == [
        {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "params": [0]},
        {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "params": [1]}]
    assert list(sd["state"]) == [0] and sd["state"][0]["step"] == 1  # b has taken no step
    saved = sd["state"][0]["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"], saved)  # a copy, not the live state


def test_load_state_dict_refuses_a_mismatch_and_changes_nothing():
    p = Tensor(rand(2, 3), requires_grad=True)
    opt = Adam([p], lr=0.5)
    p.grad = np.ones((2, 3))
    opt.step()
    sd = opt.state_dict()

    other = Adam([Tensor(rand(3, 2), requires_grad=True)])
    with pytest.raises(ValueError, match=r"state 0.exp_avg has shape \(2, 3\), expected \(3, 2\)"):
        other.load_state_dict(sd)
    assert other.state == {} and other.param_groups[0]["lr"] == 1e-3
    with pytest.raises(ValueError, match="parameter group 0 has 2 parameters, the state_dict's 1"):
        Adam([Tensor(rand(2, 3), requires_grad=True), Tensor(rand(1), requires_grad=True)]
             ).load_state_dict(sd)
    with pytest.raises(ValueError, match="state_dict has 1 parameter groups, the optimizer 2"):
        Adam([{"params": [p]}, {"params": [Tensor(rand(1), requires_grad=True)]}]
             ).load_state_dict(sd)
