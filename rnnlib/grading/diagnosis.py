"""The mistake-matching machinery, once for every check: run a part of a check on the
student's function, compare with the reference and, when it differs, find the known
mistake whose output it equals and say that mistake's sentence.
"""

import numpy as np

from .outcomes import GradingFailure, _StudentRaised
from .spec import _COURSE_NAMES, _close, _first_difference, _shape_problem
from .worker import _quiet


def _mistake_outputs(spec, case):
    """[(mistake, outputs)] for the mistakes that can be computed on ``case`` and differ from
    the reference there."""
    expected = spec.expected(case)
    found = []
    for mistake in spec.mistakes():
        try:
            with _quiet():
                alt = mistake.compute(case)
        except Exception:  # noqa: BLE001 - a mistake that cannot run on this case's shapes
            continue
        if all(_close(alt.get(k), expected[k]) for k in spec.outputs):
            continue
        found.append((mistake, alt))
    return found


def _match_mistake(spec, case, got):
    """The sentence of the known mistake ``got`` matches, or None; a partial match (some wrong
    outputs explained) gives the sentences of the outputs it explains."""
    expected = spec.expected(case)
    candidates = _mistake_outputs(spec, case)
    for mistake, alt in candidates:
        if all(_close(got.get(k), alt.get(k)) for k in spec.outputs):
            return mistake.message
    parts = []
    for k in spec.outputs:
        if _close(got.get(k), expected[k]):
            continue
        for mistake, alt in candidates:
            if not _close(alt.get(k), expected[k]) and _close(got.get(k), alt.get(k)):
                if mistake.message not in parts:
                    parts.append(mistake.message)
                break
    return " ".join(parts) if parts else None


def _error_message(spec, exc):
    if exc.etype == "NotImplementedError":
        return (f"{spec.name} is not implemented yet: replace `raise NotImplementedError()` "
                f"with your code.")
    msg = f"{spec.name} raised {exc.etype}: {exc.message}"
    if exc.where:
        msg += f" ({exc.where.rstrip(': ')})"
    text = exc.message.lower()
    if exc.etype == "ValueError" and any(
            s in text for s in ("matmul", "not aligned", "broadcast", "shapes")):
        msg += ". The shapes do not fit together" + (f": {spec.error_hint}" if spec.error_hint
                                                     else "")
    elif exc.etype == "KeyError":
        key = exc.message.strip().strip("'\"")
        if key in _COURSE_NAMES:
            ours, why, where = _COURSE_NAMES[key]
            msg += f". {why}: use {where}[{ours!r}] (the course's {key})"
        else:
            msg += ". Use the parameter names of the notes (e.g. parameters['Wax'])"
    elif exc.etype == "NameError":
        msg += (". A name your function uses is not defined where it runs: define it in your "
                "solution cell (or import it there), not only in a scratch cell")
    elif exc.etype == "RecursionError":
        msg += ". Does the function call itself?"
    return msg + ("" if msg.endswith(".") else ".")


def _evaluate(spec, case, student, shapes_only=False):
    """None if the student's function is right on ``case``, else (message, identified)."""
    try:
        result, args_after = student.call(case.args, case.kwargs)
    except _StudentRaised as exc:
        return _error_message(spec, exc), exc.etype == "NotImplementedError"
    try:
        got = spec.unpack(result, case)
    except GradingFailure as failure:
        return str(failure), False
    if getattr(spec, "wants_args_after", False):
        got["parameters"] = args_after[3]
    problem = _shape_problem(spec, case, got)
    if problem:
        named = _match_mistake(spec, case, got)
        return (f"{spec.name}: {problem} {named}", True) if named else \
            (f"{spec.name}: {problem}", False)
    if shapes_only:
        return None
    expected = spec.expected(case)
    bad = [k for k in spec.outputs if not _close(got.get(k), expected[k])]
    if bad:
        named = _match_mistake(spec, case, got)
        if named:
            return f"{spec.name}: {named}", True
        k = bad[0]
        g, e = got.get(k), expected[k]
        msg = f"{spec.name}: {k} differs from the expected value"
        if isinstance(g, np.ndarray) and isinstance(e, np.ndarray) and g.shape == e.shape:
            msg += f" ({_first_difference(g, e)})"
        elif not isinstance(e, np.ndarray):
            msg += f" (got {g!r}, expected {e!r})"
        hints = spec.hints(case, got)
        if len(bad) > 1:
            msg += f"; {', '.join(bad[1:])} also differ{'s' if len(bad) == 2 else ''}"
        return msg + "." + "".join(" " + h for h in hints), False
    problem = spec.extra(case, got, args_after)
    if problem:
        return f"{spec.name}: {problem}", True
    return None


def _run_part(spec, part, student):
    """Run one part of ``spec``'s check on ``student``; returns a sentence, or raises
    GradingFailure whose message names the mistake."""
    __tracebackhide__ = True
    if part not in spec.parts:
        raise GradingFailure(f"{spec.name}: unknown test part {part!r} "
                             f"(one of {', '.join(spec.parts)})")
    custom = getattr(spec, f"run_{part}", None)
    if custom is not None:  # a part that is not "call once per case and compare"
        return custom(student)
    if part == "random":
        cases = spec.random_cases()
        for case in cases:
            outcome = _evaluate(spec, case, student)
            if outcome:
                raise GradingFailure(f"On {case.label}: {outcome[0]}")
        return f"{spec.name}: matches rnnlib on {len(cases)} random cases."
    fixed = spec.cases_for(part)
    first = _evaluate(spec, fixed[0], student, shapes_only=(part == "shapes"))
    if first is None and part == "shapes":
        return f"{spec.name}: structure and shapes are right."
    outcomes = [first] + [_evaluate(spec, case, student) for case in fixed[1:]]
    failures = [(o, case) for o, case in zip(outcomes, fixed, strict=True) if o]
    if not failures:
        return f"{spec.name}: values are right on the fixed cases."
    identified = [(o, case) for o, case in failures if o[1]]
    (message, _), case = (identified or failures)[0]
    if case is not fixed[0]:
        message = f"On {case.label}: {message}"
    raise GradingFailure(message)
