import math

import numpy as np
import pytest

from tinygrad_rnn.charrnn import checkpoint as ckpt
from tinygrad_rnn.charrnn.checkpoint import CheckpointError, load_model
from tinygrad_rnn.charrnn.data import CharDataset, DataError
from tinygrad_rnn.charrnn.evaluate import evaluate
from tinygrad_rnn.charrnn.train import train
from tinygrad_rnn.nn.sampling import draw, generate
from tinygrad_rnn.optim import LR_SCHEDULES, Adam, scheduled_lr

from ..helpers import write_corpus

SMALL = dict(hidden_size=24, batch_size=4, seq_len=8, lr=1e-2, eval_every=20, time_budget=None,
             verbose=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A few kilobytes of text with structure a small RNN picks up in a hundred steps."""
    words = ["the ", "cat ", "sat ", "on ", "a ", "mat. ", "dog ", "ran\n"]
    return write_corpus(tmp_path_factory.mktemp("data"), words, 900, seed=0)


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "model.npz"
    model, history = train(corpus, out, steps=100, **SMALL)
    return model, history, out


def test_loss_goes_down(trained):
    model, history, _ = trained
    vocab_size = len(model.vocab)
    assert history[0]["val_loss"] < math.log(vocab_size)  # better than knowing nothing
    assert history[-1]["val_loss"] < 0.75 * history[0]["val_loss"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_history_has_one_entry_per_evaluation_and_always_the_last_step(corpus):
    _, history = train(corpus, steps=45, **SMALL)
    assert [e["step"] for e in history] == [20, 40, 45]
    assert set(history[0]) == {"step", "train_loss", "val_loss", "seconds"}
    assert history[0]["seconds"] <= history[-1]["seconds"]


def test_same_seed_same_losses_bit_for_bit(corpus):
    def losses(seed):
        _, history = train(corpus, steps=30, seed=seed, **SMALL)
        return [(e["train_loss"], e["val_loss"]) for e in history]

    assert losses(3) == losses(3)
    assert losses(3) != losses(4)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_the_jitted_step_gives_the_eager_losses_bit_for_bit(corpus, dropout):
    def losses(jit):
        _, history = train(corpus, steps=25, **dict(SMALL, eval_every=5, jit=jit,
                                                    dropout=dropout))
        return [(e["train_loss"], e["val_loss"]) for e in history]

    assert losses(jit=True) == losses(jit=False)


def test_dropout_changes_training_but_not_evaluation(corpus):
    plain, _ = train(corpus, steps=5, **SMALL)
    dropped, history = train(corpus, steps=5, **dict(SMALL, dropout=0.5))
    assert dropped.config()["dropout"] == 0.5
    assert not np.allclose(dropped.head.weight.data, plain.head.weight.data)
    dataset = CharDataset(corpus.read_text(), vocab=dropped.vocab)
    assert history[-1]["val_loss"] == evaluate(dropped, dataset)  # scored without dropout
    assert dropped.training  # and left training


@pytest.mark.parametrize("jit, dropout", [(True, 0.0), (False, 0.0), (True, 0.3)])
def test_resume_continues_exactly(corpus, tmp_path, jit, dropout):
    # The first call ends normally, so the second starts a schedule of its own: only with the
    # constant schedule is that the same as one run (an interrupted run: the test below). With
    # dropout, the masks come from the run's generator, whose state the checkpoint keeps.
    constant = dict(SMALL, lr_schedule="constant", jit=jit, dropout=dropout)
    straight, _ = train(corpus, tmp_path / "straight.npz", steps=60, **constant)
    train(corpus, tmp_path / "half.npz", steps=30, **constant)
    resumed, history = train(corpus, tmp_path / "resumed.npz", steps=30,
                             resume=tmp_path / "half.npz", **constant)
    assert history[-1]["step"] == 60
    for name, value in straight.state_dict().items():
        np.testing.assert_allclose(resumed.state_dict()[name], value, rtol=1e-6, atol=1e-7)
    a = ckpt.load(tmp_path / "straight.npz")
    b = ckpt.load(tmp_path / "resumed.npz")
    assert (a.training["pass"], a.training["chunk"]) == (b.training["pass"], b.training["chunk"])
    np.testing.assert_allclose(a.training["hidden"], b.training["hidden"], rtol=1e-6, atol=1e-7)
    for i, state in a.optimizer["state"].items():
        np.testing.assert_allclose(b.optimizer["state"][i]["exp_avg"], state["exp_avg"],
                                   rtol=1e-5, atol=1e-8)


def record_lrs(monkeypatch, crash_at=None):
    """The learning rate the optimizer holds at each of its steps, in a list that fills up; with
    `crash_at`, the step that makes the list that long raises RuntimeError instead, once."""
    lrs, real_step = [], Adam.step

    def step(self):
        nonlocal crash_at
        lrs.append(self.param_groups[0]["lr"])
        if len(lrs) == crash_at:
            crash_at = None
            raise RuntimeError("crash")
        real_step(self)

    monkeypatch.setattr(Adam, "step", step)
    return lrs


@pytest.mark.parametrize("schedule", LR_SCHEDULES)
def test_the_optimizer_steps_with_the_scheduled_lr(corpus, monkeypatch, schedule):
    lrs = record_lrs(monkeypatch)
    train(corpus, steps=20, **dict(SMALL, lr_schedule=schedule))
    assert lrs == [scheduled_lr(schedule, SMALL["lr"], i / 20) for i in range(20)]
    if schedule == "wsd":  # the peak up to 70 % of the steps, half of it at 85 %
        assert lrs[:15] == [SMALL["lr"]] * 15 and lrs[17] == pytest.approx(SMALL["lr"] / 2)


@pytest.mark.parametrize("jit", [True, False])
def test_an_interrupted_run_resumed_continues_its_schedule_exactly(corpus, tmp_path,
                                                                   monkeypatch, jit):
    wsd = dict(SMALL, lr_schedule="wsd", eval_every=10, jit=jit)
    lrs = record_lrs(monkeypatch, crash_at=60 + 35)
    straight, _ = train(corpus, tmp_path / "straight.npz", steps=60, **wsd)
    straight_lrs = lrs[:]
    out = tmp_path / "crashed.npz"
    with pytest.raises(RuntimeError, match="crash"):
        train(corpus, out, steps=60, **wsd)  # crashes in its step 35
    assert ckpt.load(out).training["step"] == 30  # saved at the evaluation of step 30
    del lrs[60 + 30:]  # steps 31 to 35 are lost with the crash
    resumed, history = train(corpus, out, steps=60, resume=out, **wsd)  # the same command

    assert history[-1]["step"] == 60  # the schedule's end, not 30 + 60
    assert lrs[60:] == straight_lrs and straight_lrs[-1] < SMALL["lr"] / 10
    for name, value in straight.state_dict().items():
        np.testing.assert_allclose(resumed.state_dict()[name], value, rtol=1e-6, atol=1e-7)
    assert ckpt.load(out).training["lr_horizon"] is None  # ran to its end


def test_a_finished_run_resumed_starts_a_new_schedule(corpus, tmp_path, monkeypatch):
    out = tmp_path / "m.npz"
    train(corpus, out, steps=20, **dict(SMALL, lr_schedule="cosine"))
    lrs = record_lrs(monkeypatch)
    _, history = train(corpus, out, steps=10, resume=out, **SMALL)
    assert history[-1]["step"] == 30
    assert lrs == [scheduled_lr("cosine", SMALL["lr"], i / 10) for i in range(10)]


def test_resume_refuses_another_model_shape_or_other_text(trained, corpus, tmp_path):
    _, _, out = trained
    with pytest.raises(CheckpointError, match="hidden_size = 24; a resumed run can't change it"):
        train(corpus, steps=1, resume=out, **dict(SMALL, hidden_size=32))
    other = tmp_path / "other.txt"
    other.write_text(corpus.read_text()[::-1])
    with pytest.raises(CheckpointError, match="was trained on other text"):
        train(other, steps=1, resume=out, **SMALL)


def test_checkpoint_holds_model_vocab_and_run(trained):
    model, history, out = trained
    saved = ckpt.load(out)
    assert saved.vocab == model.vocab.chars
    assert saved.config == model.config()
    assert (saved.config["vocab_size"], saved.config["hidden_size"]) == (len(model.vocab), 24)
    assert saved.training["step"] == 100 and saved.training["history"] == history
    assert saved.training["settings"]["batch_size"] == 4
    loaded = load_model(out)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name], value)


def test_time_budget_stops_early_and_still_evaluates_at_the_end(corpus, tmp_path):
    out = tmp_path / "m.npz"
    _, history = train(corpus, out, steps=100_000, **dict(SMALL, time_budget=0.5))
    saved = ckpt.load(out).training
    assert saved["step"] < 100_000 and history[-1]["step"] == saved["step"]  # evaluated last
    assert saved["lr_horizon"] is None  # the call, and its schedule, ran to their end


@pytest.mark.parametrize("options, message", [
    (dict(steps=0), "steps must be a positive number"),
    (dict(hidden_size=0), "hidden_size must be a positive number"),
    (dict(batch_size=-1), "batch_size must be a positive number"),
    (dict(optim="rmsprop"), "optim must be one of sgd, adagrad, adam, adamw"),
    (dict(lr_schedule="step"), "lr_schedule must be one of constant, linear, cosine, wsd"),
    (dict(dtype="float16"), "dtype must be one of float32, float64"),
    (dict(clip=-1.0), "clip must be >= 0"),
])
def test_bad_settings_are_refused_before_training(corpus, options, message):
    with pytest.raises(ValueError, match=message):
        train(corpus, **dict(SMALL, **options))


def test_a_text_too_short_for_one_batch_is_refused(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("to be or not to be")
    with pytest.raises(DataError, match="too short for one batch"):
        train(path, **SMALL)


def test_evaluation_does_not_depend_on_how_validation_is_chunked(trained, corpus):
    model, _, _ = trained
    data = CharDataset(corpus.read_text(), vocab=model.vocab)
    one_pass = evaluate(model, data, streams=1, seq_len=10_000)
    assert evaluate(model, data, streams=1, seq_len=7) == pytest.approx(one_pass, rel=1e-5)
    assert evaluate(model, data, streams=3, seq_len=7) == pytest.approx(one_pass, rel=0.05)


def test_sampling_is_repeatable_by_seed(trained):
    model, _, _ = trained
    a = generate(model, "the ", 60, seed=1)
    assert len(a) == 60 and set(a) <= set(model.vocab.chars)
    assert a == generate(model, "the ", 60, seed=1)
    assert a != generate(model, "the ", 60, seed=2)
    assert model.generate("the ", 60, seed=1) == a


def test_temperature_zero_is_greedy_and_top_k_one_too(trained):
    model, _, _ = trained
    greedy = generate(model, "the ", 40, temperature=0)
    assert greedy == generate(model, "the ", 40, temperature=0, seed=5)
    assert greedy == generate(model, "the ", 40, top_k=1, seed=7)


def test_top_k_draws_only_among_the_k_best_and_temperature_sharpens():
    rng = np.random.default_rng(0)
    scores = np.array([0.0, 3.0, 1.0, 2.9, -1.0])
    drawn = {draw(scores, 1.0, 2, rng) for _ in range(300)}
    assert drawn == {1, 3}
    hot = [draw(scores, 5.0, None, rng) for _ in range(500)]
    cold = [draw(scores, 0.05, None, rng) for _ in range(500)]
    assert len(set(hot)) == 5 and cold.count(1) > 450


def test_sampling_names_a_prime_character_outside_the_vocabulary(trained):
    model, _, _ = trained
    with pytest.raises(DataError, match="character 'Q'"):
        generate(model, "Queen", 10)
    with pytest.raises(ValueError, match="temperature"):
        generate(model, "the", 10, temperature=-1)
    assert generate(model, "the", 0) == ""


def test_resume_and_load_refuse_a_checkpoint_that_does_not_fit(trained, corpus, tmp_path):
    _, _, out = trained
    saved = ckpt.load(out)
    saved.config["hidden_size"] = 32  # the arrays are still 24 wide
    ckpt.save(tmp_path / "shape.npz", saved)
    with pytest.raises(CheckpointError, match="does not describe the model its parameters make"):
        load_model(tmp_path / "shape.npz")
    saved.config["hidden_size"] = 10**9  # refused before it is built: nothing is allocated
    ckpt.save(tmp_path / "huge.npz", saved)
    with pytest.raises(CheckpointError, match=r"a model of [\d,]+ parameters, the file holds"):
        load_model(tmp_path / "huge.npz")
    first = next(iter(saved.params))  # the same size, another layout
    saved = ckpt.load(out)
    saved.params[first] = saved.params[first].reshape(-1)
    ckpt.save(tmp_path / "flat.npz", saved)
    with pytest.raises(CheckpointError, match=f"parameter '{first}' has shape"):
        load_model(tmp_path / "flat.npz")
    saved = ckpt.load(out)
    del saved.training["hidden"]
    ckpt.save(tmp_path / "partial.npz", saved)
    with pytest.raises(CheckpointError, match="can't resume from it: .* no valid 'hidden'"):
        train(corpus, steps=1, resume=tmp_path / "partial.npz", **SMALL)
    saved = ckpt.load(out)
    saved.training["lr_horizon"] = {"start_step": 0, "start_seconds": 0, "steps": 0,
                                    "time_budget": None}
    ckpt.save(tmp_path / "horizon.npz", saved)
    with pytest.raises(CheckpointError, match="no valid 'lr_horizon'"):
        train(corpus, steps=1, resume=tmp_path / "horizon.npz", **SMALL)
    del saved.training["lr_horizon"]  # as in checkpoints from before lr schedules: resumable
    ckpt.save(tmp_path / "older.npz", saved)
    assert train(corpus, steps=1, resume=tmp_path / "older.npz", **SMALL)[1][-1]["step"] == 101


def test_checkpoint_path_may_not_be_the_training_text(tmp_path):
    corpus = tmp_path / "text.txt"
    corpus.write_text("to be or not to be, that is the question. " * 40)
    before = corpus.read_bytes()
    with pytest.raises(ValueError, match="training text itself"):
        train(data=str(corpus), out=str(corpus), steps=1, verbose=False)
    assert corpus.read_bytes() == before


def test_glibc_keeps_freed_memory_only_when_the_caller_asks(corpus, monkeypatch):
    from tinygrad_rnn import allocator

    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append("mallopt") or True)
    train(corpus, steps=1, **SMALL)
    assert calls == []  # a library call leaves the process's malloc alone
    train(corpus, steps=1, keep_freed_memory=True, **SMALL)
    assert calls == ["mallopt"]
