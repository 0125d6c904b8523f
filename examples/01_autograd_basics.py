"""01: autograd basics. A few expressions, their gradients from `backward()`, and the same
derivatives worked out by hand.

What it shows
  1. z = x*y + x**2 at x = 3, y = 4. The engine records each op as it runs (the printed tree is
     that record: x appears twice, the second time as a back-reference), and z.backward() walks
     the record from z to the leaves, applying the chain rule at every node.
  2. A neuron, a = tanh(w . x + b), whose derivatives by hand are da/dw = (1 - a^2) x and
     da/db = 1 - a^2.
  3. Broadcasting: adding a bias b of shape (3,) to a batch X of shape (4, 3) uses each b_j in
     all 4 rows, so dL/db_j is the sum of dL/dY over the rows.
  4. Gradients accumulate: a second backward adds into .grad until you zero it.

What to look at: in each part, the autograd line and the by-hand line print the same numbers
(dz/dx = y + 2x = 10, dz/dy = x = 3; b.grad equal to the column sums of dL/dY), and .grad
always has the shape of its tensor, even when the tensor was broadcast.

Run:  python examples/01_autograd_basics.py
"""
import numpy as np

from tinygrad_rnn import Tensor
from tinygrad_rnn.viz import print_graph

print("1. z = x*y + x**2 at x = 3, y = 4")
x = Tensor(3.0, requires_grad=True)
y = Tensor(4.0, requires_grad=True)
z = x * y + x ** 2
print_graph(z, {"x": x, "y": y})
z.backward()
print(f"   autograd: dz/dx = {x.grad}, dz/dy = {y.grad}")
print(f"   by hand:  dz/dx = y + 2x = {4.0 + 2 * 3.0}, dz/dy = x = {3.0}\n")

print("2. a = tanh(w . x + b)")
rng = np.random.default_rng(0)
w = Tensor(rng.normal(size=3), requires_grad=True)
b = Tensor(0.5, requires_grad=True)
inputs = np.array([1.0, -2.0, 0.5])
a = ((w * inputs).sum() + b).tanh()
a.backward()
slope = 1 - a.item() ** 2  # tanh'(u) = 1 - tanh(u)^2
print(f"   da/dw  autograd {np.round(w.grad, 6)}   "
      f"by hand (1 - a^2) x = {np.round(slope * inputs, 6)}")
print(f"   da/db  autograd {b.grad:.6f}   by hand 1 - a^2 = {slope:.6f}\n")

print("3. broadcasting: Y = X + b with X (4, 3) and b (3,), L = sum(Y**2)")
X = Tensor(rng.normal(size=(4, 3)), requires_grad=True)
b = Tensor(np.array([0.1, -0.2, 0.3]), requires_grad=True)
Y = X + b
(Y ** 2).sum().backward()
dY = 2 * Y.data  # dL/dY
print(f"   X.grad has X's shape {X.grad.shape}; b.grad has b's shape {b.grad.shape}")
print(f"   b.grad                     {np.round(b.grad, 6)}")
print(f"   dL/dY summed over the rows {np.round(dY.sum(axis=0), 6)}\n")

print("4. gradients add up until zeroed")
x = Tensor(2.0, requires_grad=True)
(x * x).backward()
(x * x).backward()
print(f"   two backward passes of x*x at x = 2: x.grad = {x.grad} (2 * 2x)")
x.zero_grad()
(x * x).backward()
print(f"   after x.zero_grad() and one more:    x.grad = {x.grad}")
