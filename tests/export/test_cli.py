"""`python -m tinygrad_rnn export` and `import`: a trained checkpoint out to safetensors and back
to a checkpoint that `sample` reads, through PyTorch when it is installed; one-line errors."""
import os
import sys

import numpy as np
import pytest

from tinygrad_rnn.charrnn.checkpoint import load_model
from tinygrad_rnn.cli import main

from ..helpers import write_corpus
from .test_layout import V, logits_over_two_chunks

pytest.importorskip("safetensors")

SMALL = ["--hidden-size", "8", "--batch-size", "4", "--seq-len", "8", "--steps", "3",
         "--eval-every", "3"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint written by `train` on a text of exactly V = 7 characters."""
    folder = tmp_path_factory.mktemp("run")
    corpus = write_corpus(folder, ["ab", "cd", "ef\n"], 300, seed=2)
    out = folder / "m.npz"
    assert main(["train", "--data", str(corpus), "--out", str(out), *SMALL]) == 0
    return out


def run(capsys, *argv):
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_line_error(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinygrad-rnn: error: "), err
    return lines[0]


def test_export_then_import_gives_back_the_checkpoints_function(trained, tmp_path, capsys):
    exported, back = tmp_path / "m.safetensors", tmp_path / "back.npz"
    assert run(capsys, "export", trained, exported) == (0, f"wrote {exported}\n", "")
    assert run(capsys, "import", exported, back) == (0, f"wrote {back}\n", "")
    model, again = load_model(trained), load_model(back)
    assert again.vocab == model.vocab and len(model.vocab) == V
    np.testing.assert_allclose(logits_over_two_chunks(again), logits_over_two_chunks(model),
                               rtol=1e-6, atol=1e-6)
    status, out, _ = run(capsys, "sample", back, "--length", "30", "--seed", "0")
    assert status == 0 and set(out) <= set(model.vocab.chars) and len(out) >= 30


def test_a_model_trained_in_pytorch_samples_here(trained, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from .test_torch import TorchCharRNN

    exported, trained_there, back = (tmp_path / name for name in
                                     ("m.safetensors", "t.safetensors", "back.npz"))
    assert run(capsys, "export", trained, exported)[0] == 0
    model = load_model(trained)
    config = model.config()
    module = TorchCharRNN(V, config["hidden_size"], config["num_layers"], config["cell"],
                          config["embedding_size"] or V)
    module.load_state_dict(load_file(str(exported)), strict=True)
    ids = torch.from_numpy(np.random.default_rng(0).integers(0, V, size=(2, 9)))
    with torch.no_grad():
        np.testing.assert_allclose(module(ids)[0].numpy(), model(ids.numpy())[0].data,
                                   rtol=1e-5, atol=1e-5)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
    for _ in range(3):  # a few steps there, so that the weights coming back are new ones
        logits, _ = module(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with safe_open(str(exported), framework="pt") as f:
        metadata = f.metadata()
    save_file(module.state_dict(), str(trained_there), metadata=metadata)
    assert run(capsys, "import", trained_there, back)[0] == 0
    again = load_model(back)
    with torch.no_grad():
        theirs = module(ids)[0].numpy()
    assert not np.allclose(theirs, model(ids.numpy())[0].data, atol=1e-3)  # it did train
    np.testing.assert_allclose(theirs, again(ids.numpy())[0].data, rtol=1e-5, atol=1e-5)
    assert run(capsys, "sample", back, "--length", "20", "--seed", "1")[0] == 0


def test_unusable_inputs_are_one_line_errors_and_write_nothing(trained, tmp_path, capsys):
    status, _, err = run(capsys, "export", tmp_path / "absent.npz", tmp_path / "m.safetensors")
    assert status == 1 and "absent.npz" in one_line_error(err)
    text = tmp_path / "notes.safetensors"
    text.write_text("not a safetensors file, just text")
    status, _, err = run(capsys, "import", text, tmp_path / "back.npz")
    assert status == 1 and "notes.safetensors: not a safetensors file" in one_line_error(err)
    status, _, err = run(capsys, "export", trained, tmp_path / "no" / "such" / "m.safetensors")
    assert status == 1 and "cannot write it" in one_line_error(err)
    assert sorted(os.listdir(tmp_path)) == ["notes.safetensors"]


def test_without_safetensors_the_error_names_the_extra(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    status, _, err = run(capsys, "export", trained, tmp_path / "m.safetensors")
    assert status == 1 and 'pip install "tinygrad-rnn[safetensors]"' in one_line_error(err)
    assert not list(tmp_path.iterdir())
