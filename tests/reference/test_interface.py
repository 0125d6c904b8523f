"""What every reference module promises, in tinygrad_rnn.reference's docstring, checked once for
all five: the public names, the sample problem, the loss in numpy and in Tensor ops, the
corrected gradient against autograd and finite differences, the as-written gradient against
GRADIENT_FINDINGS, and the update against the optimizer. What is particular to one document
(its source, its findings shown one by one) is in that document's own test file."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor
from tinygrad_rnn.nn.utils import clip_grad_value_
from tinygrad_rnn.reference import DOCUMENTS

from .helpers import SEEDS, autograd, doc_id, finite_differences, problem_for, rel_error

REQUIRED = ("SOURCE", "TITLE", "PARAMETERS", "sample_problem", "loss", "backward_as_written",
            "backward_corrected", "tensor_loss", "update_as_written", "make_optimizer",
            "LEARNING_RATE", "CLIP_VALUE", "GRADIENT_FINDINGS", "OTHER_FINDINGS")
OPTIONAL = ("update_corrected", "ADAGRAD_FLOOR", "MOMENTUM")

# A flagged gradient must be off by more than this; an unflagged one must be right to 1e-9.
FLAGGED_REL_ERROR = 1e-2

# update_as_written's first step from an empty state, for a gradient of +-10 (past every clip).
# Written out from the documents, not read from the modules, so that a changed constant fails.
FIRST_STEP = {
    "from_scratch_tutorial": 0.1 * 5.0 / np.sqrt(25.0 + 1e-8),  # Adagrad: lr 0.1, clip 5
    "hello_world": 0.01 * 1.0,                                  # SGD: lr 0.01, clip 1
    "min_char_rnn": 0.1 * 5.0 / np.sqrt(25.0 + 1e-8),           # Adagrad: lr 0.1, clip 5
    "hallo": 0.1 * 5.0,                                         # SGD: lr 0.1, clip 5
    "blog_char_rnn": 0.01 * 3.0,                # "momentum" from zero buffers: lr 0.01, clip 3
}

# The spread of the random gradients fed to the optimizer: some entries past the clip, some not.
GRADIENT_SCALE = {"from_scratch_tutorial": 4.0, "hello_world": 2.0, "min_char_rnn": 4.0,
                  "hallo": 4.0, "blog_char_rnn": 3.0}

each_document = pytest.mark.parametrize("doc", DOCUMENTS, ids=doc_id)


def test_the_tables_name_every_document():
    assert set(FIRST_STEP) == set(GRADIENT_SCALE) == {doc_id(doc) for doc in DOCUMENTS}


# --- the interface ----------------------------------------------------------------------------

@each_document
def test_public_names(doc):
    public = {n for n, v in vars(doc).items()
              if not n.startswith("_") and getattr(v, "__module__", doc.__name__) == doc.__name__
              and not isinstance(v, type(np))}
    assert set(REQUIRED) <= public
    assert public <= set(REQUIRED) | set(OPTIONAL), sorted(public - set(REQUIRED) - set(OPTIONAL))
    assert isinstance(doc.LEARNING_RATE, float) and doc.LEARNING_RATE > 0
    assert doc.CLIP_VALUE is None or (isinstance(doc.CLIP_VALUE, float) and doc.CLIP_VALUE > 0)


@each_document
def test_sample_problem(doc):
    for seed in SEEDS:
        problem = problem_for(doc, seed)
        assert tuple(problem["params"]) == doc.PARAMETERS
        assert all(a.dtype == np.float64 for a in problem["params"].values())
        # One window of text: each target is the next input.
        inputs, targets = np.asarray(problem["inputs"]), np.asarray(problem["targets"])
        assert np.array_equal(targets[:-1], inputs[1:])


@each_document
def test_findings(doc):
    assert set(doc.GRADIENT_FINDINGS) <= set(doc.PARAMETERS)
    assert all(isinstance(f, str) for f in doc.GRADIENT_FINDINGS.values())
    assert all(isinstance(f, str) for f in doc.OTHER_FINDINGS)


# --- the gradient -----------------------------------------------------------------------------

@each_document
@pytest.mark.parametrize("seed", SEEDS)
def test_loss_equals_tensor_loss(doc, seed):
    problem = problem_for(doc, seed)
    value, _ = autograd(problem, doc.tensor_loss)
    assert value == pytest.approx(doc.loss(problem["params"], problem), rel=1e-12)


@each_document
@pytest.mark.parametrize("seed", SEEDS)
def test_autograd_equals_corrected_backward(doc, seed):
    problem = problem_for(doc, seed)
    _, auto = autograd(problem, doc.tensor_loss)
    hand = doc.backward_corrected(problem["params"], problem)
    for name in doc.PARAMETERS:
        assert rel_error(hand[name], auto[name]) < 1e-9, name


@each_document
@pytest.mark.parametrize("seed", SEEDS[:2])
def test_corrected_backward_matches_finite_differences(doc, seed):
    problem = problem_for(doc, seed)
    hand = doc.backward_corrected(problem["params"], problem)
    numeric = finite_differences(doc.loss, problem)
    for name in doc.PARAMETERS:
        assert rel_error(hand[name], numeric[name]) < 1e-6, name


@each_document
@pytest.mark.parametrize("seed", SEEDS)
def test_as_written_is_wrong_exactly_for_the_flagged_parameters(doc, seed):
    problem = problem_for(doc, seed)
    _, auto = autograd(problem, doc.tensor_loss)
    written = doc.backward_as_written(problem["params"], problem)
    for name in doc.PARAMETERS:
        if name in doc.GRADIENT_FINDINGS:
            assert rel_error(written[name], auto[name]) > FLAGGED_REL_ERROR, f"{name} is right"
        else:
            assert rel_error(written[name], auto[name]) < 1e-9, f"{name} is wrong, not flagged"


# --- the update -------------------------------------------------------------------------------

@each_document
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["positive", "negative"])
def test_update_clips_then_takes_the_documents_first_step(doc, sign):
    params = {n: a.copy() for n, a in problem_for(doc, 0)["params"].items()}
    grads = {n: np.full_like(a, sign * 10.0) for n, a in params.items()}  # past every clip
    before = {n: a.copy() for n, a in params.items()}
    doc.update_as_written(params, grads, {})
    for name in doc.PARAMETERS:
        assert np.allclose(before[name] - params[name], sign * FIRST_STEP[doc_id(doc)],
                           rtol=1e-12), name
        assert np.all(grads[name] == sign * 10.0), name  # the caller's gradients are left alone


@each_document
def test_optimizer_steps_equal_the_update(doc):
    # make_optimizer takes the document's step, or its corrected one where the update is wrong.
    update = getattr(doc, "update_corrected", doc.update_as_written)
    params = {n: a.copy() for n, a in problem_for(doc, 0)["params"].items()}
    tensors = [Tensor(params[n].copy(), requires_grad=True) for n in doc.PARAMETERS]
    optimizer = doc.make_optimizer(tensors)
    state, rng, scale = {}, np.random.default_rng(3), GRADIENT_SCALE[doc_id(doc)]
    for _ in range(3):                                # several steps, so the state matters
        grads = {n: rng.normal(0.0, scale, a.shape) for n, a in params.items()}
        if doc.CLIP_VALUE is not None:
            sizes = np.concatenate([np.abs(g).ravel() for g in grads.values()])
            assert sizes.max() > doc.CLIP_VALUE > sizes.min()  # some entries clipped, some not
        for name, t in zip(doc.PARAMETERS, tensors):
            t.grad = grads[name].copy()
        if doc.CLIP_VALUE is not None:
            clip_grad_value_(tensors, doc.CLIP_VALUE)
        optimizer.step()
        update(params, grads, state)
        for name, t in zip(doc.PARAMETERS, tensors):
            assert np.allclose(t.data, params[name], rtol=1e-12, atol=1e-15), name
