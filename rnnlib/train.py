"""A tiny, generic training loop: call a step function, keep the loss history, show progress.

    def step(i):                       # one optimisation step; returns the loss
        loss, grads = ...
        optimizer.step(parameters, grads)
        return loss

    history = train(step, 1000)        # history.loss[i] is step i's loss
    plt.plot(history.loss); plt.plot(history.smooth)

The progress bar (tqdm) goes to stderr and is switched off when stderr is not a terminal (a
notebook, a log file, a book build) or when ``progress=False``, so notebook outputs stay small.
tqdm is optional (the ``train`` extra; the book's requirements have it): without it there is no
bar, so that a student's minimal install (numpy only) can import rnnlib.
"""

import math
from dataclasses import dataclass, field


@dataclass
class History:
    """Loss of every step, and its exponential moving average (empty when not smoothed)."""

    loss: list = field(default_factory=list)
    smooth: list = field(default_factory=list)


def _check_count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"train: {name} must be an integer >= {minimum}, got {value!r}")


class _NoBar:
    """What train uses of a tqdm bar, when tqdm is not installed: the steps, no display."""

    disable = True

    def __init__(self, n_steps):
        self.steps = range(n_steps)

    def __iter__(self):
        return iter(self.steps)

    def close(self):
        pass


def _progress_bar(n_steps, desc, progress):
    """The steps 0 ... n_steps - 1, in a tqdm bar when tqdm is installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar(n_steps)
    # disable=None: tqdm turns itself off when its output is not a terminal.
    return tqdm(range(n_steps), desc=desc, disable=None if progress else True, leave=False)


def train(step_fn, n_steps, progress=True, smoothing=0.999, smooth_init=None, callback=None,
          every=100, desc="training"):
    """Run ``step_fn(i)`` for i = 0 ... n_steps - 1 and record the losses it returns.

    Arguments:
        step_fn      callable taking the step index i and returning the step's loss (a number)
        n_steps      number of steps
        progress     show a tqdm bar (only when stderr is a terminal)
        smoothing    decay β of the smoothed loss, smooth := β smooth + (1 - β) loss (the
                     course's character model uses 0.999); None keeps no smoothed loss
        smooth_init  starting value of the smoothed loss (default: the first loss)
        callback     optional callable ``callback(i, history)``, called after step i whenever
                     i % every == 0 (steps 0, every, 2 every, ...), e.g. to print samples
        every        how often the callback runs
        desc         label of the progress bar

    Returns a ``History`` with ``loss`` (one float per step) and ``smooth``.
    Raises ``ValueError`` as soon as a step returns a loss that is not finite (NaN or inf): the
    run has diverged, and the message says at which step.
    """
    if not callable(step_fn):
        raise ValueError(f"train: step_fn must be callable, got {type(step_fn).__name__}")
    _check_count("n_steps", n_steps, 0)
    _check_count("every", every, 1)
    if smoothing is not None and not (0.0 <= smoothing < 1.0):
        raise ValueError(f"train: smoothing must be in [0, 1) or None, got {smoothing!r}")
    if callback is not None and not callable(callback):
        raise ValueError(f"train: callback must be callable, got {type(callback).__name__}")

    history = History()
    smooth = smooth_init
    bar = _progress_bar(n_steps, desc, progress)
    try:
        for i in bar:
            loss = step_fn(i)
            try:
                loss = float(loss)
            except (TypeError, ValueError):
                raise ValueError(
                    f"train: step_fn must return the loss as a number, got {type(loss).__name__}"
                ) from None
            if not math.isfinite(loss):
                raise ValueError(f"train: the loss is {loss} at step {i}: training diverged")
            history.loss.append(loss)
            if smoothing is not None:
                smooth = loss if smooth is None else smoothing * smooth + (1 - smoothing) * loss
                history.smooth.append(smooth)
            if not bar.disable:
                bar.set_postfix(loss=f"{history.smooth[-1] if history.smooth else loss:.4g}",
                                refresh=False)
            if callback is not None and i % every == 0:
                callback(i, history)
    finally:
        bar.close()
    return history
