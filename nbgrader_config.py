"""nbgrader configuration of the course. Run every nbgrader command from the repository root.

    solutions/<a>/<a>.ipynb   nbgrader's source directory: the instructor's notebooks
    exercises/<a>/<a>.ipynb   its release directory: the student notebooks (generated, committed)
    submitted/, autograded/, feedback/, gradebook.db   created by grading (git-ignored)

Environment switches:
    NBGRADER_DB_URL    the gradebook's database URL (default: SQLite, gradebook.db here);
                       e.g. postgresql+psycopg://user@host/course (PostgreSQL)
    NBGRADER_EXCHANGE  the exchange directory for release_assignment / collect
                       (default /srv/nbgrader/exchange)

Grading runs two checks per test cell (see rnnlib/grading.py): the test cell in the student's
kernel, then ``JudgeCells``, which re-grades it outside the kernel; a test passes only if both
pass, and calling rnnlib's reference or patching numpy or the tests scores 0 for the function.
"""

import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    Execute,
    GetGrades,
    IgnorePattern,
    IncludeHeaderFooter,
    InstantiateTests,
    LimitOutput,
    LockCells,
    SaveAutoGrades,
    SaveCells,
)

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

# Grading: a time limit per cell, deleted test cells put back, and the judge outside the kernel.
c.Execute.timeout = 30
c.Execute.interrupt_on_timeout = True
c.Execute.raise_on_iopub_timeout = False
c.OverwriteCells.add_missing_cells = True
c.JudgeCells.timeout = 30
c.Autograde.autograde_preprocessors = [
    Execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    "rnnlib.grading.JudgeCells",
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
]

# Feedback shows the students their failures, not the hidden tests' source.
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, ClearHiddenTests]

# --- Hardened autograding (issue 6, rnnlib/autograde/). Keep this block last. ---------------
# harden(c) rewrites the lists above in place, keeping every step it does not replace:
# kernels run in bubblewrap (no network, no course files, memory/file/time limits, a scratch
# copy of the submission); test cells that JudgeCells does not take are judged in the grader
# against the student's functions by proxy; hung or crashed kernels are restarted; output is
# capped in bytes; each notebook records flags for `python -m rnnlib.autograde.report`.
from rnnlib.autograde.config import harden  # noqa: E402

harden(c)
