"""Grad mode: whether ops record a graph. On by default; `no_grad()` turns it off, as in PyTorch."""


class _GradMode:
    enabled = True  # read by Function.apply at every op


def is_grad_enabled():
    """Whether ops record a graph now (False inside `no_grad()`)."""
    return _GradMode.enabled


class no_grad:
    """Context manager (and decorator) under which no graph is recorded, as in PyTorch.

    Use it for evaluation and for in-place parameter updates: ops still compute their values, but
    their outputs have `requires_grad=False` and keep no reference to their inputs.
    """

    def __enter__(self):
        self._prev, _GradMode.enabled = _GradMode.enabled, False

    def __exit__(self, *exc):
        _GradMode.enabled = self._prev

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)

        wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
        return wrapper
