"""07: continue in PyTorch: a model trained here goes on training there, and comes back to sample.

A model trained with `tinygrad_rnn.train` is written as safetensors in PyTorch's names
(`save_safetensors`: what `python -m tinygrad_rnn export` does), loaded into the ten-line PyTorch
model of the README with `load_state_dict(strict=True)`, trained there for a while with
PyTorch's Adam, written back with the same metadata, and read here again (`load_safetensors`:
what `python -m tinygrad_rnn import` does) to sample from.

What to look at: the largest logit difference between the two packages, both ways: about 1e-6,
float32 rounding, for the same function computed in a different order. PyTorch's training loss
goes on falling from where this package's stopped, and the sample at the end is drawn here from
the weights PyTorch trained.

Run:  python examples/07_continue_in_pytorch.py     (--quick: a few steps, for the tests; needs
      torch and safetensors: pip install torch "tinygrad-rnn[safetensors]")
"""
import json
import os
import sys
import tempfile

import numpy as np

try:
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    from torch import nn
except ImportError as missing:
    print(f"this example needs PyTorch and safetensors ({missing.name} is not installed)")
    sys.exit(0)

from tinygrad_rnn import train
from tinygrad_rnn.charrnn.data import Vocab, load_text
from tinygrad_rnn.export import load_safetensors, save_safetensors


def compare(label, theirs, ours):
    """The largest difference between PyTorch's logits and this package's; stop if they disagree."""
    difference = np.abs(theirs - ours).max()
    print(f"{label}: largest logit difference {difference:.1e}")
    if not difference < 1e-4:
        sys.exit(f"{label}: PyTorch's logits and this package's differ by {difference:.1e}")


class CharRNN(nn.Module):
    def __init__(self, vocab_size, hidden_size, num_layers, cell, embedding_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](
            embedding_size, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        out, state = self.rnn(self.embedding(ids), state)
        return self.head(out), state


quick = "--quick" in sys.argv[1:]
here_steps, there_steps = (5, 5) if quick else (300, 300)
torch.manual_seed(0)

# 1. train here
model, history = train(hidden_size=32 if quick else 64, batch_size=16, seq_len=32,
                       steps=here_steps, eval_every=here_steps, lr=5e-3, time_budget=None,
                       verbose=False)
print(f"here: {here_steps} steps, validation loss {history[-1]['val_loss']:.3f} nats/char")
text = load_text()
ids = model.vocab.encode(text)
probe = ids[:200][None, :]  # the same characters go through both packages

with tempfile.TemporaryDirectory() as folder:
    exported = os.path.join(folder, "charrnn.safetensors")
    save_safetensors(model, exported)

    # 2. into PyTorch: the architecture and the characters are in the file's metadata
    with safe_open(exported, framework="pt") as f:
        metadata = f.metadata()
    arch = json.loads(metadata["architecture"])
    module = CharRNN(arch["vocab_size"], arch["hidden_size"], arch["num_layers"], arch["cell"],
                     arch["embedding_size"] or arch["vocab_size"]).to(getattr(torch, arch["dtype"]))
    module.load_state_dict(load_file(exported), strict=True)
    with torch.no_grad():
        theirs = module(torch.from_numpy(probe))[0].numpy()
    compare("exported", theirs, model(probe)[0].data)

    # 3. train there: random chunks of the text, PyTorch's Adam and cross-entropy
    optimizer = torch.optim.Adam(module.parameters(), lr=2e-3)
    data, rng = torch.from_numpy(ids), np.random.default_rng(0)
    for step in range(1, there_steps + 1):
        starts = torch.from_numpy(rng.integers(0, len(ids) - 33, size=16))
        chunk = data[starts[:, None] + torch.arange(33)]
        logits, _ = module(chunk[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                           chunk[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(module.parameters(), 5.0)
        optimizer.step()
        if step == 1 or step == there_steps:
            print(f"there: step {step:>3}, train loss {loss.item():.3f} nats/char")

    # 4. back here, with the same metadata
    trained = os.path.join(folder, "trained.safetensors")
    save_file(module.state_dict(), trained, metadata=metadata)
    back, chars = load_safetensors(trained)
    back.vocab = Vocab(chars)

with torch.no_grad():
    theirs = module(torch.from_numpy(probe))[0].numpy()
compare("imported", theirs, back(probe)[0].data)
print("--- sampled here from the weights PyTorch trained ---")
print("ROMEO:" + back.generate("ROMEO:", 200, temperature=0.8, seed=0))
