"""What a training run is: its settings, where it stands, and its learning-rate schedule's horizon.

`TrainSettings` are the choices that shape a run (the model's size, the batches, the optimizer,
the schedule); they are checked when made. `RunState` is where the run stands after its last
step: what a checkpoint keeps besides the model, the optimizer and the random state, so that a
resumed run goes on exactly. `ScheduleHorizon` is the stretch of steps and seconds that the
learning-rate schedule runs over.

Progress, here and in optim.scheduled_lr, is how far a run is through its schedule: 0 at its
start, 1 at its end.
"""
import math
from dataclasses import asdict, dataclass, field, fields

from .. import optim
from ..nn.charrnn import DEFAULT_EMBEDDING_SIZE, DTYPES, STACKS
from .checkpoint import CheckpointError

OPTIMIZERS = {"sgd": optim.SGD, "adagrad": optim.Adagrad, "adam": optim.Adam, "adamw": optim.AdamW}
# A run's weight decay when none is given: AdamW's decoupled decay at 0.2 (what the 5-minute run
# learns best with); for the others, whose weight decay is an L2 term in the gradient, none.
DEFAULT_WEIGHT_DECAY = {"adamw": 0.2}

# Settings that shape a run: resuming takes them from the checkpoint and may not change them.
FIXED_ON_RESUME = ("cell", "embedding_size", "hidden_size", "num_layers", "dropout", "dtype",
                   "batch_size", "seq_len", "optim", "seed")
CELLS = tuple(STACKS)


