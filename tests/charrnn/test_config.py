"""The run's dataclasses: settings checked when made and resolved on resume, the schedule's
horizon, the run state a checkpoint stores."""
import pytest

from tinygrad_rnn.charrnn.checkpoint import CheckpointError
from tinygrad_rnn.charrnn.config import RunState, ScheduleHorizon, TrainSettings


def test_settings_resolve_from_arguments_then_checkpoint_then_defaults():
    previous = TrainSettings(hidden_size=64, lr=1e-3).to_dict()
    settings = TrainSettings.resolve({"lr": 2e-3, "clip": None}, previous, "m.npz")
    assert (settings.hidden_size, settings.lr, settings.clip) == (64, 2e-3, 5.0)
    assert TrainSettings.resolve({}) == TrainSettings()
    with pytest.raises(CheckpointError, match="m.npz: was trained with hidden_size = 64; a "
                                              "resumed run can't change it to 32"):
        TrainSettings.resolve({"hidden_size": 32}, previous, "m.npz")


@pytest.mark.parametrize("change, message", [
    (dict(seed=-1), "seed must be a non-negative integer"),
    (dict(seed=True), "seed must be a non-negative integer"),
    (dict(eval_every=1.5), "eval_every must be a positive number"),
    (dict(lr=0), "lr must be a positive number"),
    (dict(clip=float("nan")), "clip must be >= 0"),
    (dict(weight_decay=-0.1), "weight_decay must be a number >= 0"),
    (dict(weight_decay="0.1"), "weight_decay must be a number >= 0"),
])
def test_settings_are_checked_when_made(change, message):
    with pytest.raises(ValueError, match=message):
        TrainSettings(**change)


def test_weight_decay_defaults_to_the_optimizers_own():
    assert TrainSettings().optim == "adamw" and TrainSettings().weight_decay == 0.2
    assert TrainSettings(optim="adam").weight_decay == 0.0
    assert TrainSettings(optim="adam", weight_decay=0.2).weight_decay == 0.2
    # a resumed run keeps its decay unless given a new one, as it keeps its lr
    previous = TrainSettings(optim="adamw", weight_decay=0.05).to_dict()
    assert TrainSettings.resolve({}, previous).weight_decay == 0.05
    assert TrainSettings.resolve({"weight_decay": 0.0}, previous).weight_decay == 0.0


def test_schedule_progress_is_the_larger_of_steps_and_time_used():
    horizon = ScheduleHorizon(start_step=10, start_seconds=5.0, steps=100, time_budget=50.0)
    assert horizon.progress(35, 30.0) == 0.5  # a quarter of the steps, half of the time
    assert horizon.progress(85, 30.0) == 0.75
    assert ScheduleHorizon(10, 5.0, 100, None).progress(35, 30.0) == 0.25


def test_an_interrupted_schedule_bounds_the_call_that_resumes_it():
    # resumed after a crash at 120 s of 300: what is left of the schedule bounds this call
    run = RunState(step=900, seconds=120.0, horizon=ScheduleHorizon(0, 0.0, 10_000, 300.0))
    assert run.begin_schedule(10_000, 300.0) == (9_100, 180.0)
    assert run.begin_schedule(50, None) == (50, 180.0)
    run.horizon = None  # after a call that ended normally: a new schedule from here
    assert run.begin_schedule(50, None) == (50, None)
    assert run.horizon == ScheduleHorizon(900, 120.0, 50, None)


def test_run_state_round_trips_through_its_checkpoint_form():
    run = RunState(step=7, passes=1, chunk=3, seconds=2.5, history=[{"step": 5}], loss_sum=1.5,
                   loss_steps=2, horizon=ScheduleHorizon(0, 0.0, 10, 60.0))
    stored = run.to_dict(state_arrays=None)
    assert stored["pass"] == 1 and stored["lr_horizon"]["time_budget"] == 60.0
    assert RunState.from_dict(stored, "m.npz") == run
    for key, bad in [("pass", "1"), ("step", True), ("lr_horizon", {"steps": 0})]:
        with pytest.raises(CheckpointError, match=f"m.npz: can't resume from it: .* {key!r}"):
            RunState.from_dict(dict(stored, **{key: bad}), "m.npz")
