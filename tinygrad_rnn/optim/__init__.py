"""Optimizers (optimizers.py) and learning-rate schedules (schedules.py), as `torch.optim`."""
from .optimizers import SGD, Adagrad, Adam, AdamW, Optimizer
from .schedules import LR_SCHEDULES, WSD_DECAY, scheduled_lr

__all__ = ["Optimizer", "SGD", "Adagrad", "Adam", "AdamW", "LR_SCHEDULES", "WSD_DECAY",
           "scheduled_lr"]
