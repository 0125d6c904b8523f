"""What a training run shows and hears: a progress bar or log lines, and Ctrl-C.

On a terminal, a one-line bar (step, train loss, validation loss, characters per second, time
left) redrawn at most ten times a second; elsewhere (a pipe, a file) only a line per evaluation,
followed by the sample drawn then. The first Ctrl-C asks the run to stop after the step in
progress, so that the state it saves is a consistent one; a second one interrupts at once.
"""
import math
import signal
import sys
import threading
import time

BITS_PER_NAT = 1 / math.log(2)


class StopOnInterrupt:
    """Turn the first Ctrl-C into a request to stop after the current step (`requested`); the
    second Ctrl-C raises KeyboardInterrupt at once as usual. Signal handlers can only be set
    from the main thread; elsewhere this does nothing."""

    def __enter__(self):
        self.requested = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class Console:
    """A one-line progress bar on a terminal; elsewhere, only a log line per evaluation. Says
    nothing at all unless `verbose`. `steps` and `time_budget` bound the call, for the time left."""

    def __init__(self, steps, time_budget, verbose):
        self.stream = sys.stdout
        self.verbose = verbose
        self.tty = verbose and self.stream.isatty()
        self.steps, self.time_budget = steps, time_budget
        self.val_loss = None
        self.last_drawn = 0.0

    def step(self, run, steps_done, chars_per_sec, elapsed):
        """Redraw the bar after a step (`steps_done` in this call, `elapsed` seconds into it)."""
        if not self.tty or time.perf_counter() - self.last_drawn < 0.1:
            return
        self.last_drawn = time.perf_counter()
        left = (self.steps - steps_done) * elapsed / steps_done
        if self.time_budget is not None:
            left = min(left, self.time_budget - elapsed)
        val = "-" if self.val_loss is None else f"{self.val_loss:.3f}"
        self.stream.write(f"\r\x1b[Kstep {run.step} | train {run.train_loss():.3f} | val {val} | "
                          f"{chars_per_sec / 1000:.1f}k chars/s | {left:.0f}s left")
        self.stream.flush()

    def evaluation(self, entry, chars_per_sec, sample):
        """Log an evaluation (a history entry) and the sample drawn at it."""
        self.val_loss = entry["val_loss"]
        if not self.verbose:
            return
        if self.tty:
            self.stream.write("\r\x1b[K")
        train, val = entry["train_loss"], entry["val_loss"]
        self.stream.write(
            f"step {entry['step']:>6} | train {train:.3f} nats/char "
            f"({train * BITS_PER_NAT:.3f} bits) | val {val:.3f} nats/char "
            f"({val * BITS_PER_NAT:.3f} bits) | {chars_per_sec / 1000:.1f}k chars/s | "
            f"{entry['seconds']:.0f}s\n")
        self.stream.write("    " + sample.replace("\n", "\n    ") + "\n")
        self.stream.flush()

    def close(self):
        """Clear the bar's line."""
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
