"""Checks of the ``language_model`` assignment (the course's dinosaur names):
``clip``, ``sample`` and ``optimize``.
"""

import numpy as np

from .cases import _normal, _rng, _rnn_parameters
from .diagnosis import _error_message
from .outcomes import GradingFailure, _StudentRaised
from .references import _reference
from .spec import Case, Mistake, Spec, _dict_unpack
from .worker import _quiet, _roundtrip

_COURSE_CHARS = "\n" + "abcdefghijklmnopqrstuvwxyz"


_CHAR_TO_IX = {c: i for i, c in enumerate(_COURSE_CHARS)}


_LM_GRAD_KEYS = ("dWax", "dWaa", "dWya", "dba", "dby")


def _lm_parameters(rng, n_a, vocab=27, scale=0.6, eos_bias=0.0):
    p = _rnn_parameters(rng, vocab, n_a, vocab, scale=scale)
    p["by"][0, 0] += eos_bias
    return p


class _Clip(Spec):
    name, reference = "clip", "rnnlib.optim.clip"
    outputs = _LM_GRAD_KEYS
    parts = ("values", "random")

    def _case(self, label, seed, maxValue, n_a=4, n_x=5, spread=12.0):
        rng = _rng(seed)
        shapes = {"dWax": (n_a, n_x), "dWaa": (n_a, n_a), "dWya": (n_x, n_a), "dba": (n_a, 1),
                  "dby": (n_x, 1)}
        grads = {k: rng.uniform(-spread, spread, s) for k, s in shapes.items()}
        return Case(label, (grads, maxValue), {"shapes": shapes, "maxValue": maxValue})

    def fixed_cases(self):
        return [self._case("the fixed case (maxValue=10, entries in [-12, 12])", 51, 10),
                self._case("the fixed case (maxValue=2.5)", 52, 2.5)]

    def random_cases(self):
        return [self._case(f"a random case (maxValue={mv}, seed {seed})", seed, mv, n_a, n_x, sp)
                for seed, mv, n_a, n_x, sp in ((501, 5, 3, 7, 9.0), (502, 0.5, 1, 2, 3.0),
                                               (503, 7.25, 6, 4, 30.0))]

    def expected_shapes(self, case):
        return {k: (s, f"the shape of {k}") for k, s in case.dims["shapes"].items()}

    def unpack(self, result, case):
        return _dict_unpack(self, result, _LM_GRAD_KEYS)

    def mistakes(self):
        def v(low=None, high=None, fixed=None, keys=_LM_GRAD_KEYS, norm=False):
            def compute(case):
                grads, mv = case.fresh_args()
                mv = fixed if fixed is not None else mv
                out = {}
                for k, g in grads.items():
                    if norm:
                        n = np.linalg.norm(g)
                        out[k] = g * (mv / n) if n > mv else g
                    elif k in keys:
                        out[k] = np.clip(g, -mv if low is None else low, mv if high is None
                                         else high)
                    else:
                        out[k] = g
                return out
            return compute

        return [
            Mistake("the lower bound is wrong: clip every entry into [-maxValue, maxValue].",
                    v(low=0.0)),
            Mistake("only the upper bound is applied: entries below -maxValue must become "
                    "-maxValue too.", v(low=-np.inf)),
            Mistake("maxValue is hard-coded to 5: use the maxValue argument.", v(fixed=5)),
            Mistake("maxValue is hard-coded to 10: use the maxValue argument.", v(fixed=10)),
            Mistake("each gradient was rescaled by its norm: this clip works entry by entry, "
                    "np.clip(gradient, -maxValue, maxValue).", v(norm=True)),
        ] + [Mistake(f"{k} is not clipped: clip every gradient in the dict (loop over "
                     f"gradients.values() or all of dWax, dWaa, dWya, dba, dby).",
                     v(keys=tuple(x for x in _LM_GRAD_KEYS if x != k)))
             for k in _LM_GRAD_KEYS]