def check_positive(name, value, kind=int):
    """Refuse anything but a positive `kind` (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


@dataclass
class TrainSettings:
    """The settings of a run; the defaults are what a 5-minute run on tinyshakespeare on 2 cores
    learned best with. Per second, 128 streams teach more than 32: each step's matrix products
    are bigger, for the same number of Python-level operations, and the gradient averages over
    more of the text. Holding the peak rate for 70 % of the run, then decaying it linearly to 0
    ("wsd"), gains about 0.05 nats/char over a constant rate; a cosine decay over the whole run
    does no better than a constant rate. With "wsd", a peak of 6e-3 does better than 4e-3 (the
    best constant rate). A GRU learns most: after 600 steps 1.51 nats/char against an LSTM's 1.54
    and the RNN's 1.60, and in 5 minutes (side by side on a shared machine) 1.50 against the
    LSTM's 1.53. Its step costs about 2.5 times the RNN's; its gates more than make up for that.
    At 256 units, 6e-3 beats 1e-2, and 128 streams of 64 beat 64 streams or chunks of 32. In
    5 minutes on 2 cores, a GRU of 384 units at 3e-3 (1,035 steps) reaches 1.471, of 256 at 6e-3
    (1,739 steps) 1.493, of 512 at 2e-3 (640 steps) 1.483: a bigger model wants a lower rate.
    Two layers of 256 learn more per step than one of 384 at a step about a quarter dearer:
    after 800 steps 1.449 from a peak of 4e-3 (3e-3 1.455, 5e-3 1.455, 6e-3 1.463), where one
    layer of 384 is at 1.472 after 1,035. Nearby, after 800 steps: decaying over the last half
    1.449 (the same), Adam's beta2 = 0.99 1.451, clipping at 1 1.454, an embedding of 64 1.461.
    After several passes over the text the model fits it more closely than the validation text:
    AdamW's weight decay of 0.2 reaches 1.434 after 800 steps and 1.423 after 1,150, where Adam
    without it reaches 1.449 and 1.452 (0.1: 1.440 and 1.435; 0.4 after 1,150: 1.423). Dropout
    pays less (0.1 after 1,150 steps: 1.451; 0.2: 1.481)."""

    cell: str = "gru"
    embedding_size: int = DEFAULT_EMBEDDING_SIZE  # 0: none, the one-hot input
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0
    batch_size: int = 128
    seq_len: int = 64
    lr: float = 4e-3
    lr_schedule: str = "wsd"
    optim: str = "adamw"
    weight_decay: float = None  # None: DEFAULT_WEIGHT_DECAY for the optimizer
    clip: float = 5.0
    eval_every: int = 250
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self):
        for name in ("hidden_size", "num_layers", "batch_size", "seq_len", "eval_every"):
            check_positive(name, getattr(self, name))
        check_positive("lr", self.lr, (int, float))
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        size = self.embedding_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"embedding_size must be a non-negative integer (0: no embedding), "
                             f"got {size!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.weight_decay is None:
            self.weight_decay = DEFAULT_WEIGHT_DECAY.get(self.optim, 0.0)
        if isinstance(self.weight_decay, bool) or not isinstance(self.weight_decay, (int, float)) \
                or not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")
        if not isinstance(self.clip, (int, float)) or not self.clip >= 0:
            raise ValueError(f"clip must be >= 0 (0: no clipping), got {self.clip!r}")
        for name, allowed in (("cell", CELLS), ("lr_schedule", optim.LR_SCHEDULES),
                              ("optim", OPTIMIZERS), ("dtype", DTYPES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, "
                                 f"got {getattr(self, name)!r}")

    @classmethod
    def resolve(cls, given, previous=None, source=None):
        """Each setting from `given` (a name -> value dict; None: not given), else from
        `previous` (the settings of the run resumed from the checkpoint `source`), else the
        default. A resumed run may not change the settings in FIXED_ON_RESUME."""
        previous = previous or {}
        values = {}
        for f in fields(cls):
            value = given.get(f.name)
            if value is None:
                value = previous.get(f.name, f.default)
            elif f.name in FIXED_ON_RESUME and f.name in previous and value != previous[f.name]:
                raise CheckpointError(f"{source}: was trained with {f.name} = "
                                      f"{previous[f.name]!r}; a resumed run can't change it to "
                                      f"{value!r}")
            values[f.name] = value
        return cls(**values)

    def to_dict(self):
        return asdict(self)

    def model_config(self, vocab_size):
        """The configuration (CharRNN.config) of the model these settings train."""
        return {"vocab_size": vocab_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "cell": self.cell,
                "embedding_size": self.embedding_size or None, "dropout": self.dropout,
                "dtype": self.dtype}


@dataclass(frozen=True)
class ScheduleHorizon:
    """The stretch a learning-rate schedule runs over: from `start_step` and `start_seconds`
    (the run's wall time), for `steps` steps or `time_budget` seconds (None: no limit),
    whichever ends first."""

    start_step: int
    start_seconds: float
    steps: int
    time_budget: float = None

    def progress(self, step, seconds):
        """How far a run at `step`, `seconds` is through the schedule: the larger of the
        fractions of its steps and of its time budget used."""
        done = (step - self.start_step) / self.steps
        if self.time_budget is not None:
            done = max(done, (seconds - self.start_seconds) / self.time_budget)
        return done

    def bound(self, step, seconds, steps, time_budget):
        """A call's (steps, time_budget), cut to what is left of the schedule at `step`,
        `seconds`: a resumed run stops where the schedule ends at the latest."""
        steps = min(steps, self.start_step + self.steps - step)
        if self.time_budget is not None:
            left = self.start_seconds + self.time_budget - seconds
            time_budget = left if time_budget is None else min(time_budget, left)
        return steps, time_budget

    @classmethod
    def from_dict(cls, value):
        """The horizon a checkpoint holds; ValueError if it isn't one."""
        number = (int, float)
        if not (isinstance(value, dict)
                and set(value) == {"start_step", "start_seconds", "steps", "time_budget"}
                and type(value["start_step"]) is int and type(value["steps"]) is int
                and value["steps"] > 0 and isinstance(value["start_seconds"], number)
                and (value["time_budget"] is None or isinstance(value["time_budget"], number)
                     and value["time_budget"] > 0)):
            raise ValueError("not a schedule horizon")
        return cls(**value)


# Where a run stands, as a checkpoint stores it: field name -> (checkpoint key, allowed types).
_STORED = {"step": ("step", int), "passes": ("pass", int), "chunk": ("chunk", int),
           "seconds": ("seconds", (int, float)), "history": ("history", list),
           "loss_sum": ("loss_sum", (int, float)), "loss_steps": ("loss_steps", int)}


@dataclass
class RunState:
    """Where a run stands after its last step.

    step:       optimizer steps taken, over all the calls of the run
    passes:     whole passes over the training text done; chunk: the next chunk of this pass
    state:      the model state carried into the next chunk (see carry.py); None at a pass's start
    seconds:    the run's wall time, across resumes
    history:    one {"step", "train_loss", "val_loss", "seconds"} per evaluation
    loss_sum, loss_steps: the train losses since the last evaluation, summed, and their count
    horizon:    the lr schedule's ScheduleHorizon; None once a call has run to its end
    """

    step: int = 0
    passes: int = 0
    chunk: int = 0
    state: object = None
    seconds: float = 0.0
    history: list = field(default_factory=list)
    loss_sum: float = 0.0
    loss_steps: int = 0
    horizon: ScheduleHorizon = None

    def begin_schedule(self, steps, time_budget):
        """This call's (steps, time_budget). A new run, or one whose last call ended normally,
        starts a schedule over them; an interrupted run continues its schedule to its end."""
        if self.horizon is None:
            self.horizon = ScheduleHorizon(self.step, self.seconds, steps, time_budget)
            return steps, time_budget
        return self.horizon.bound(self.step, self.seconds, steps, time_budget)

    def train_loss(self):
        """The mean train loss since the last evaluation (nats/char)."""
        return self.loss_sum / self.loss_steps if self.loss_steps else math.nan

    def to_dict(self, state_arrays):
        """The checkpoint's form, with `state_arrays` (carry.to_arrays) for the carried state."""
        stored = {key: getattr(self, name) for name, (key, _) in _STORED.items()}
        horizon = None if self.horizon is None else asdict(self.horizon)
        return dict(stored, hidden=state_arrays, lr_horizon=horizon)

    @classmethod
    def from_dict(cls, training, source):
        """The run state in a checkpoint's `training` dict, its carried state left as arrays;
        CheckpointError naming the first entry missing or of the wrong kind."""
        def invalid(key):
            return CheckpointError(f"{source}: can't resume from it: its training state has no "
                                   f"valid {key!r}")

        values = {}
        for name, (key, kind) in _STORED.items():
            value = training.get(key)
            if isinstance(value, bool) or not isinstance(value, kind):
                raise invalid(key)
            values[name] = value
        if "hidden" not in training:
            raise invalid("hidden")
        horizon = training.get("lr_horizon")  # absent in checkpoints from before lr schedules
        try:
            horizon = None if horizon is None else ScheduleHorizon.from_dict(horizon)
        except ValueError:
            raise invalid("lr_horizon") from None
        return cls(**values, state=training["hidden"], horizon=horizon)
