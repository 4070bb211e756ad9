"""What every forward pass over time shares: the loop's known mistakes (state not
carried, off by one in time, reversed) and the check of the caches it returns.
"""

import numpy as np

from .diagnosis import _error_message
from .outcomes import GradingFailure, _StudentRaised
from .spec import Mistake, _close, _first_difference


def _sequence_variant(step, x, a0, p, n_state, carry=True, store_prev=False, x_shift=0,
                      start=0, reverse=False, zero_init=False, x_reverse=False):
    """A forward pass over time with a deliberate mistake in the loop; ``step(xt, a, p)``
    returns (state, yt). ``n_state`` is the state size."""
    n_x, m, T_x = x.shape
    a = np.zeros((n_state, m, T_x))
    y = None
    state = np.zeros_like(a0) if zero_init else a0
    order = range(T_x - 1, -1, -1) if reverse else range(start, T_x)
    for t in order:
        xt = x[:, :, T_x - 1 - t] if x_reverse else x[:, :, (t + x_shift) % T_x]
        new, yt = step(xt, state if carry else a0, p)
        if y is None:
            y = np.zeros((yt.shape[0], m, T_x))
        a[:, :, t] = state if store_prev else new
        y[:, :, t] = yt
        state = new
    return a, y


_SEQUENCE_MISTAKES = (
    ({"carry": False}, "the state is not carried from step to step: every step starts from "
                       "{init}. Pass each step's new state into the next step."),
    ({"store_prev": True}, "{out}[:, :, t] holds the state before step t (a<t-1> instead of "
                           "a<t>): store the state the step returns (off by one in time)."),
    ({"x_shift": -1}, "step t reads x<t-1>: the input of step t is x[:, :, t] (off by one in "
                      "time)."),
    ({"x_shift": 1}, "step t reads x<t+1>: the input of step t is x[:, :, t] (off by one in "
                     "time)."),
    ({"start": 1}, "the first time step is missing: loop over all T_x steps, "
                   "for t in range(T_x)."),
    ({"reverse": True}, "the loop runs backwards in time: the forward pass goes t = 0, 1, ..., "
                        "T_x - 1."),
    ({"x_reverse": True}, "the inputs are read backwards in time: step t reads x[:, :, t]."),
    ({"zero_init": True}, "the first step starts from zeros instead of {init}."),
)


def _sequence_mistakes(run, out="a", init="a0"):
    """Mistake objects of the loop over time; ``run(case, **flags) -> outputs``."""
    return [Mistake(text.format(out=out, init=init),
                    lambda case, flags=flags: run(case, **flags))
            for flags, text in _SEQUENCE_MISTAKES]