def _sample_variant(parameters, char_to_ix, seed, feed=True, reset=True, carry=True,
                    greedy=False, stop=True, cap=50, include_eos=True, reseed=False,
                    legacy=None, newline_at_cap=False):
    """The reference sampler with one deliberate change. ``legacy``: draws from numpy's global
    generator instead, seeded once with np.random.seed(seed) ("once") or, as the course's
    code does, with np.random.seed(seed + 2k) before the k-th draw ("course")."""
    cell = _reference("rnnlib.rnn.rnn_cell_forward")
    vocab = len(char_to_ix)
    n_a = parameters["Waa"].shape[0]
    eos = char_to_ix["\n"]
    rng = np.random.default_rng(seed)
    legacy_rng = np.random.RandomState(seed)
    x, a = np.zeros((vocab, 1)), np.zeros((n_a, 1))
    indices = []
    while len(indices) < cap:
        a_new, y, _ = cell(x, a, parameters)
        if reseed:
            rng = np.random.default_rng(seed)
        if greedy:
            idx = int(np.argmax(y[:, 0]))
        elif legacy == "once":
            idx = int(legacy_rng.choice(vocab, p=y.ravel()))
        elif legacy == "course":
            idx = int(np.random.RandomState(seed + 2 * len(indices)).choice(vocab, p=y.ravel()))
        else:
            idx = int(rng.choice(vocab, p=y[:, 0]))
        if stop and idx == eos and not include_eos:
            break
        indices.append(idx)
        if stop and idx == eos:
            break
        if feed:
            if reset:
                x = np.zeros((vocab, 1))
            x[idx] = 1.0
        a = a_new if carry else a
    if newline_at_cap and len(indices) == cap and indices[-1] != eos:
        indices.append(eos)
    return indices


def _sample_model(seed, n_a, gain, eos=0.0):
    """A character model whose every step puts almost all its probability on a few indices
    (logits scaled by ``gain``), so that whatever random generator draws from it, a draw
    outside those few shows that the sampler used the wrong distribution. ``eos`` is added to
    the logit of "\\n"."""
    p = _lm_parameters(_rng(seed), n_a, scale=1.0)
    p["Wya"] = p["Wya"] * gain
    p["by"] = p["by"] * gain
    p["by"][0, 0] += eos
    return p


# A draw whose probability under the model is below this shows the wrong distribution: on the
# models below, a right sampler (any generator) draws one with probability < 1e-6 in a test.
_IMPLAUSIBLE = 1e-9


def _replay(parameters, indices, feed=True, carry=True, reset=True):
    """The model's probability of each drawn index, given the draws before it: x<1> = 0,
    a<0> = 0, then x<t+1> = the one-hot vector of the t-th draw (as the flags say)."""
    cell = _reference("rnnlib.rnn.rnn_cell_forward")
    vocab = parameters["by"].shape[0]
    x, a = np.zeros((vocab, 1)), np.zeros((parameters["Waa"].shape[0], 1))
    a0 = a
    probs = []
    for idx in indices:
        if not 0 <= idx < vocab:
            return probs + [0.0]
        a_new, y, _ = cell(x, a0 if not carry else a, parameters)
        probs.append(float(y[idx, 0]))
        if feed:
            if reset:
                x = np.zeros((vocab, 1))
            x[idx] = 1.0
        a = a_new
    return probs


_SAMPLE_REPLAYS = (
    ({"feed": False}, "the drawn character is not fed back: x<t+1> must be the one-hot vector "
                      "of the index just drawn."),
    ({"carry": False}, "the hidden state is not carried: each step must start from the a it "
                       "computed at the previous step."),
    ({"reset": False}, "x is not reset before writing the new one-hot vector, so it collects "
                       "several 1s: start from np.zeros((vocab_size, 1)) each step."),
)


_CAP_NEWLINE = ("do not append '\\n' when the cap is reached: a sample that reaches 50 "
                "characters stops there, with exactly 50 indices and no end index (the "
                "course's code appends one; this exercise does not).")


_LEGACY_SEED = ("the draws come from numpy's global generator (np.random.seed, "
                "np.random.choice): this exercise draws with one generator "
                "rng = np.random.default_rng(seed), created before the loop, and "
                "rng.choice(vocab_size, p=y.ravel()), so that its draws can be checked exactly.")


