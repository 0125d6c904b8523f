"""Training, checkpoints, resume and sampling for every cell and both input forms; the LSTM's
(h, c) state carried, zeroed at each pass's start, saved and restored; release 0.1.0's
checkpoints upgraded to format version 2."""
from pathlib import Path

import numpy as np
import pytest

from tinygrad_rnn.charrnn import checkpoint as ckpt
from tinygrad_rnn.charrnn.checkpoint import CheckpointError, load_model
from tinygrad_rnn.charrnn.data import CharDataset
from tinygrad_rnn.charrnn.train import train
from tinygrad_rnn.cli import main
from tinygrad_rnn.optim import Adam
from tinygrad_rnn.plot import grad_norm_curves

from ..helpers import write_corpus

# 16 streams of 16 characters: a pass over the training text is 11 steps, so the runs below
# cross several passes (where the carried state is zeroed)
SMALL = dict(hidden_size=12, batch_size=16, seq_len=16, lr=1e-2, eval_every=10, time_budget=None,
             verbose=False)
OLD = Path(__file__).resolve().parents[1] / "data" / "checkpoint_v1.npz"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    words = ["the ", "cat ", "sat ", "on ", "a ", "mat. ", "dog ", "ran\n"]
    return write_corpus(tmp_path_factory.mktemp("data"), words, 900, seed=0)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("embedding_size", [0, 8])
def test_every_cell_trains_saves_loads_and_samples(corpus, tmp_path, capsys, cell,
                                                   embedding_size):
    out = tmp_path / "m.npz"
    model, history = train(corpus, out, steps=20, cell=cell, embedding_size=embedding_size,
                           **SMALL)
    assert history[-1]["val_loss"] < history[0]["val_loss"] + 0.5  # trained, not diverged
    saved = ckpt.load(out)
    assert saved.config == model.config() == dict(
        saved.config, cell=cell, embedding_size=embedding_size or None)
    hidden = saved.training["hidden"]  # the carried state: h, or [h, c] for the LSTM
    parts = hidden if cell == "lstm" else [hidden]
    assert len(parts) == (2 if cell == "lstm" else 1)
    assert all(p.shape == (model.num_layers, 16, 12) for p in parts)
    loaded = load_model(out)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name], value)
    assert main(["sample", str(out), "--length", "30", "--seed", "0"]) == 0
    assert len(capsys.readouterr().out) >= 30
    ids, targets = CharDataset(corpus.read_text(), vocab=loaded.vocab).batches(4, 8)[0]
    for norms in grad_norm_curves(loaded, ids, targets).values():  # what `plot` draws
        assert norms.shape == (8,) and np.all(np.isfinite(norms)) and norms[-1] > 0


def crash_in_step(monkeypatch, at):
    """Make the optimizer's `at`-th step from now raise, once."""
    calls, real_step = [], Adam.step

    def step(self):
        calls.append(1)
        if len(calls) == at:
            raise RuntimeError("crash")
        real_step(self)

    monkeypatch.setattr(Adam, "step", step)


@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_crash_and_resume_is_the_uninterrupted_run(corpus, tmp_path, monkeypatch, cell, jit):
    """The carried state (h and c for the LSTM) is saved with each checkpoint and restored, so
    a run that crashed and was resumed ends with the same weights and state as one that didn't."""
    run = dict(SMALL, cell=cell, embedding_size=8, lr_schedule="wsd", jit=jit)
    straight, _ = train(corpus, tmp_path / "straight.npz", steps=50, **run)
    crash_in_step(monkeypatch, at=27)  # saved at step 20, crashes in step 27
    out = tmp_path / "crashed.npz"
    with pytest.raises(RuntimeError, match="crash"):
        train(corpus, out, steps=50, **run)
    halfway = ckpt.load(out).training
    # saved after a whole pass and mid-way through the next, where a state is carried
    assert halfway["step"] == 20 and halfway["pass"] == 1 and halfway["chunk"] > 0
    resumed, history = train(corpus, out, steps=50, resume=out, **run)
    assert history[-1]["step"] == 50
    for name, value in straight.state_dict().items():
        np.testing.assert_allclose(resumed.state_dict()[name], value, rtol=1e-6, atol=1e-7)
    a, b = ckpt.load(tmp_path / "straight.npz"), ckpt.load(out)
    for x, y in zip(*(t.training["hidden"] if cell == "lstm" else [t.training["hidden"]]
                      for t in (a, b))):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_resume_refuses_another_cell_or_embedding(corpus, tmp_path):
    out = tmp_path / "m.npz"
    train(corpus, out, steps=2, cell="lstm", embedding_size=8, **SMALL)
    with pytest.raises(CheckpointError, match="cell = 'lstm'; a resumed run can't change it to "
                                              "'gru'"):
        train(corpus, steps=1, resume=out, cell="gru", **SMALL)
    with pytest.raises(CheckpointError, match="embedding_size = 8; a resumed run can't change"):
        train(corpus, steps=1, resume=out, embedding_size=16, **SMALL)
    _, history = train(corpus, out, steps=1, resume=out, **SMALL)  # the saved cell and size
    assert history[-1]["step"] == 3


def test_a_release_0_1_checkpoint_reads_as_version_2_and_resumes(tmp_path):
    saved = ckpt.load(OLD)
    assert saved.config["cell"] == "rnn" and saved.config["embedding_size"] is None
    settings = saved.training["settings"]
    assert (settings["cell"], settings["embedding_size"]) == ("rnn", 0)
    out = tmp_path / "resumed.npz"
    model, history = train(out=out, steps=1, resume=OLD, verbose=False)
    assert history[-1]["step"] == 4
    assert model.embedding is None and model.config() == saved.config
    assert ckpt.load(out).config == saved.config  # written as version 2, the same model
