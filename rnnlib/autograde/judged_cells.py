"""The test cells of a graded notebook, judged in nbgrader's process against its kernel.

:class:`JudgedCells` is the half of :class:`~rnnlib.autograde.execute.JudgedExecute` that judges
(the other half runs the student's cells in the sandboxed kernel). A test cell is never sent to
the kernel; its source comes from the gradebook. Two kinds:

- an instructor's own test cell runs here, in a :class:`~rnnlib.autograde.judge.Judge`, with
  the student's names as proxies: each call is a request to the kernel's agent
  (:mod:`rnnlib.autograde.agent`), over the kernel's pipes where it hosts the judge, else as an
  execute request;
- a ``grading.check_*`` cell (``JudgedExecute.delegate``) is judged by the course's checks
  (:class:`rnnlib.grading.kernel_judge.KernelJudge`), which call the student's functions in the
  kernel over its pipes. The kernel then hosts the judge (:func:`rnnlib.grading.worker.kernel_host`,
  started by :meth:`JudgedCells._boot_host` before any cell) and holds no rnnlib reference.
"""

import asyncio
import base64
import re
import time

from jupyter_core.utils import ensure_async
from nbformat import NotebookNode

from ..grading import wire
from ..grading.judge import verdict_outputs
from ..grading.kernel_judge import KernelChannel, boot_code
from ..grading.worker import _WorkerLost
from . import agent
from .judge import Judge, StudentCrash, StudentError, StudentTimeout
from .record import add_flag

_B64 = re.compile(r"^'([A-Za-z0-9+/=]*)'$")