class _Sample(Spec):
    """Graded in four parts, so that a convention costs only the part that tests it:
    "values" (draws from the right distribution, whatever the generator), "cap" (the 50
    characters cap, whatever the generator), "draws" (the exact draws of
    np.random.default_rng(seed)) and "random" (the first on random models)."""

    name, reference = "sample", "rnnlib.language_model.sample"
    outputs = ("indices",)
    helpers = ("rnnlib.rnn.rnn_cell_forward",)
    parts = ("values", "cap", "draws", "random")

    def _case(self, label, seed, n_a, sample_seed, eos_bias=0.0, scale=0.6, params=None):
        p = params if params is not None else _lm_parameters(_rng(seed), n_a, eos_bias=eos_bias,
                                                              scale=scale)
        return Case(label, (p, dict(_CHAR_TO_IX), sample_seed), {"n_a": n_a},
                    ref_kwargs={})

    def fixed_cases(self):
        return [self._case("the fixed case (n_a=8, seed 3)", 61, 8, 3, eos_bias=1.0),
                self._case("the fixed case (n_a=8, seed 5)", 62, 8, 5, eos_bias=-1.0),
                self._case("the fixed case (n_a=5, seed 0, peaked output)", 63, 5, 0,
                           eos_bias=0.5, scale=1.5)]

    def cases_for(self, part):
        if part == "draws":
            return self.fixed_cases()
        if part == "cap":
            return [self._case("the fixed case that never draws '\\n' (n_a=8, seed 0)", 0, 8,
                               0, params=_sample_model(61, 8, 8.0, eos=-5.0))]
        return self.fixed_cases()

    def all_cases(self):
        return self.cases_for("draws") + self.cases_for("cap")

    def random_cases(self):
        return [self._case(f"a random case (n_a={n_a}, seed {s})", seed, n_a, s, eos_bias=b)
                for seed, n_a, s, b in ((601, 3, 11, 0.5), (602, 12, 4, 1.5), (603, 1, 8, 0.0))]

    def unpack(self, result, case):
        if isinstance(result, np.ndarray) and result.ndim == 1 and result.dtype.kind in "iu":
            result = [int(i) for i in result]
        if isinstance(result, (list, tuple)):
            result = [int(i) if isinstance(i, np.integer) else i for i in result]
        if not (isinstance(result, (list, tuple))
                and all(isinstance(i, int) and not isinstance(i, bool) for i in result)):
            raise GradingFailure(f"sample must return a list of indices (ints), got "
                                 f"{result!r:.80}.")
        return {"indices": list(result)}

    # -- the draws of the stated generator ("draws") ------------------------------------------

    def mistakes(self):
        def v(**kw):
            return lambda case: {"indices": _sample_variant(*case.fresh_args(), **kw)}

        return [
            Mistake(_SAMPLE_REPLAYS[0][1], v(feed=False)),
            Mistake(_SAMPLE_REPLAYS[2][1], v(reset=False)),
            Mistake(_SAMPLE_REPLAYS[1][1], v(carry=False)),
            Mistake("this takes the most likely index every time (argmax): draw it with "
                    "rng.choice(vocab_size, p=y.ravel()).", v(greedy=True)),
            Mistake("sampling does not stop at the end of a name: stop after drawing "
                    "char_to_ix['\\n'].", v(stop=False)),
            Mistake("the end index is missing from the result: append it, then stop.",
                    v(include_eos=False)),
            Mistake("the length cap is off by one: at most 50 indices.", v(cap=49)),
            Mistake("the length cap is off by one: at most 50 indices.", v(cap=51)),
            Mistake(_CAP_NEWLINE, v(newline_at_cap=True)),
            Mistake("the random generator is re-created at every step, so every draw uses the "
                    "same random number: create rng = np.random.default_rng(seed) once.",
                    v(reseed=True)),
            Mistake(_LEGACY_SEED, v(legacy="once")),
            Mistake(_LEGACY_SEED, v(legacy="course")),
        ]

    def expected(self, case):
        p, char_to_ix, seed = case.fresh_args()
        with _quiet():
            return {"indices": list(_reference(self.reference)(p, char_to_ix, seed=seed))}

    def hints(self, case, got):
        idx = got["indices"]
        if len(idx) > 50:
            return ["The result is longer than the cap of 50 indices."]
        return []

    # -- the distribution, whatever the generator ("values", "cap", "random") ----------------

    def _draw(self, student, params, seed):
        """The student's indices for one call (GradingFailure with the message if it fails)."""
        case = self._case(f"seed {seed}", 0, params["Waa"].shape[0], seed, params=params)
        try:
            result, _ = student.call(case.args, case.kwargs)
        except _StudentRaised as exc:
            raise GradingFailure(_error_message(self, exc)) from None
        return self.unpack(result, case)["indices"]

    def _judge_sequence(self, params, idx, cap_case=False):
        """None if ``idx`` is a sample of the model that a right sampler could draw, else the
        sentence that says what is wrong."""
        eos = _CHAR_TO_IX["\n"]
        if len(idx) > 50:
            if cap_case and len(idx) == 51 and idx[-1] == eos:
                return _CAP_NEWLINE
            return f"the result has {len(idx)} indices: the cap is 50."
        if eos in idx[:-1]:
            return ("sampling does not stop at the end of a name: stop after drawing "
                    "char_to_ix['\\n'].")
        if idx and idx[-1] != eos and len(idx) < 50:
            if cap_case and len(idx) == 49:
                return "the length cap is off by one: at most 50 indices, and exactly 50 here."
            return ("the result stops before the end of a name and before the cap: append "
                    "each draw, and stop only after drawing char_to_ix['\\n'] or at 50 indices.")
        if not idx:
            return "the result is empty: the sample has at least one index."
        with _quiet():
            probs = _replay(params, idx)
        if min(probs) >= _IMPLAUSIBLE:
            return None
        t = int(np.argmin(probs))
        for flags, message in sorted(_SAMPLE_REPLAYS, key=lambda r: "reset" not in r[0]):
            with _quiet():
                if min(_replay(params, idx, **flags)) >= _IMPLAUSIBLE:
                    return message
        return (f"draw {t + 1} (index {idx[t]}) has probability {probs[t]:.1e} under the "
                f"model, given the draws before it: each draw must come from y<t>, computed "
                f"from x<1> = 0 and a<0> = 0, then from the index just drawn and the state "
                f"carried from step to step.")

    def _distribution_part(self, student, models, cap_case=False, seeds=tuple(range(12))):
        for label, params in models:
            seen = set()
            for seed in seeds:
                idx = self._draw(student, params, seed)
                problem = self._judge_sequence(params, idx, cap_case)
                if problem:
                    raise GradingFailure(f"On {label} with seed {seed}: sample: {problem}")
                seen.add(tuple(idx))
            if not cap_case and len(seen) == 1:
                raise GradingFailure(
                    f"On {label}: sample: every seed gives the same sample: draw each index at "
                    f"random from y (rng.choice(vocab_size, p=y.ravel()) with "
                    f"rng = np.random.default_rng(seed)), not the most likely one (argmax).")
        return len(models) * len(seeds)

    def run_values(self, student):
        n = self._distribution_part(student, [
            ("the fixed model (n_a=8)", _sample_model(62, 8, 6.0)),
            ("the fixed model with likely ends (n_a=5)", _sample_model(608, 5, 4.0, eos=12.0))])
        return (f"sample: {n} samples, each drawn from the model's distribution given the draws "
                f"before it.")

    def run_cap(self, student):
        n = self._distribution_part(student, [
            ("the fixed model that never draws '\\n' (n_a=8)",
             _sample_model(61, 8, 8.0, eos=-5.0))], cap_case=True, seeds=(0, 1, 2))
        return f"sample: stops at the cap of 50 indices ({n} samples)."

    def run_random(self, student):
        models = [(f"a random model (n_a={n_a}, seed {seed})", _sample_model(seed, n_a, g, eos))
                  for seed, n_a, g, eos in ((606, 12, 4.0, 12.0), (607, 8, 4.0, 2.0),
                                            (606, 1, 4.0, 8.0))]
        n = self._distribution_part(student, models)
        return f"sample: {n} samples on random models, each from the model's distribution."


