"""`Parameter` and `Module`: the containers a model is built from, as in `torch.nn`.

A Module finds its parameters by looking at its own attributes: a `Parameter`, another `Module`,
or a list/tuple of those. There is no registration step. `named_parameters()` lists, as PyTorch
does, a module's own parameters first and then each submodule's, every level in the order the
attributes were first assigned, so names and order are stable:

    model.rnn.layers[0].weight_hh   is named   "rnn.layers.0.weight_hh"
"""
from collections import namedtuple
from contextlib import contextmanager

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module owns and an optimizer trains: `requires_grad=True` by default.

    The array is wrapped without a copy, as `Tensor(data)` does.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer and model. Subclasses set attributes in `__init__` and define
    `forward`; calling the module calls `forward`.

    `training` is a flag that `train()` and `eval()` set on this module and every submodule;
    nothing in this package behaves differently on it, but a user's dropout layer could.
    """

    training = True

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # --- what it holds --------------------------------------------------------------------------

    def _members(self):
        """(name, Parameter or Module) for each direct attribute, list items named "name.i"."""
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Parameter, Module)):
                        yield f"{name}.{i}", item

    def named_children(self):
        """(name, module) for each direct submodule."""
        return ((name, m) for name, m in self._members() if isinstance(m, Module))

    def children(self):
        return (m for _, m in self.named_children())

    def named_modules(self, prefix=""):
        """(dotted name, module) for this module ("" by default) and every submodule below it."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_parameters(self):
        """(dotted name, Parameter) for every parameter: this module's own, then each submodule's.

        A parameter shared by two modules (tied weights) is listed once, under the first name
        that reaches it, so an optimizer never updates it twice.
        """
        seen = set()
        for prefix, module in self.named_modules():
            for name, value in module._members():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{prefix}.{name}" if prefix else name), value

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def zero_grad(self):
        """Forget every parameter's gradient (`grad = None`, PyTorch's default `set_to_none`)."""
        for p in self.parameters():
            p.grad = None

    # --- modes ----------------------------------------------------------------------------------

    def train(self, mode=True):
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    @contextmanager
    def evaluating(self):
        """`with model.evaluating():` the model in eval mode (no dropout) inside the block, and
        every submodule's own mode as it was after it (scoring and sampling mid-training)."""
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            yield self
        finally:
            for m, mode in modes:
                m.training = mode

    # --- saving and loading ---------------------------------------------------------------------

    def state_dict(self):
        """A plain dict: parameter name -> numpy array (a copy), ready for `np.savez(f, **sd)`.

        Unlike PyTorch, the arrays are copies, so a state kept in memory (say, the best model so
        far) does not change as training goes on. A shared parameter appears once, as in
        `named_parameters()`.
        """
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from `state_dict` into this module's parameters, in place.

        Every name present in both must have the same shape and dtype. With `strict=True` the
        names must match exactly. All checks run before anything is copied, so a failed load
        leaves the module unchanged. Returns `(missing_keys, unexpected_keys)`.
        """
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params]
        errors = []
        if strict and missing:
            errors.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            errors.append("unexpected keys: " + ", ".join(unexpected))
        arrays = {}
        for name, p in params.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            value = np.asarray(value.data if isinstance(value, Tensor) else value)
            if value.shape != p.shape:
                errors.append(f"size mismatch for {name}: the state has shape {value.shape}, "
                              f"the parameter has shape {p.shape}")
            elif value.dtype != p.dtype:
                errors.append(f"dtype mismatch for {name}: the state has {value.dtype}, "
                              f"the parameter has {p.dtype}")
            arrays[name] = value
        if errors:
            raise RuntimeError(f"error(s) loading state_dict into {type(self).__name__}:\n  "
                               + "\n  ".join(errors))
        for name, value in arrays.items():
            np.copyto(params[name].data, value)
        return IncompatibleKeys(missing, unexpected)

    # --- printing -------------------------------------------------------------------------------

    def extra_repr(self):
        """The arguments to show in this module's repr, e.g. "in_features=3, out_features=4"."""
        return ""

    def __repr__(self):
        children = [f"({name}): " + repr(child).replace("\n", "\n  ")
                    for name, child in self.named_children()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = ([self.extra_repr()] if self.extra_repr() else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
