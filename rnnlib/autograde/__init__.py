"""Autograding that holds against hostile submissions.

Where judging happens: nbgrader normally runs the instructor's test cells inside the student's
kernel, after the student's code, so that code can change how the tests run. Here the student's
code runs in a sandboxed kernel (:mod:`.sandbox`: bubblewrap, no network, no course files,
memory/file/time limits) and the test cells run in the grader, reaching the student's functions
only by passing plain data across (:mod:`.judge`, :mod:`rnnlib.grading.wire`, :mod:`.agent`).
The course's ``grading.check_*`` test cells are judged the same way by rnnlib.grading's judge
(:mod:`rnnlib.grading.kernel_judge`), calling the student's functions in the same kernel.

Modules:

- :mod:`.config`: ``harden(c)``, the one call in ``nbgrader_config.py`` that wires all of this
  into nbgrader's own ``nbgrader autograde``;
- :mod:`.execute`: the executor (sandboxed kernel, restarts, output cap);
- :mod:`.judged_cells`: its test cells, judged in the grader against the kernel;
- :mod:`.grades`: structure restored from the gradebook, verdicts saved as grades;
- :mod:`.limits`, :mod:`.suspicious`, :mod:`.record`, :mod:`.modules`: limits, cheating flags,
  the per-notebook record, the student's view of rnnlib;
- :mod:`.classgrade`: ``python -m rnnlib.autograde.classgrade ASSIGNMENT``, parallel grading of a
  class (process pool or Dask), same gradebook as sequential ``nbgrader autograde``; its kernels
  are forked into their sandboxes from :mod:`.zygote` (:mod:`.kernel_env`: what every kernel
  starts with);
- :mod:`.report`: ``python -m rnnlib.autograde.report ASSIGNMENT``, the class report (CSV,
  HTML) and feedback for every student.

The small course and the catalog of honest and hostile submissions that the tests and the
benchmark grade are in ``tests/autograde_catalog.py``.
"""
