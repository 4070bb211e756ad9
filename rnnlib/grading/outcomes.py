"""What a check concludes: a failure the student reads, an integrity violation, the
student's own exception, and the sentences that name a violation.
"""




class GradingFailure(AssertionError):
    """A test failed; the message is written for the student."""


class IntegrityViolation(GradingFailure):
    """The function reached rnnlib's reference, or numpy / the tests were patched."""


class _StudentRaised(Exception):
    """The student's function raised: ``etype``, ``message`` and ``where`` (their line)."""

    def __init__(self, etype, message, where=""):
        super().__init__(f"{etype}: {message}")
        self.etype, self.message, self.where = etype, message, where


def _reference_message(name, reached):
    names = []
    for r in reached:
        r = r.split(".<locals>")[0]
        if r not in names:
            names.append(r)
    names.sort(key=lambda r: r.rsplit(".", 1)[-1].startswith("_"))
    what = ", ".join(names[:2])
    return (f"{name}: no points for this test: it reaches rnnlib's reference ({what}) instead "
            f"of computing the result itself. Write the function with numpy.")


def _patch_message(name, changes, when):
    what = "; ".join(changes[:3]) + ("; ..." if len(changes) > 3 else "")
    return (f"{name}: no points for this test: numpy or the grading code was changed {when} "
            f"({what}). Tests must run against the real numpy and rnnlib: remove that code.")
