"""`Dropout`, the layer: `functional.dropout` while the module trains, the identity in eval mode."""
from .functional import check_probability, dropout
from .layers import _generator
from .module import Module


class Dropout(Module):
    """During training, zero each element with probability p and scale the others by 1/(1 - p);
    after `eval()`, pass the input through unchanged (as `torch.nn.Dropout`).

    The masks are drawn from `rng` (a numpy Generator; None: a new one from the operating
    system's entropy), so a model built with a seeded generator drops the same elements in every
    run, and a checkpoint that saves the generator's state resumes exactly.
    """

    def __init__(self, p=0.5, rng=None):
        check_probability(p)
        self.p, self.rng = p, _generator(rng)

    def forward(self, x):
        return dropout(x, self.p, self.training, self.rng)

    def extra_repr(self):
        return f"p={self.p}"

