"""plot: PNG files from a history and from a checkpoint, and the errors when it can't."""
import sys

import numpy as np
import pytest

from tinygrad_rnn import plot
from tinygrad_rnn.cli import main
from tinygrad_rnn.charrnn.data import load_text
from tinygrad_rnn.charrnn.train import train

PNG = b"\x89PNG\r\n\x1a\n"
HISTORY = [{"step": 10, "train_loss": 3.9, "val_loss": 3.6, "seconds": 1.0},
           {"step": 20, "train_loss": 3.4, "val_loss": 3.3, "seconds": 2.0}]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plot")
    text = folder / "text.txt"
    text.write_text(load_text()[:3000], encoding="utf-8")
    path = folder / "model.npz"
    train(text, path, hidden_size=8, batch_size=2, seq_len=8, steps=4, eval_every=2,
          time_budget=None, verbose=False)
    return path


def test_plot_loss_and_grad_norms_write_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    assert plot.plot_loss(HISTORY, tmp_path / "loss.png", vocab_size=65) == tmp_path / "loss.png"
    assert (tmp_path / "loss.png").read_bytes().startswith(PNG)
    curves = {"a": np.array([1e-9, 1e-3, 1.0]), "b": np.array([0.0, 0.5, 1.0])}  # 0: masked
    plot.plot_grad_norms(curves, tmp_path / "grads.png")
    assert (tmp_path / "grads.png").read_bytes().startswith(PNG)
    with pytest.raises(plot.PlotError, match="empty"):
        plot.plot_loss([], tmp_path / "none.png")


def test_command_draws_both_plots_from_a_checkpoint(checkpoint, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    prefix = tmp_path / "run"
    assert main(["plot", str(checkpoint), "--out", str(prefix), "--seq-len", "6"]) == 0
    out = capsys.readouterr().out
    for name in ("run_loss.png", "run_gradients.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG)
        assert f"wrote {tmp_path / name}\n" in out
    assert main(["plot", str(checkpoint), "--what", "loss", "--out", str(tmp_path / "only")]) == 0
    assert (tmp_path / "only_loss.png").exists() and not (tmp_path / "only_gradients.png").exists()


def test_default_output_sits_next_to_the_checkpoint(checkpoint, capsys):
    pytest.importorskip("matplotlib")
    assert main(["plot", str(checkpoint), "--what", "gradients"]) == 0
    written = checkpoint.with_name("model_gradients.png")
    assert written.read_bytes().startswith(PNG)
    assert capsys.readouterr().out == f"wrote {written}\n"


def test_missing_matplotlib_is_one_clear_line(checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    with pytest.raises(plot.PlotError, match=r'pip install "tinygrad-rnn\[plot\]"'):
        plot.plot_loss(HISTORY, tmp_path / "loss.png")
    assert main(["plot", str(checkpoint), "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tinygrad-rnn: error: plotting needs matplotlib") and err.count("\n") == 1


def test_a_missing_checkpoint_is_an_error_not_a_traceback(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nothing.npz")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_plot_options_are_checked_by_the_one_parser(checkpoint, capsys):
    assert main(["plot", str(checkpoint), "--seq-len", "0"]) == 2
    assert capsys.readouterr().err == ("tinygrad-rnn: error: argument --seq-len: must be a "
                                       "positive integer, got '0'\n")
