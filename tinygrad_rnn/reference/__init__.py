"""Reference implementations of five documents that train a char-level RNN by hand-written BPTT.

Each document derives and codes its own backward pass. Several get parts of it wrong. Each module
here re-implements one document's mathematics, in its own conventions (column or row vectors,
which biases, a summed or an averaged loss). It reproduces the document's gradient as written,
mistakes included, next to the correct one, and uses autograd on the same loss as the judge.

Every module exposes the same names:

    SOURCE, TITLE        the source document's file name, and a short title
    PARAMETERS           the document's own parameter names, in its order
    sample_problem(rng)  a small random float64 instance: {"params": {name: array}, ...inputs}
    loss(params, problem)                 the document's forward pass and loss, in numpy
    backward_as_written(params, problem)  the document's gradient as it codes it, unclipped
    backward_corrected(params, problem)   the exact gradient of `loss`
    tensor_loss(tparams, problem)         `loss` in Tensor ops; autograd gives its gradient
    update_as_written(params, grads, state)  the document's update, clipping included, in place
    update_corrected(...)                 only where the update itself is wrong
    make_optimizer(tensors)               a tinygrad_rnn.optim optimizer that takes the same
                                          step (clip first with nn.utils.clip_grad_value_)
    LEARNING_RATE        the document's learning rate
    CLIP_VALUE           the document's element-wise gradient clip, [-CLIP_VALUE, CLIP_VALUE];
                         None for a document that does not clip
    GRADIENT_FINDINGS    {parameter: what the document does, and what it should do}
    OTHER_FINDINGS       mistakes outside the gradient that change training, one per line

Some modules add the other constants of their update, public as well: ADAGRAD_FLOOR (the 1e-8
inside Adagrad's square root) and MOMENTUM. Every other name is private to its module.

Clipping is a training choice, not part of the gradient, so the backward functions return the
unclipped gradient. `update_as_written` clips; with tensors, call
`nn.utils.clip_grad_value_(tensors, CLIP_VALUE)` before the optimizer's step.
"""
from . import blog_char_rnn, from_scratch_tutorial, hallo, hello_world, min_char_rnn

DOCUMENTS = (from_scratch_tutorial, hello_world, min_char_rnn, hallo, blog_char_rnn)

__all__ = ["DOCUMENTS", "from_scratch_tutorial", "hello_world", "min_char_rnn", "hallo",
           "blog_char_rnn"]