def _lm_example(rng, n_a, name, scale=1.0):
    p = _lm_parameters(rng, n_a, scale=scale)
    ids = [_CHAR_TO_IX[c] for c in name]
    return [None] + ids, ids + [0], p


def _optimize_variant(X, Y, a_prev, parameters, learning_rate, clip_value=5, do_clip=True,
                      sign=-1.0, update_first=False, a_index=-1, in_place=True):
    lag = _reference("rnnlib.language_model.loss_and_gradients")
    loss, grads, a = lag(X, Y, a_prev, parameters)
    raw = {k: g.copy() for k, g in grads.items()}
    if do_clip:
        for g in grads.values():
            np.clip(g, -clip_value, clip_value, out=g)
    step = raw if update_first else grads
    new = {k: parameters[k] + sign * learning_rate * step["d" + k] for k in parameters}
    if in_place:
        parameters.update(new)
    return {"loss": loss, "gradients": grads, "a_last": a[:, :, a_index],
            "parameters": parameters}


class _Optimize(Spec):
    name, reference = "optimize", "rnnlib.language_model.optimize"
    returns = ("loss", "gradients", "a_last")
    outputs = ("loss", "gradients", "a_last", "parameters")
    substitutes = {"clip": "rnnlib.optim.clip"}
    lent_for = {"clip": "gradients"}
    helpers = ("rnnlib.language_model.loss_and_gradients", "rnnlib.optim.update_parameters")
    parts = ("values", "random")

    def _case(self, label, seed, n_a, name, lr, scale=1.0):
        rng = _rng(seed)
        X, Y, p = _lm_example(rng, n_a, name, scale)
        return Case(label, (X, Y, _normal(rng, n_a, 1), p, lr), {"n_a": n_a})

    def fixed_cases(self):
        return [self._case("the fixed case (name 'aaaaaaaaab', n_a=6, learning_rate=0.05)",
                           71, 6, "aaaaaaaaab", 0.05),
                self._case("the fixed case (name 'zoe', n_a=4, learning_rate=0.01)",
                           72, 4, "zoe", 0.01, 2.0)]

    def random_cases(self):
        return [self._case(f"a random case (name {nm!r}, n_a={n_a}, seed {seed})", seed, n_a,
                           nm, lr) for seed, n_a, nm, lr in ((701, 3, "anna", 0.1),
                                                            (702, 9, "mmmmmmmmmmmmmm", 0.02),
                                                            (703, 1, "x", 0.3))]

    def expected_shapes(self, case):
        return {"a_last": ((case.dims["n_a"], 1), "(n_a, 1)")}

    def unpack(self, result, case):
        got = super().unpack(result, case)
        if not isinstance(got["gradients"], dict):
            raise GradingFailure("optimize: gradients must be the dict of (clipped) gradients.")
        return got

    wants_args_after = True  # parameters (updated in place) is compared too

    def expected(self, case):
        X, Y, a_prev, p, lr = case.fresh_args()
        with _quiet():
            loss, grads, a_last = _reference(self.reference)(X, Y, a_prev, p, lr)
        return _roundtrip({"loss": loss, "gradients": grads, "a_last": a_last,
                           "parameters": p})

    def mistakes(self):
        def v(**kw):
            return lambda case: _optimize_variant(*case.fresh_args(), **kw)

        return [
            Mistake("the gradients are not clipped: call clip(gradients, 5) between the "
                    "backward pass and the update.", v(do_clip=False)),
            Mistake("the gradients are clipped at the wrong value: clip(gradients, 5).",
                    v(clip_value=10)),
            Mistake("the gradients are clipped at the wrong value: clip(gradients, 5).",
                    v(clip_value=1)),
            Mistake("the update goes uphill: parameters['W'] -= learning_rate * "
                    "gradients['dW'].", v(sign=1.0)),
            Mistake("the update uses the gradients before clipping: clip first, then update.",
                    v(update_first=True)),
            Mistake("a_last is the first hidden state: return the last one, a<T_x> = "
                    "a[:, :, -1].", v(a_index=0)),
            Mistake("parameters is not updated in place: update_parameters(parameters, "
                    "gradients, learning_rate) changes the dict it is given.", v(in_place=False)),
        ]
