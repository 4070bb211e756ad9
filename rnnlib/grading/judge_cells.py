"""The ``nbgrader autograde`` step ``JudgeCells``: the judge's verdicts become the outputs of
the ``grading.check_*`` test cells, which nbgrader then scores (imported only by nbgrader)."""

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Unicode

from .judge import _apply_verdicts, judge_notebook


class JudgeCells(NbGraderPreprocessor):
    """Autograde step (after Execute): re-grade every ``grading.check_*`` test cell
    outside the student's kernel and record failures in the cell's outputs."""

    timeout = Float(30.0, help="Seconds allowed for each cell or call in the grading "
                               "worker.").tag(config=True)
    notebook_timeout = Float(300.0, help="Seconds allowed for the whole notebook in the "
                                         "grading worker.").tag(config=True)
    wrap_command = Unicode(
        "rnnlib.autograde.sandbox:wrap_command",
        help="'module:function' that wraps the worker's command line in a sandbox, called "
             "as f(argv, cwd, readable=..., writable=...). The default runs the worker in "
             "bubblewrap with the grading kernels' limits (limits only, and a loud warning, "
             "where bubblewrap is missing); empty: no sandbox.").tag(config=True)

    def preprocess(self, nb, resources):
        verdicts = judge_notebook(nb, timeout=self.timeout, log=self.log,
                                  wrap_command=self.wrap_command or None,
                                  notebook_timeout=self.notebook_timeout)
        _apply_verdicts(nb, verdicts, log=self.log)
        return nb, resources
