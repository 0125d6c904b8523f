"""03: backpropagation through time falls out of the graph.

Karpathy's min-char-rnn derives BPTT by hand: a loop backwards over the time steps that carries
dh_next, the gradient arriving at h_t from step t+1, and adds each step's share into dWxh, dWhh,
dWhy, dbh, dby. `tensor_loss` below is only the forward pass, the same loop forwards in Tensor
ops. Calling `loss.backward()` on it runs no RNN-specific code: the recorded graph of the unrolled
loop already contains every path from the loss to Whh through every step, and the engine's walk
sums them, which is exactly what dh_next does by hand.

What to look at
  1. min-char-rnn's hand-written gradient and autograd's, parameter by parameter, on the same
     random weights: they agree to about 1e-15 (rounding).
  2. A document whose derivation is wrong, on real numbers: "Implementing RNN from scratch in
     Python" writes `dc += dc` for the output bias, so its dc is all zeros while the true gradient
     is not. Its finding (tinygrad_rnn.reference.*.GRADIENT_FINDINGS) is printed under it.
  3. All five reference documents: which of their gradients as written disagree with autograd.

Run:  python examples/03_bptt_from_the_graph.py
"""
import numpy as np

from tinygrad_rnn import Tensor
from tinygrad_rnn.gradcheck import relative_error
from tinygrad_rnn.reference import DOCUMENTS, from_scratch_tutorial, min_char_rnn


def autograd_grads(doc, problem):
    """The gradient of the document's own loss, by backward() on its Tensor forward pass."""
    tensors = {name: Tensor(value, requires_grad=True) for name, value in problem["params"].items()}
    doc.tensor_loss(tensors, problem).backward()
    return {name: t.grad for name, t in tensors.items()}


rng = np.random.default_rng(0)

problem = min_char_rnn.sample_problem(rng)
hand = min_char_rnn.backward_as_written(problem["params"], problem)
auto = autograd_grads(min_char_rnn, problem)
print(f"1. {min_char_rnn.TITLE}: {len(problem['inputs'])} steps, hand BPTT vs loss.backward()")
for name in min_char_rnn.PARAMETERS:
    print(f"   d{name:<4} shape {hand[name].shape!s:<8} max |hand - autograd| = "
          f"{np.max(np.abs(hand[name] - auto[name])):.1e}")

problem = from_scratch_tutorial.sample_problem(rng)
hand = from_scratch_tutorial.backward_as_written(problem["params"], problem)
auto = autograd_grads(from_scratch_tutorial, problem)
print(f"\n2. {from_scratch_tutorial.TITLE}: the output bias c")
print(f"   dc as written: {np.round(hand['c'].ravel(), 4)}")
print(f"   dc, autograd:  {np.round(auto['c'].ravel(), 4)}")
print(f"   finding: {from_scratch_tutorial.GRADIENT_FINDINGS['c']}")

print("\n3. every document: the gradients that disagree with autograd (relative error > 1e-6)")
for doc in DOCUMENTS:
    problem = doc.sample_problem(rng)
    hand = doc.backward_as_written(problem["params"], problem)
    auto = autograd_grads(doc, problem)
    wrong = [name for name in doc.PARAMETERS if relative_error(hand[name], auto[name]) > 1e-6]
    print(f"   {doc.TITLE:<55} {', '.join(wrong) or 'none: all correct'}")
