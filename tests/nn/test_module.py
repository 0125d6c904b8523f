"""Module: finding parameters by attribute, names, state_dict save/load, modes, repr."""
import io

import numpy as np
import pytest

from tinygrad_rnn import Tensor
from tinygrad_rnn.nn import Linear, Module, Parameter


class Block(Module):
    def __init__(self, rng):
        self.scale = Parameter(np.ones(3))
        self.fc = Linear(3, 2, dtype=np.float64, rng=rng)

    def forward(self, x):
        return self.fc(x * self.scale)


class Net(Module):
    def __init__(self, rng=None):
        rng = np.random.default_rng(0) if rng is None else rng
        self.first = Linear(2, 3, dtype=np.float64, rng=rng)
        self.blocks = [Block(rng), Block(rng)]
        self.pair = (Parameter(np.zeros(1)), Parameter(np.zeros(2)))
        self.note = "not a parameter"
        self.numbers = [1, 2, 3]
        self.constant = Tensor(np.ones(2))  # a plain Tensor is not a parameter

    def forward(self, x):
        for block in self.blocks:
            x = block(self.first(x))
        return x


# As in PyTorch: a module's own parameters first, then each submodule's, in attribute order.
NAMES = ["pair.0", "pair.1", "first.weight", "first.bias", "blocks.0.scale", "blocks.0.fc.weight",
         "blocks.0.fc.bias", "blocks.1.scale", "blocks.1.fc.weight", "blocks.1.fc.bias"]


def test_parameter_is_a_tensor_that_requires_grad_and_wraps_without_copy():
    a = np.zeros(3)
    p = Parameter(a)
    assert isinstance(p, Tensor) and p.requires_grad and p.data is a
    assert not Parameter(a, requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\nTensor(")


def test_named_parameters_have_dotted_names_in_a_stable_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == NAMES
    assert [p for p in net.parameters()] == [p for _, p in net.named_parameters()]
    assert net.blocks[1].fc.weight is dict(net.named_parameters())["blocks.1.fc.weight"]


def test_named_modules_and_children():
    net = Net()
    assert [n for n, _ in net.named_modules()] == [
        "", "first", "blocks.0", "blocks.0.fc", "blocks.1", "blocks.1.fc"]
    assert [n for n, _ in net.named_children()] == ["first", "blocks.0", "blocks.1"]
    assert list(net.children())[0] is net.first


def test_a_shared_parameter_is_listed_once():
    net = Net()
    net.blocks[1].fc.weight = net.blocks[0].fc.weight
    names = [n for n, _ in net.named_parameters()]
    assert "blocks.0.fc.weight" in names and "blocks.1.fc.weight" not in names
    assert len(list(net.parameters())) == len(NAMES) - 1


def test_call_runs_forward_and_zero_grad_clears():
    net = Net()
    out = net(Tensor(np.ones((4, 2))))
    assert out.shape == (4, 2)
    out.sum().backward()
    used = [p for n, p in net.named_parameters() if not n.startswith("pair")]
    assert all(p.grad is not None for p in used)
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        Module()(1)


def test_train_and_eval_set_the_flag_everywhere():
    net = Net()
    assert net.training and net.blocks[0].fc.training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_state_dict_is_a_dict_of_array_copies():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == NAMES
    assert all(type(v) is np.ndarray for v in sd.values())
    sd["first.weight"] += 1  # a copy: the model does not change
    assert not np.array_equal(sd["first.weight"], net.first.weight.data)


def test_load_state_dict_round_trip_copies_into_the_existing_arrays():
    src, dst = Net(np.random.default_rng(1)), Net(np.random.default_rng(2))
    before = {n: p.data for n, p in dst.named_parameters()}
    result = dst.load_state_dict(src.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for name, p in dst.named_parameters():
        assert p.data is before[name]  # same array object, new contents
        np.testing.assert_array_equal(p.data, src.state_dict()[name])


def test_state_dict_saves_and_loads_through_npz_without_pickle():
    src, dst = Net(np.random.default_rng(1)), Net(np.random.default_rng(2))
    buffer = io.BytesIO()
    np.savez(buffer, **src.state_dict())
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        dst.load_state_dict(dict(npz))
    x = Tensor(np.ones((1, 2)))
    np.testing.assert_array_equal(dst(x).data, src(x).data)


def test_load_state_dict_names_the_key_and_both_shapes():
    net = Net()
    sd = net.state_dict()
    sd["first.weight"] = np.zeros((5, 3))
    with pytest.raises(RuntimeError, match=r"first\.weight.*\(5, 3\).*\(2, 3\)"):
        net.load_state_dict(sd)


def test_load_state_dict_checks_dtype():
    net = Net()
    sd = net.state_dict()
    sd["first.bias"] = sd["first.bias"].astype(np.float32)
    with pytest.raises(RuntimeError, match="first.bias.*float32.*float64"):
        net.load_state_dict(sd)


def test_load_state_dict_strict_names():
    net = Net()
    sd = net.state_dict()
    del sd["pair.1"]
    sd["extra"] = np.zeros(1)
    with pytest.raises(RuntimeError, match=r"missing keys: pair\.1[\s\S]*unexpected keys: extra"):
        net.load_state_dict(sd)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["pair.1"] and result.unexpected_keys == ["extra"]


def test_a_failed_load_changes_nothing():
    net = Net()
    before = net.state_dict()
    sd = {k: v + 1 for k, v in before.items()}
    sd["pair.1"] = np.zeros(7)  # the last key is wrong, the others would load
    with pytest.raises(RuntimeError):
        net.load_state_dict(sd)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_repr_shows_the_tree():
    assert repr(Net()) == (
        "Net(\n"
        "  (first): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (blocks.0): Block(\n"
        "    (fc): Linear(in_features=3, out_features=2, bias=True)\n"
        "  )\n"
        "  (blocks.1): Block(\n"
        "    (fc): Linear(in_features=3, out_features=2, bias=True)\n"
        "  )\n"
        ")")
