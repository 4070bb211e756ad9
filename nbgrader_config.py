"""nbgrader configuration of the course. Run every nbgrader command from the repository root.

    solutions/<a>/<a>.ipynb   nbgrader's source directory: the instructor's notebooks
    exercises/<a>/<a>.ipynb   its release directory: the student notebooks (generated, committed)
    submitted/, autograded/, feedback/, gradebook.db   created by grading (git-ignored)

Environment switches:
    NBGRADER_DB_URL    the gradebook's database URL (default: SQLite, gradebook.db here);
                       e.g. postgresql+psycopg://user@host/course (PostgreSQL)
    NBGRADER_EXCHANGE  the exchange directory for release_assignment / collect
                       (default /srv/nbgrader/exchange)

The lists below are the pipelines exactly as they run: the hardened steps (rnnlib.autograde,
rnnlib.grading) are named in them, each with what it adds to nbgrader's own step. ``harden(c)``
at the end sets what goes around them (the sandboxed kernel, the safe pages, the submission
hook, log escaping, one database engine per gradebook) and leaves these lists as they are
(tests/test_autograde_units.py checks).
"""

import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    IncludeHeaderFooter,
    InstantiateTests,
    LimitOutput,
    LockCells,
    OverwriteKernelspec,
    SaveCells,
)

from rnnlib.autograde.config import harden
from rnnlib.autograde.execute import JudgedExecute
from rnnlib.autograde.grades import RecordVerdicts, SafeOverwriteCells, SaveJudgedGrades
from rnnlib.autograde.limits import LimitOutputBytes
from rnnlib.autograde.metadata import CheckCellMetadata  # nbgrader's, its schema compiled once
from rnnlib.autograde.sanitize import SanitizeSubmission
from rnnlib.autograde.suspicious import FlagSuspiciousCode

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

c.CourseDirectory.course_id = "rnn-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
if os.environ.get("NBGRADER_DB_URL"):
    c.CourseDirectory.db_url = os.environ["NBGRADER_DB_URL"]
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")

# Release: the solution regions become `raise NotImplementedError()`; cells that then raise
# are tagged `raises-exception` so that `pytest --nbval-lax exercises` accepts the release.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.GenerateAssignment.preprocessors = [
    IncludeHeaderFooter, InstantiateTests, LockCells, ClearSolutions,
    "rnnlib.grading.ReleaseTags",
    ClearOutput, CheckCellMetadata, ComputeChecksums, SaveCells, ClearHiddenTests,
    ClearMarkScheme, ComputeChecksums, CheckCellMetadata,
]

# Grading (nbgrader autograde, and the parallel classgrade, which runs the same steps).
c.Execute.timeout = 30  # seconds per cell; JudgedExecute also bounds the notebook (300 s)
c.Execute.interrupt_on_timeout = True
c.Execute.raise_on_iopub_timeout = False
c.Execute.shutdown_kernel = "immediate"  # the sandbox is thrown away: no graceful wait (0.2 s)
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    ClearOutput,
    SafeOverwriteCells,  # OverwriteCells with the gradebook's cell roles; copies of instructor
                         # cells become plain cells (flag "structure"); deleted ones put back
    DeduplicateIds, OverwriteKernelspec, CheckCellMetadata,
]
c.Autograde.autograde_preprocessors = [
    FlagSuspiciousCode,  # flags code that patches numpy or the tests, files that shadow modules
    JudgedExecute,       # Execute in a sandboxed kernel (bubblewrap, own uid and cgroup, limits);
                         # test cells are never sent to it: they are judged in this process,
                         # calling the student's functions in the kernel (the student's code
                         # runs once); hung or dead kernels restarted
    IgnorePattern, ClearMetadataPreprocessor,
    LimitOutputBytes,    # output capped in bytes per cell, then nbgrader's cap in lines
    LimitOutput,
    SaveJudgedGrades,    # SaveAutoGrades, scoring the test cells from the judges' verdicts
    AssignLatePenalties, CheckCellMetadata,
    RecordVerdicts,      # the flags and verdicts the class report shows
    SanitizeSubmission,  # last: what formgrader and the feedback show is rebuilt from an
                         # allow-list (no script, no HTML from a submission)
]
# The grading.check_* test cells (rnnlib.grading.parse_checks says which) are judged by the
# course's checks (rnnlib.grading.kernel_judge); the instructor's own test cells by the proxy
# judge (rnnlib.autograde.judge). Both call the student's functions in the one kernel.
c.JudgedExecute.delegate = "rnnlib.grading:parse_checks"

# Feedback shows the students their failures, not the hidden tests' source.
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, ClearHiddenTests]

# Around those steps: the kernel manager of the sandbox, the feedback and formgrader pages
# (sanitiser, CSP, offline MathJax), links and bad timestamps out of a submission before nbgrader
# reads it, log escaping, one database engine per gradebook (rnnlib.autograde.engines), and
# defaults for settings not given above.
harden(c)
