"""nbgrader's ``Execute`` step, hardened: sandboxed kernel, limits, and tests judged outside it.

:class:`JudgedExecute` replaces nbgrader's :class:`~nbgrader.preprocessors.Execute` in
``Autograde.autograde_preprocessors`` (see :func:`rnnlib.autograde.config.harden`). It walks the
notebook like the stock executor, with four differences:

1. The kernel is a :class:`~rnnlib.autograde.sandbox.SandboxedKernelManager` kernel: bubblewrap,
   memory and file-size limits, a scratch copy of the submission's files, and only the helper
   part of rnnlib importable (with the course's checks: the judge's host, no rnnlib at all).
2. Autograded test cells are not sent to the kernel. Their source is read from the gradebook
   (never from the submission) and judged in this process (:mod:`.judged_cells`: the
   instructor's own cells by a :class:`~rnnlib.autograde.judge.Judge` that reaches the
   student's functions by proxy, the ``grading.check_*`` cells by the course's checks), so
   the student's code runs once, in the kernel. The proxy's verdicts go to
   ``resources["autograde"]``, where :class:`~rnnlib.autograde.grades.SaveJudgedGrades` reads
   them; the checks' verdicts are the cells' outputs.
3. A cell that runs past the time limit is interrupted; a kernel that ignores the interrupt, or
   dies (``os._exit``, a crash, the memory limit), is restarted and the student's earlier
   cells are replayed, so the rest of the notebook is still graded. Each event becomes a flag
   with a one-line reason.
4. Output is capped in bytes per cell while it arrives (50 MB on one line is cut to the limit
   and flagged), not only in lines afterwards.
"""

import asyncio
import importlib
import time

from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, List, Unicode

from ..grading.judge import _cell_role
from ..grading.kernel_judge import KernelJudge
from ..grading.worker import UTILITY_MODULES
from .gradebook import notebook_sources
from .judged_cells import JudgedCells
from .modules import DEFAULT_ALLOWED, modules_for_cells, view_plan
from .record import add_flag, record_for
from .sandbox import SandboxedKernelManager, Scratch, build_host_view, build_rnnlib_view