class JudgedCells:
    """Judging of test cells, mixed into ``JudgedExecute`` (which provides the kernel,
    ``_run_code``, ``_restart``, ``_out_of_time`` and the record)."""

    # -- judged test cells -------------------------------------------------------------------
    async def _judge_cell(self, cell, cell_index, grade_id):
        if self._out_of_time(cell_index):
            cell.outputs = [self._error("NotRun", f"not graded: the notebook used its "
                                        f"{self.notebook_timeout} s")]
            self._record["cells"][grade_id] = {"status": "fail", "reason": "out of time",
                                               "functions": [], "flag": "timeout"}
            return
        loop = asyncio.get_running_loop()
        timeout = self._get_timeout(cell)
        deadline = None if timeout is None else time.monotonic() + timeout
        student_outputs = []

        def rpc(text):
            if self._checker is not None:  # the kernel hosts the judge: over its pipes
                return self._pipe_rpc(text, cell_index, deadline, student_outputs)
            future = asyncio.run_coroutine_threadsafe(
                self._rpc(text, cell_index, deadline, student_outputs), loop)
            return future.result()

        if self._judge is None:
            self._judge = Judge(rpc, cwd=self._cwd)
        self._judge.rpc = rpc
        self._loop = loop
        verdict = await loop.run_in_executor(None, self._judge.run_cell,
                                             self._tests[grade_id], grade_id)
        if verdict.status != "manual" and not self._dead:
            try:
                await loop.run_in_executor(None, self._judge.sync_rng)
            except Exception:
                pass
        if self._channel is not None:
            self._channel.finish()
        self._record["cells"][grade_id] = verdict.as_dict()
        if verdict.error and verdict.error[0] == "MemoryError":
            add_flag(self._record, "crash", f"{grade_id}: the student's code ran out of memory "
                     f"(limit {self._memory_limit()})", cell=grade_id)
        if verdict.status == "manual":
            add_flag(self._record, "manual", f"{grade_id}: {verdict.reason}", cell=grade_id)
        cell.outputs = self._render(verdict, student_outputs)
        self.code_cells_executed += 1
        cell["execution_count"] = self.code_cells_executed
        self.nb["cells"][cell_index] = cell

    def _render(self, verdict, student_outputs):
        outputs, budget = [], self.max_output_bytes
        for out in student_outputs:
            if out.get("output_type") == "stream":
                text = out["text"][: max(0, budget)]
                budget -= len(text)
                if text:
                    outputs.append(NotebookNode(output_type="stream", name="stdout", text=text))
        if verdict.stdout:
            outputs.append(NotebookNode(output_type="stream", name="stdout",
                                        text=verdict.stdout[: max(0, budget)] or "\n"))
        if verdict.status == "pass":
            if verdict.value is not None:
                outputs.append(NotebookNode(output_type="execute_result", metadata={},
                                            data={"text/plain": verdict.value},
                                            execution_count=self.code_cells_executed + 1))
        else:
            ename, evalue = verdict.error or ("AssertionError", verdict.reason)
            lines = [f"{ename}: {evalue}"]
            student_tb = getattr(verdict, "student_traceback", "")
            if student_tb:
                lines += ["", "In your code:", student_tb[-4000:]]
            outputs.append(self._error(ename, evalue, lines))
        return outputs

    def _pipe_rpc(self, text, cell_index, deadline, student_outputs):
        """:meth:`_rpc` where the kernel hosts the judge (from the proxy judge's thread): the
        request goes over the pipes; a hung or dead kernel is restarted, as by ``_run_code``."""
        channel = self._channel
        if self._dead or channel is None:
            raise StudentCrash("the kernel could not be kept running")
        left = 30.0 if deadline is None else max(1.0, deadline - time.monotonic())
        try:
            if not channel.serving:  # the events of the cells since: for the course's checks
                self._checker._note_kernel_events(channel.open(left))
            reply = channel.request({"op": "agent", "text": text}, left)
        except _WorkerLost as lost:
            timed_out = "timed out" in str(lost)
            kind = "timeout" if timed_out else "crash"
            what = f"ran longer than {left:.0f} s" if timed_out else "stopped the kernel"
            add_flag(self._record, kind, f"cell {cell_index}: the student's code {what} while a "
                     f"test called it (kernel restarted)", cell=cell_index)
            asyncio.run_coroutine_threadsafe(
                self._restart(f"a test's call {what} in cell {cell_index}"), self._loop).result()
            raise (StudentTimeout if timed_out else StudentCrash)(
                f"the student's code {what}") from None
        if reply.get("stdout"):
            student_outputs.append(NotebookNode(output_type="stream", name="stdout",
                                                text=str(reply["stdout"])))
        if "answer" not in reply:
            raise wire.TransferError("the kernel sent back no readable answer")
        return str(reply["answer"])

    async def _rpc(self, text, cell_index, deadline, student_outputs):
        """Send one request to the kernel's agent; return the answer text."""
        if self._dead:
            raise StudentCrash("the kernel could not be kept running")
        timeout = None if deadline is None else max(1, int(deadline - time.monotonic() + 0.999))
        code = agent.request_code(text)
        dummy = NotebookNode(cell_type="code", source=code, outputs=[], metadata={},
                             execution_count=None)
        status = await self._run_code(code, dummy, cell_index, store_history=False,
                                      user_expressions={"r": agent.RESULT_NAME},
                                      timeout=timeout)
        student_outputs.extend(o for o in dummy.outputs if o.get("output_type") == "stream")
        if status == "died":
            raise StudentCrash("the kernel died while running the student's code")
        if status in ("timeout", "hung"):
            raise StudentTimeout(f"the student's code ran longer than {timeout} s")
        content = self._last_reply["content"]
        if content.get("status") != "ok":
            raise StudentError("the student's code", str(content.get("ename", "Error")),
                               str(content.get("evalue", ""))[:2000])
        result = (content.get("user_expressions") or {}).get("r") or {}
        plain = (result.get("data") or {}).get("text/plain", "")
        match = _B64.match(plain) if isinstance(plain, str) else None
        if match is None:
            raise wire.TransferError("the kernel sent back no readable answer")
        try:
            return base64.b64decode(match.group(1), validate=True).decode("utf-8")
        except ValueError as exc:
            raise wire.TransferError(f"undecodable answer: {exc}") from None

    # -- test cells judged by the course's checks --------------------------------------------
    async def _boot_host(self):
        """Make the new kernel the judge's host (its pipes came with it) before any cell."""
        if self._channel is not None:
            self._channel.close()
        self._channel = None
        self._checker.attach(None)
        fds, self.km.judge_fds = getattr(self.km, "judge_fds", None), None
        if not fds:
            return
        loop = asyncio.get_running_loop()

        def begin(code):
            asyncio.run_coroutine_threadsafe(self._begin_serve(code), loop).result()

        channel = KernelChannel(fds[0], fds[1], self._checker._serve, begin)
        setup = self._checker.setup_message(rnnlib_dir=self._host_dir)
        scratch_cell = NotebookNode(cell_type="code", source="", outputs=[], metadata={},
                                    execution_count=None)
        status = await self._run_code(boot_code(self._host_dir, setup), scratch_cell, -1,
                                      store_history=False, timeout=60, replay=True)
        if status != "ok":
            self.log.error("The grading kernel's judge host did not start: %s",
                           [o.get("evalue") for o in scratch_cell.outputs])
            channel.close()
            return
        self._channel = channel
        self._checker.attach(channel)

    async def _begin_serve(self, code):
        await ensure_async(self.kc.execute(code, store_history=False, stop_on_error=False,
                                           allow_stdin=False))

    async def _judge_restart_async(self):
        await self._restart("a function graded by the course's checks hung or crashed",
                            counted=False)
        return None if self._dead else self._channel

    def _judge_restart(self):
        """From the judge's thread: restart the kernel, replay, return the new channel."""
        future = asyncio.run_coroutine_threadsafe(self._judge_restart_async(), self._loop)
        return future.result()

    async def _judge_checks(self, cell, cell_index, grade_id):
        if self._out_of_time(cell_index):
            cell.outputs = [self._error("NotRun", f"not graded: the notebook used its "
                                        f"{self.notebook_timeout} s")]
            return
        self._loop = asyncio.get_running_loop()
        self._checker.deadline = self._deadline
        try:
            results = await self._loop.run_in_executor(None, self._checker.judge_cell,
                                                       self._tests[grade_id])
            cell.outputs = verdict_outputs(results, self.log)
        except Exception as exc:  # noqa: BLE001 - fail closed, grade the rest, say so
            self.log.error("judging %s failed", grade_id, exc_info=True)
            cell.outputs = [self._error("GradingFailure", f"this test could not be judged "
                                        f"({type(exc).__name__}); ask your instructor")]
        self.code_cells_executed += 1
        cell["execution_count"] = self.code_cells_executed
        self.nb["cells"][cell_index] = cell