class _CachedForward:
    """The "cache" part of a forward function over a sequence: the caches it returns hold, at
    every step, the values the backward pass needs (those of rnnlib's caches).

    Subclasses (mixed into a Spec) set ``cell`` (the cell function), ``backward`` (the
    function that unpacks the caches), ``cell_fields`` (the names of a cell cache's entries, as
    the backward functions unpack them) and ``state_fields`` ({entry: (state, offset)}: a_prev
    is the state a at offset -1, a<t-1>), and implement ``states(case, expected)``: the states
    of the sequence, {name: [state<0>, state<1>, ..., state<T_x>]}.

    The check first calls the function without lending it the reference cell: with the
    student's own cell, a cache that holds a view of an array the loop overwrites later shows,
    whichever cell computed it (a lent cell answers with fresh arrays at grading). When that
    run cannot be judged (the cell raises, or its results differ from the reference, which the
    cell's own tests grade), the function is called again with the reference cell lent.
    """

    cell = backward = ""
    cell_fields = ()
    state_fields = {}

    def _cache_structure(self):
        return (f"caches must be (list of the T_x caches of {self.cell}, x), the pair "
                f"{self.backward} unpacks, each cell cache ({', '.join(self.cell_fields)})")

    def _run_for_cache(self, case, student, lend):
        saved = self.__dict__.get("substitutes")
        if not lend:
            self.substitutes = {}  # the student's own cell, while this call runs
        try:
            result, _ = student.call(case.args, case.kwargs)
            return self.unpack(result, case)
        except _StudentRaised as exc:
            if lend:
                raise GradingFailure(_error_message(self, exc)) from None
            return None
        except GradingFailure:
            # without the lent cell, a violation may be the student's cell's (its own tests
            # score it): the run with the lent cell judges the sequence function itself
            if lend:
                raise
            return None
        finally:
            if not lend:
                if saved is None:
                    del self.substitutes
                else:
                    self.substitutes = saved

    def _cache_problem(self, case, got):
        """("ok" | "outputs" | "problem", sentence, aliasing?) for one call's result."""
        caches, x = got.get("caches"), case.args[0]
        T_x = x.shape[2]
        width = len(self.cell_fields)
        if not (isinstance(caches, (tuple, list)) and len(caches) == 2
                and isinstance(caches[0], (tuple, list)) and len(caches[0]) == T_x
                and all(isinstance(c, (tuple, list)) and len(c) == width for c in caches[0])):
            shape = (f"a {type(caches).__name__}" if not isinstance(caches, (tuple, list))
                     else f"{len(caches)} items" if len(caches) != 2
                     else f"a first item of {type(caches[0]).__name__}"
                     if not isinstance(caches[0], (tuple, list))
                     else f"{len(caches[0])} cell caches for T_x = {T_x}"
                     if len(caches[0]) != T_x else "cell caches of another length")
            return "problem", f"{self._cache_structure()}; got {shape}.", False
        if not _close(caches[1], x):
            return "problem", (f"the second item of caches must be x, the input sequence "
                               f"({self.backward} reads its shape and its slices)."), False
        expected = self.expected(case)
        if not all(_close(got.get(k), expected[k]) for k in self.outputs):
            # The states differ from the reference (the cell's or the loop's mistake, which
            # other tests grade): only a cache holding another of the function's own states
            # where one belongs can be told apart here.
            try:
                own = self.states(case, got)
            except Exception:  # noqa: BLE001 - states of unexpected shapes
                return "outputs", None, False
            for t, mine in enumerate(caches[0]):
                for k, field in enumerate(self.cell_fields):
                    msg = self._aliasing(t, field, mine[k], own)
                    if msg:
                        return "problem", msg, True
            return "outputs", None, False
        states = self.states(case, expected)
        for t, (mine, ref) in enumerate(zip(caches[0], expected["caches"][0], strict=True)):
            for k, field in enumerate(self.cell_fields):
                if _close(mine[k], ref[k]):
                    continue
                msg = self._aliasing(t, field, mine[k], states)
                if msg:
                    return "problem", msg, True
                detail = ""
                if (isinstance(mine[k], np.ndarray) and isinstance(ref[k], np.ndarray)
                        and mine[k].shape == ref[k].shape):
                    detail = f" ({_first_difference(mine[k], ref[k])})"
                return "problem", (f"the cache of step {t + 1} does not hold what "
                                   f"{self.cell} stores: {field} differs{detail}. "
                                   f"{self._cache_structure()}."), False
        return "ok", None, False

    def _aliasing(self, t, field, mine, states):
        """The sentence for step ``t``'s cache entry ``field`` holding another state of the
        sequence than the one that belongs there (None when it does not)."""
        where = self.state_fields.get(field)
        if where is None or not isinstance(mine, np.ndarray):
            return None
        name, offset = where
        belongs = t + 1 + offset
        seq = states[name]
        if not 0 <= belongs < len(seq) or _close(mine, seq[belongs]):
            return None
        for s, value in enumerate(seq):
            if s != belongs and _close(mine, value):
                msg = (f"the cache of step {t + 1} holds {name}<{s}> where {name}<{belongs}> "
                       f"belongs ({field})")
                if s > belongs:
                    msg += (f": it is a view of an array you overwrite later (a slice of "
                            f"{name}, or an array changed in place); store a copy, or pass on "
                            f"the array the cell returned")
                return msg + f". {self.backward} would compute wrong gradients from it."
        return None

    def run_cache(self, student):
        for n, case in enumerate(self.fixed_cases()):
            own = self._run_for_cache(case, student, lend=False)
            verdict = self._cache_problem(case, own) if own is not None else ("outputs", None,
                                                                               False)
            if verdict[0] == "ok" or verdict[2]:
                status, message = verdict[:2]
            else:
                status, message, _ = self._cache_problem(
                    case, self._run_for_cache(case, student, lend=True))
            if status == "problem":
                raise GradingFailure(f"{self.name}: {message}" if n == 0 else
                                     f"On {case.label}: {self.name}: {message}")
        return f"{self.name}: every step's cache holds the values {self.backward} needs."


def _sequence_states(name, first, states):
    """{name: [state<0>, ..., state<T_x>]} from state<0> and the (n, m, T_x) states."""
    return {name: [first] + [states[:, :, t] for t in range(states.shape[2])]}
