"""Optimizers: SGD (with momentum), Adagrad, Adam and AdamW, with PyTorch's exact update rules.

An optimizer holds the parameters to train, grouped into `param_groups` (a list of dicts, each
with its "params" and its hyperparameters, as in PyTorch, so that `group["lr"] = ...` changes the
learning rate), and a per-parameter `state` (momentum buffers, moment estimates, step counts).

`step()` updates each parameter's `.data` in place from its `.grad`, outside the graph: it works
on the numpy arrays directly, so nothing is recorded. Parameters whose grad is None are skipped.
In the formulas below, g is the gradient, t the number of steps this parameter has taken
(counting the current one), and lambda the weight decay.

A learning-rate schedule (schedules.py) changes `group["lr"]` before each step.
"""
import math

import numpy as np

from ..tensor import Tensor


def _check(condition, message):
    if not condition:
        raise ValueError(message)


class Optimizer:
    """Base class. A subclass passes its hyperparameters as `defaults` and defines
    `_update(param, grad, state, group)`, which changes the array `param` in place."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}  # parameter (the Tensor itself) -> dict of arrays and numbers
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors (e.g. model.parameters()) or of "
                            "dicts, got a single Tensor")
        params = list(params)
        _check(params, "optimizer got an empty parameter list")
        for group in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add {"params": [...], <hyperparameter>: value, ...}; missing ones take the defaults."""
        group = {**self.defaults, **group}
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"an optimizer can only optimize Tensors, got {type(p).__name__}")
            _check(id(p) not in seen, "a parameter appears more than once in the optimizer")
            seen.add(id(p))
        self.param_groups.append(group)

    def zero_grad(self):
        """Forget every gradient (`grad = None`, as PyTorch's default `set_to_none=True`)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self):
        """One update of every parameter that has a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p.data, p.grad, self.state.setdefault(p, {}), group)

    def _update(self, param, grad, state, group):
        raise NotImplementedError(f"{type(self).__name__} must define _update()")

    # --- saving and loading ---------------------------------------------------------------------

    def state_dict(self):
        """PyTorch's layout, in plain dicts, lists, numbers and numpy arrays (copies):

            {"state": {i: {"step": 3, "exp_avg": array, ...}, ...},
             "param_groups": [{"lr": 0.001, ..., "params": [0, 1, ...]}, ...]}

        Parameters are numbered in order across the groups; only those that have taken a step
        have state.
        """
        state, groups, index = {}, [], 0
        for group in self.param_groups:
            numbers = list(range(index, index + len(group["params"])))
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": numbers})
            for i, p in zip(numbers, group["params"]):
                if self.state.get(p):
                    state[i] = {k: v.copy() if isinstance(v, np.ndarray) else v
                                for k, v in self.state[p].items()}
            index += len(numbers)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state saved by `state_dict()`.

        The optimizer must hold the same number of groups, of the same sizes, and every saved
        array must have its parameter's shape. Everything is checked before anything changes;
        arrays are copied in, in the parameter's dtype.
        """
        saved_groups = state_dict["param_groups"]
        _check(len(saved_groups) == len(self.param_groups),
               f"state_dict has {len(saved_groups)} parameter groups, the optimizer "
               f"{len(self.param_groups)}")
        numbered = {}
        for g, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            _check(len(saved["params"]) == len(group["params"]),
                   f"parameter group {g} has {len(group['params'])} parameters, the state_dict's "
                   f"{len(saved['params'])}")
            numbered.update(zip((int(i) for i in saved["params"]), group["params"]))
        state = {}
        for i, entries in state_dict["state"].items():
            _check(int(i) in numbered, f"state_dict has state for parameter {i}, in no group")
            p = numbered[int(i)]
            for name, value in entries.items():
                want = () if name == "step" else p.shape
                _check(np.shape(value) == want, f"state {i}.{name} has shape {np.shape(value)}, "
                                                f"expected {want} (parameter of shape {p.shape})")
            state[p] = {name: np.asarray(v).item() if name == "step" else np.array(v, dtype=p.dtype)
                        for name, v in entries.items()}

        for group, saved in zip(self.param_groups, saved_groups):
            for key, value in saved.items():
                if key == "params":
                    continue
                if isinstance(group.get(key), tuple):  # betas may come back as a list or an array
                    value = tuple(np.asarray(value).tolist())
                elif isinstance(value, (np.ndarray, np.generic)):  # a number read by np.load
                    value = value.item()
                group[key] = value
        self.state = state


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (PyTorch's formulation):

        g <- g + lambda * p                          (weight decay, if lambda != 0)
        b <- g                    on the first step  (momentum buffer, if momentum mu != 0)
        b <- mu * b + (1 - dampening) * g            afterwards
        g <- g + mu * b  (nesterov)   or   g <- b
        p <- p - lr * g
    """

    def __init__(self, params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        _check(lr >= 0, f"invalid learning rate: {lr} (must be >= 0)")
        _check(momentum >= 0, f"invalid momentum: {momentum} (must be >= 0)")
        _check(weight_decay >= 0, f"invalid weight_decay: {weight_decay} (must be >= 0)")
        _check(not nesterov or (momentum > 0 and dampening == 0),
               "nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _update(self, param, grad, state, group):
        mu, lr = group["momentum"], group["lr"]
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param
        if mu:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= mu
                buf += (1 - group["dampening"]) * grad
            grad = grad + mu * buf if group["nesterov"] else buf
        param -= lr * grad


class Adagrad(Optimizer):
    """Adagrad: each entry's step shrinks with the squared gradients it has seen.

        g <- g + lambda * p                          (weight decay)
        s <- s + g^2                                 (s starts at initial_accumulator_value)
        p <- p - lr_t * g / (sqrt(s) + eps),    lr_t = lr / (1 + (t - 1) * lr_decay)
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10):
        _check(lr >= 0, f"invalid learning rate: {lr} (must be >= 0)")
        _check(lr_decay >= 0, f"invalid lr_decay: {lr_decay} (must be >= 0)")
        _check(weight_decay >= 0, f"invalid weight_decay: {weight_decay} (must be >= 0)")
        _check(initial_accumulator_value >= 0,
               f"invalid initial_accumulator_value: {initial_accumulator_value} (must be >= 0)")
        _check(eps >= 0, f"invalid eps: {eps} (must be >= 0)")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def _update(self, param, grad, state, group):
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(param, group["initial_accumulator_value"])
        state["step"] += 1
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param
        lr_t = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += grad * grad
        param -= lr_t * grad / (np.sqrt(state["sum"]) + group["eps"])


class Adam(Optimizer):
    """Adam: steps scaled by running estimates of the gradient's mean and uncentred variance.

        g <- g + lambda * p                          (L2 weight decay, added to the gradient)
        m <- beta1 * m + (1 - beta1) * g             (m, v start at zero)
        v <- beta2 * v + (1 - beta2) * g^2
        p <- p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The divisions by 1 - beta^t undo the bias of m and v towards their zero start.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        _check(lr >= 0, f"invalid learning rate: {lr} (must be >= 0)")
        _check(eps >= 0, f"invalid eps: {eps} (must be >= 0)")
        _check(len(betas) == 2 and all(0 <= b < 1 for b in betas),
               f"invalid betas: {betas} (each must be in [0, 1))")
        _check(weight_decay >= 0, f"invalid weight_decay: {weight_decay} (must be >= 0)")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))

    def _decay(self, param, grad, group):
        """Adam's weight decay is L2 regularisation: lambda * p joins the gradient."""
        return grad + group["weight_decay"] * param if group["weight_decay"] else grad

    def _update(self, param, grad, state, group):
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        grad = self._decay(param, grad, group)
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * grad * grad
        denom = np.sqrt(v) / math.sqrt(1 - beta2 ** t) + group["eps"]  # a float keeps float32
        param -= (group["lr"] / (1 - beta1 ** t)) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay: the parameter shrinks directly, before the Adam step,

        p <- p * (1 - lr * lambda)

    instead of lambda * p joining the gradient (where Adam's scaling would weaken it for entries
    with large gradients). The rest is Adam's update with lambda = 0.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _decay(self, param, grad, group):
        """AdamW's weight decay shrinks the parameter itself and leaves the gradient alone."""
        param *= 1 - group["lr"] * group["weight_decay"]
        return grad
