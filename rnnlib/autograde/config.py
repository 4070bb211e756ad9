"""One call that wires the hardened grading into nbgrader's own commands.

At the end of the course's ``nbgrader_config.py``::

    from rnnlib.autograde.config import harden
    harden(c)

After it, plain ``nbgrader autograde`` (and this project's parallel ``classgrade``) sanitizes with
:class:`~rnnlib.autograde.grades.SafeOverwriteCells`, executes with
:class:`~rnnlib.autograde.execute.JudgedExecute` (sandboxed kernel, limits, tests judged outside
the kernel), scores with :class:`~rnnlib.autograde.grades.SaveJudgedGrades` and records flags
for the class report; ``nbgrader generate_feedback`` hides hidden tests. Values the
configuration set before the call (timeouts, limits, other preprocessors) are kept.
"""

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    DeduplicateIds,
    Execute,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from .execute import JudgedExecute
from .grades import RecordVerdicts, SafeOverwriteCells, SaveJudgedGrades
from .limits import LimitOutputBytes
from .pages import configure as configure_pages
from .sandbox import SandboxedKernelManager
from .sanitize import SanitizeSubmission
from .suspicious import FlagSuspiciousCode

#: Defaults applied when the configuration does not set them.
DEFAULTS = {
    ("Execute", "timeout"): 30,
    ("Execute", "raise_on_iopub_timeout"): False,
    ("Execute", "interrupt_on_timeout"): True,
    # a grading kernel's sandbox is thrown away after its notebook: no graceful wait
    ("Execute", "shutdown_kernel"): "immediate",
    ("OverwriteCells", "add_missing_cells"): True,
}

def _name(entry):
    """Class name of a preprocessor given as a class or as an import string."""
    return getattr(entry, "__name__", str(entry).rsplit(".", 1)[-1])


def _is_set(c, section, key):
    return section in c and key in c[section]


def hardened_sanitize(current):
    """nbgrader's sanitize list with ``SafeOverwriteCells`` first after ``ClearOutput``."""
    out = [p for p in current if _name(p) not in ("OverwriteCells", "SafeOverwriteCells")]
    at = next((i + 1 for i, p in enumerate(out) if _name(p) == "ClearOutput"), 0)
    out.insert(at, SafeOverwriteCells)
    return out


def hardened_autograde(current):
    """The autograde list with the hardened steps in place of nbgrader's, the rest kept."""
    swap = {"Execute": [JudgedExecute], "SaveAutoGrades": [SaveJudgedGrades],
            "LimitOutput": [LimitOutputBytes, LimitOutput]}
    mine = {"FlagSuspiciousCode", "RecordVerdicts", "LimitOutputBytes", "SanitizeSubmission"}
    out = [FlagSuspiciousCode]
    for entry in current:
        name = _name(entry)
        if name in mine:
            continue
        out.extend(swap.get(name, [entry]))
    if not any(_name(p) == "JudgedExecute" for p in out):
        out.insert(1, JudgedExecute)
    if not any(_name(p) == "SaveJudgedGrades" for p in out):
        out.append(SaveJudgedGrades)
    out.append(RecordVerdicts)
    out.append(SanitizeSubmission)  # last: autograded/ is what formgrader and feedback show
    return out


def harden(c):
    """Configure nbgrader (the ``c`` of ``nbgrader_config.py``) for hostile submissions.

    Call it last: it rewrites the preprocessor lists the configuration set (or nbgrader's
    defaults), swapping in the hardened steps and keeping everything else in place. (The
    course's checks are switched on by ``c.JudgedExecute.delegate``, which this leaves as set.)
    """
    sanitize = (c.Autograde.sanitize_preprocessors if _is_set(c, "Autograde",
                "sanitize_preprocessors") else STOCK_SANITIZE)
    autograde = (c.Autograde.autograde_preprocessors if _is_set(c, "Autograde",
                 "autograde_preprocessors") else STOCK_AUTOGRADE)
    c.Autograde.sanitize_preprocessors = hardened_sanitize(list(sanitize))
    c.Autograde.autograde_preprocessors = hardened_autograde(list(autograde))
    c.JudgedExecute.kernel_manager_class = SandboxedKernelManager
    feedback = (list(c.GenerateFeedback.preprocessors) if _is_set(c, "GenerateFeedback",
                "preprocessors") else [GetGrades, CSSHTMLHeaderPreprocessor])
    if not any(_name(p) == "ClearHiddenTests" for p in feedback):
        feedback.append(ClearHiddenTests)
    c.GenerateFeedback.preprocessors = feedback
    configure_pages(c)  # feedback and formgrader: sanitiser, CSP, offline MathJax
    for (section, key), value in DEFAULTS.items():
        if not _is_set(c, section, key):
            c[section][key] = value
    from . import engines
    from .logsafe import install

    install()  # a submission's text never reaches the grader's terminal or log raw
    engines.install()  # the gradebook's compiled SQL kept between nbgrader's opens of it
    if not _is_set(c, "Autograde", "pre_convert_hook"):
        # links and unreadable timestamps out of a submission before nbgrader reads it
        c.Autograde.pre_convert_hook = "rnnlib.autograde.submission.pre_convert_hook"
    return c


STOCK_SANITIZE = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
                  CheckCellMetadata]
STOCK_AUTOGRADE = [Execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                   SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
