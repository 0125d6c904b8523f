"""Learning-rate schedules: the rate as a function of progress p, how far a run is through its
schedule (0 at its start, 1 at its end). A training loop sets `group["lr"]` from
`scheduled_lr` before each optimizer step.
"""
import math

WSD_DECAY = 0.3  # the "wsd" schedule decays over the last 30 % of the run

LR_SCHEDULES = {
    "constant": lambda p: 1.0,
    "linear": lambda p: 1.0 - p,
    "cosine": lambda p: 0.5 * (1.0 + math.cos(math.pi * p)),
    "wsd": lambda p: min(1.0, (1.0 - p) / WSD_DECAY),
}


def scheduled_lr(schedule, lr, progress):
    """The learning rate at `progress` p through a run (0 at its start, 1 at its end; clipped to
    [0, 1]), for the peak learning rate `lr`:

        constant   lr
        linear     lr * (1 - p)                             (PyTorch's LinearLR, down to 0)
        cosine     lr * (1 + cos(pi p)) / 2                 (CosineAnnealingLR, eta_min = 0)
        wsd        lr * min(1, (1 - p) / 0.3)               constant, then linear to 0 over the
                                                            last 30 % of the run

    "wsd" is warmup-stable-decay without the warm-up (Adam needs none here). Decaying the rate
    lets the weights settle into the valley that the noisy steps of a high rate jump across.
    """
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {schedule!r}")
    return lr * LR_SCHEDULES[schedule](min(max(progress, 0.0), 1.0))
