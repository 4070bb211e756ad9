"""One call that wires the hardened grading into nbgrader's own commands.

At the end of the course's ``nbgrader_config.py``::

    from rnnlib.autograde.config import harden
    harden(c)

After it, plain ``nbgrader autograde`` (and this project's parallel ``classgrade``) sanitizes with
:class:`~rnnlib.autograde.grades.SafeOverwriteCells`, executes with
:class:`~rnnlib.autograde.execute.JudgedExecute` (sandboxed kernel, limits, tests judged outside
the kernel), scores with :class:`~rnnlib.autograde.grades.SaveJudgedGrades` and records flags
for the class report; ``nbgrader generate_feedback`` hides hidden tests. Values the
configuration set before the call (timeouts, limits) are kept.
"""

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteKernelspec,
)

from .execute import JudgedExecute
from .grades import RecordVerdicts, SafeOverwriteCells, SaveJudgedGrades
from .limits import LimitOutputBytes
from .sandbox import SandboxedKernelManager
from .suspicious import FlagSuspiciousCode

#: Defaults applied when the configuration does not set them.
DEFAULTS = {
    ("Execute", "timeout"): 30,
    ("Execute", "raise_on_iopub_timeout"): False,
    ("Execute", "interrupt_on_timeout"): True,
    ("OverwriteCells", "add_missing_cells"): True,
}


def _is_set(c, section, key):
    return section in c and key in c[section]


def harden(c):
    """Configure nbgrader (the ``c`` of ``nbgrader_config.py``) for hostile submissions."""
    c.Autograde.sanitize_preprocessors = [
        ClearOutput,
        SafeOverwriteCells,
        DeduplicateIds,
        OverwriteKernelspec,
        CheckCellMetadata,
    ]
    c.Autograde.autograde_preprocessors = [
        FlagSuspiciousCode,
        JudgedExecute,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutputBytes,
        LimitOutput,
        SaveJudgedGrades,
        AssignLatePenalties,
        CheckCellMetadata,
        RecordVerdicts,
    ]
    c.JudgedExecute.kernel_manager_class = SandboxedKernelManager
    c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, ClearHiddenTests]
    for (section, key), value in DEFAULTS.items():
        if not _is_set(c, section, key):
            c[section][key] = value
    return c