def is_test_cell(cell):
    """An autograded test cell: a graded, non-solution code cell."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def output_size(msg):
    """Bytes an output message would add to the notebook (text and data payloads)."""
    content = msg.get("content", {})
    size = len(content.get("text", "") or "")
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(str(value))
    size += sum(len(line) for line in content.get("traceback", []) or [])
    return size


class JudgedExecute(JudgedCells, Execute):
    """Execute a submission in a sandboxed kernel and judge its test cells from outside."""

    max_output_bytes = Integer(
        1_000_000, help="Output kept per cell, in bytes; the rest is cut and flagged."
    ).tag(config=True)
    max_restarts = Integer(
        3, help="Kernel restarts (after a death or an ignored interrupt) per notebook."
    ).tag(config=True)
    judge_tests = Bool(
        True, help="Run test cells in the grader against the kernel by proxy (else in the "
                   "kernel, as stock nbgrader does: not safe against hostile code)."
    ).tag(config=True)
    allowed_rnnlib_modules = List(
        Unicode(), list(DEFAULT_ALLOWED),
        help="rnnlib modules a kernel may import when the instructor's locked cells import "
             "them (helpers, never the references being graded)."
    ).tag(config=True)
    delegate = Unicode(
        "", help="'module:function' deciding, from a test cell's source, that the course's "
                 "checks judge it (rnnlib.grading.kernel_judge: the student's functions are "
                 "called in this kernel, which then holds the judge's host and no rnnlib "
                 "reference). Empty: every test cell goes to the proxy judge."
    ).tag(config=True)
    notebook_timeout = Integer(
        300, help="Seconds one notebook may run in all (its cells and its judged tests); the "
                  "cells after that are not run and the notebook is flagged. Each cell also "
                  "has Execute.timeout."
    ).tag(config=True)
    raise_on_iopub_timeout = Bool(False).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    # -- set-up ------------------------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        """Execute ``nb`` (nbgrader's resources give the gradebook and the notebook's path)."""
        self._record = record_for(resources)
        self._record["judged"] = self.judge_tests
        self._tests = self._test_sources(resources)
        self._scratch = Scratch((resources.get("metadata") or {}).get("path"))
        self._restarts, self._dead, self._replayable = 0, False, []
        self._deadline = None  # set when the first cell runs: kernel start-up is not counted
        self._time_flagged = False
        self._judge = None
        self._output_bytes = {}
        self._cwd = (resources.get("metadata") or {}).get("path")
        self.raise_on_iopub_timeout = False
        self._delegated = self._delegated_cells()
        self._checker, self._channel = None, None
        # the instructor's locked set-up cells, from the gradebook (whatever the notebook says)
        locked = [src for key, src in self._tests.items() if isinstance(key, tuple)]
        if self._delegated:
            # the course's checks judge these cells, calling the student's functions here:
            # the kernel gets the judge's host (utilities, stubs, guards), no reference
            self._host_dir = build_host_view(self._scratch.lib)
            self._checker = KernelJudge(nb.cells, self._judge_restart, timeout=self.timeout or 30,
                                        log=self.log, notebook_timeout=self.notebook_timeout)
            copied = set(UTILITY_MODULES)
        else:
            copied, stubbed = view_plan(modules_for_cells(locked),
                                        self.allowed_rnnlib_modules)
            build_rnnlib_view(self._scratch.lib, copied, stubbed)
        self._record["rnnlib_view"] = sorted(copied)
        self._record["delegated"] = sorted(self._delegated)
        try:
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            if self._channel is not None:
                self._channel.close()
            self._scratch.cleanup()
        self._record["cell_ids"] = {
            str(i): c.metadata["nbgrader"]["grade_id"] for i, c in enumerate(nb.cells)
            if (c.metadata.get("nbgrader") or {}).get("grade_id")}
        return nb, resources

    def _delegated_cells(self):
        """Grade ids of the test cells the configured other judge takes."""
        if not self.delegate:
            return set()
        module, _, name = self.delegate.partition(":")
        try:
            predicate = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            self.log.warning("JudgedExecute.delegate %s unusable: %s", self.delegate, exc)
            return set()
        return {key for key, source in self._tests.items()
                if isinstance(key, str) and predicate(source)}

    def _test_sources(self, resources):
        """Test cells' sources (by grade id) and set-up cells' (keyed ("source", i)) from the
        gradebook."""
        info = (resources or {}).get("nbgrader") or {}
        if not info.get("db_url"):
            return {}
        tests, setup, _ = notebook_sources(info["db_url"], info["assignment"],
                                           info["notebook"])
        out = dict(tests)
        out.update({("source", i): src for i, src in enumerate(setup)})
        return out

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            km.scratch = self._scratch
            km.judge_pipes = self._checker is not None
        return km

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        if hasattr(self.km, "seal_ipc"):
            self.km.seal_ipc()
        if getattr(self.km, "unsandboxed", False):
            add_flag(self._record, "sandbox",
                     "graded WITHOUT a sandbox: bubblewrap is not available")
            self._record["sandbox"] = False
        else:
            self._record.setdefault("sandbox", True)
        if self._checker is not None:
            await self._boot_host()
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    # -- cells -------------------------------------------------------------------------------
    async def async_execute_cell(self, cell, cell_index, execution_count=None,
                                 store_history=True):
        """Run a student cell in the kernel, or judge a test cell from outside it."""
        if cell.cell_type != "code":
            return cell
        grade_id = (cell.metadata.get("nbgrader") or {}).get("grade_id")
        if (self.judge_tests and is_test_cell(cell) and grade_id in self._tests
                and grade_id not in self._delegated):
            await self._judge_cell(cell, cell_index, grade_id)
            return cell
        if is_test_cell(cell) and grade_id in self._delegated:
            # The course's checks judge it here; the kernel never sees a test's source (a
            # student cell could read the kernel's history), only calls of its functions.
            await self._judge_checks(cell, cell_index, grade_id)
            return cell
        if not cell.source.strip():
            return cell
        if self._checker is not None and _cell_role(cell) == "skip":
            # An instructor's locked demonstration: graded nothing, and its rnnlib calls would
            # all be callbacks to the judge (ch. language_model trains a model: 30 s and more).
            # The course's checks never relied on it (their worker never ran it either).
            cell.outputs = [NotebookNode(output_type="stream", name="stdout",
                                         text="(a demonstration: not run at grading)\n")]
            return cell
        if self._out_of_time(cell_index):
            cell.outputs = [self._error("NotRun", f"not run: the notebook used its "
                                        f"{self.notebook_timeout} s")]
            return cell
        if self._dead:
            cell.outputs = [self._error("NotRun", "not run: the kernel was restarted too "
                                        "many times")]
            return cell
        status = await self._run_code(cell.source, cell, cell_index, store_history,
                                      timeout=self._get_timeout(cell))
        if execution_count:
            cell["execution_count"] = execution_count
        if status in ("ok", "error"):
            self._replayable.append(cell.source)
            count = (self._last_reply or {}).get("content", {}).get("execution_count")
            if self._checker is not None and count:
                self._checker.cell_of_count[count] = cell_index
        if any(o.get("ename") == "MemoryError" for o in cell.outputs
               if o.get("output_type") == "error"):
            add_flag(self._record, "crash", f"cell {cell_index} ran out of memory "
                     f"(limit {self._memory_limit()})", cell=cell_index)
        self.nb["cells"][cell_index] = cell
        return cell

    execute_cell = run_sync(async_execute_cell)

    def _get_timeout(self, cell):
        """The cell's limit, cut to what is left of the notebook's."""
        timeout = super()._get_timeout(cell)
        if self._deadline is None:
            return timeout
        left = max(1, int(self._deadline - time.monotonic()))
        return left if timeout is None else min(timeout, left)

    def _out_of_time(self, cell_index):
        if self._deadline is None:
            self._deadline = time.monotonic() + self.notebook_timeout
        if time.monotonic() < self._deadline:
            return False
        if not self._time_flagged:
            self._time_flagged = True
            add_flag(self._record, "timeout", f"the notebook ran longer than its "
                     f"{self.notebook_timeout} s in all; the cells from cell {cell_index} on "
                     f"were not run")
        return True

    def _memory_limit(self):
        limit = getattr(self.km, "memory_limit", None)
        return f"{limit / 1024**3:.1f} GiB" if limit else "none"

    def _error(self, ename, evalue, traceback=None):
        return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                            traceback=traceback or [f"{ename}: {evalue}"])

    async def _async_handle_timeout(self, timeout, cell=None):
        self._timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    async def _run_code(self, code, cell, cell_index, store_history=True,
                        user_expressions=None, timeout=None, replay=False):
        """Run ``code`` in the kernel, its output into ``cell``; return a status:
        ``ok``, ``error``, ``timeout`` (interrupted), ``hung`` (restarted) or ``died``."""
        self._timed_out = False
        cell.outputs = []
        self.clear_before_next_output = False
        if self.record_timing:
            cell.setdefault("metadata", NotebookNode())["execution"] = NotebookNode()
        msg_id = await ensure_async(self.kc.execute(
            code, store_history=store_history, stop_on_error=False, allow_stdin=False,
            user_expressions=user_expressions or {}))
        task_alive = asyncio.ensure_future(self._async_poll_kernel_alive())
        task_out = asyncio.ensure_future(self._async_poll_output_msg(msg_id, cell, cell_index))
        self.task_poll_for_reply = asyncio.ensure_future(
            self._async_poll_for_reply(msg_id, cell, timeout, task_out, task_alive))
        started = time.monotonic()
        self._last_reply = None
        try:
            reply = await self.task_poll_for_reply
        except (asyncio.CancelledError, DeadKernelError):
            task_out.cancel()
            task_alive.cancel()
            code_ = await self._exit_code()
            cell.outputs.append(self._error(
                "DeadKernelError", f"the kernel died (exit code {code_}) while running this "
                                   "cell; it was restarted and the earlier cells replayed"))
            if not replay:
                add_flag(self._record, "crash",
                         f"the kernel died (exit code {code_}) in cell {cell_index}",
                         cell=cell_index)
                await self._restart(f"kernel died in cell {cell_index}")
            return "died"
        except CellTimeoutError:
            task_out.cancel()
            task_alive.cancel()
            reply = None
        finally:
            task_alive.cancel()
            self._overflow_flag(cell, cell_index)
        if reply is not None and not self._timed_out and task_out.cancelled():
            self._late_output_flag(cell, cell_index)
        self._last_reply = reply
        if self._timed_out or reply is None:
            # nbclient's wait for the idle message cancels the output task when it times out
            hung = not task_out.done() or task_out.cancelled()
            if not task_out.done():
                task_out.cancel()
            cell.outputs.append(self._error(
                "TimeoutError",
                f"cell ran longer than {timeout} s" + ("; the kernel ignored the interrupt and "
                                                       "was restarted" if hung else "")))
            if not replay:
                add_flag(self._record, "timeout",
                         f"cell {cell_index} ran longer than {timeout} s"
                         + (" and ignored the interrupt (kernel restarted)" if hung else ""),
                         cell=cell_index)
            if hung:
                if not replay:
                    await self._restart(f"kernel hung in cell {cell_index}")
                return "hung"
            return "timeout"
        self._record.setdefault("kernel_seconds", 0.0)
        self._record["kernel_seconds"] += time.monotonic() - started
        return "error" if reply["content"].get("status") == "error" else "ok"

    #: Seconds between checks that a running cell's kernel is alive (nbclient's: 1 s). A
    #: check is a waitpid; a kernel that died (os._exit, the memory limit) is seen at once.
    alive_poll = 0.1

    async def _async_poll_kernel_alive(self):
        while True:
            await asyncio.sleep(self.alive_poll)
            try:
                await self._async_check_alive()
            except DeadKernelError:
                self.task_poll_for_reply.cancel()
                return

    async def _exit_code(self):
        try:
            return await self.km.provisioner.poll()
        except Exception:
            return None

    async def _restart(self, reason, counted=True):
        """Restart a dead or hung kernel and replay the student's earlier cells (``counted``:
        against :attr:`max_restarts`; a function that hung while the course's checks called
        it is not, as the worker it replaces was restarted without limit)."""
        self._restarts += bool(counted)
        if self._restarts > self.max_restarts:
            self._dead = True
            add_flag(self._record, "crash", f"gave up after {self.max_restarts} kernel "
                                            "restarts; the remaining cells were not run")
            return
        self.log.warning("Restarting the grading kernel: %s", reason)
        try:
            if self.kc is not None:
                await ensure_async(self.kc.stop_channels())
            await ensure_async(self.km.restart_kernel(now=True))
            self.kc = None
            await self.async_start_new_kernel_client()
        except Exception as exc:  # the sandbox cannot start again: stop here
            self._dead = True
            add_flag(self._record, "manual", f"the kernel could not be restarted: {exc}")
            return
        for source in list(self._replayable):
            scratch_cell = NotebookNode(cell_type="code", source=source, outputs=[],
                                        metadata={}, execution_count=None)
            status = await self._run_code(source, scratch_cell, -1, store_history=False,
                                          timeout=self._get_timeout(None), replay=True)
            if status in ("died", "hung"):
                self._dead = True
                add_flag(self._record, "crash", "replaying earlier cells after a restart "
                                                "failed; the remaining cells were not run")
                return

    # -- output limit ------------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        """Keep at most :attr:`max_output_bytes` of each cell's output."""
        key = id(outs)
        used = self._output_bytes.get(key, 0)
        size = output_size(msg)
        self._output_bytes[key] = used + size
        limit = self.max_output_bytes
        if limit is None or limit < 0 or used + size <= limit:
            return super().output(outs, msg, display_id, cell_index)
        if used > limit:
            return None
        if msg.get("msg_type") == "stream":
            room = max(0, limit - used)
            msg = dict(msg, content=dict(msg["content"], text=msg["content"]["text"][:room]))
            super().output(outs, msg, display_id, cell_index)
        self._output_bytes[key] = limit + 1  # mark as over
        return None

    def _late_output_flag(self, cell, cell_index):
        """The cell finished, but its output had not all arrived ``iopub_timeout`` s later
        (nbclient then drops the rest): say so, as for output cut at the limit (seen with a
        50 MB print on a loaded machine, where it would otherwise pass unflagged)."""
        note = (f"\n... output cut by the grader: not all received within {self.iopub_timeout}"
                f" s of the cell's end ...\n")
        cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=note))
        if cell_index >= 0:
            add_flag(self._record, "output", f"cell {cell_index}'s output did not all arrive "
                     f"within {self.iopub_timeout} s of its end; the rest was dropped",
                     cell=cell_index)

    def _overflow_flag(self, cell, cell_index):
        used = self._output_bytes.get(id(cell.outputs), 0)
        limit = self.max_output_bytes
        if limit is not None and limit >= 0 and used > limit:
            note = (f"\n... output cut by the grader: more than {limit} bytes in this cell "
                    f"...\n")
            cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=note))
            if cell_index >= 0:
                add_flag(self._record, "output",
                         f"cell {cell_index} printed more than {limit} bytes; output cut",
                         cell=cell_index)
