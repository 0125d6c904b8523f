"""Every reference module exposes the same public names, as listed in
tinygrad_rnn.reference's docstring."""
import numpy as np
import pytest

from tinygrad_rnn.reference import DOCUMENTS

REQUIRED = ("SOURCE", "TITLE", "PARAMETERS", "sample_problem", "loss", "backward_as_written",
            "backward_corrected", "tensor_loss", "update_as_written", "make_optimizer",
            "LEARNING_RATE", "CLIP_VALUE", "GRADIENT_FINDINGS", "OTHER_FINDINGS")
OPTIONAL = ("update_corrected", "ADAGRAD_FLOOR", "MOMENTUM")


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_public_names(doc):
    public = {n for n, v in vars(doc).items()
              if not n.startswith("_") and getattr(v, "__module__", doc.__name__) == doc.__name__
              and not isinstance(v, type(np))}
    assert set(REQUIRED) <= public
    assert public <= set(REQUIRED) | set(OPTIONAL), sorted(public - set(REQUIRED) - set(OPTIONAL))
    assert isinstance(doc.LEARNING_RATE, float) and doc.LEARNING_RATE > 0
    assert doc.CLIP_VALUE is None or (isinstance(doc.CLIP_VALUE, float) and doc.CLIP_VALUE > 0)
