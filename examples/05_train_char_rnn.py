"""05: train a character-level RNN from Python in a few lines, then sample from it.

`tinygrad_rnn.train` does what `python -m tinygrad_rnn train` does: it reads a text (here
the packaged tinyshakespeare), cuts it into batches for truncated BPTT, and runs AdamW (Adam
with weight decay) on the mean cross-entropy of the next character. It returns the model and
its history, one entry per evaluation.

What to look at: losses are in nats per character. A model that knows nothing scores ln V, the
uniform guess (ln 65 = 4.17 for Shakespeare); the validation loss falls well below it within a
few hundred steps. The samples then have word-length runs of letters, spaces, line breaks and
capitalised names before colons; the colder one (temperature 0.5) repeats the commonest words,
the hotter one (1.0) invents more. These 300 steps take well under a minute; for a
model that writes pseudo-Shakespeare, run `python -m tinygrad_rnn train` (about 5 minutes).

Run:  python examples/05_train_char_rnn.py          (--quick: a few steps, for the tests)
"""
import math
import sys

from tinygrad_rnn.charrnn.train import train

quick = "--quick" in sys.argv[1:]
steps, evaluations = (5, 1) if quick else (300, 3)

model, history = train(hidden_size=32 if quick else 64, batch_size=16, seq_len=32, steps=steps,
                       eval_every=steps // evaluations, lr=5e-3, time_budget=None, verbose=False)

V = model.vocab_size
print(f"uniform guess: ln {V} = {math.log(V):.2f} nats/char")
for entry in history:
    print(f"step {entry['step']:>4}: train {entry['train_loss']:.3f}, validation "
          f"{entry['val_loss']:.3f} nats/char ({entry['seconds']:.0f}s)")
for temperature in (0.5, 1.0):
    text = model.generate("ROMEO:", 200, temperature=temperature, seed=0)
    print(f"\n--- sample at temperature {temperature} ---\nROMEO:{text}")
