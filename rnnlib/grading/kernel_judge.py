"""The judge at ``nbgrader autograde``: the student's functions are called in the notebook's own
grading kernel, so that the student's code runs once.

``JudgedExecute`` (:mod:`rnnlib.autograde.execute`) starts the sandboxed kernel with two pipes
to this process and makes the kernel the judge's host (:func:`rnnlib.grading.worker.kernel_host`:
the same stubs, guards and request handling as the standalone worker, with no reference in
reach). The student's cells run there as nbgrader runs them. At a ``grading.check_*`` test cell,
JudgedExecute asks the kernel to serve (one execute request) and :class:`KernelJudge` judges
the cell's checks over the pipes, exactly as :class:`~rnnlib.grading.judge._NotebookJudge` does
with a worker. A reader thread answers the kernel's callbacks (rnnlib functions the setup cells
give, references lent while a function is graded) at any time, also while a student cell runs.
"""

import contextlib
import os
import queue
import secrets
import select
import threading
import time

from .judge import _NotebookJudge, parse_checks
from .worker import _frame, _read_message, _WorkerLost

#: The kernel's start-up request: load the host from the view and install it.
_BOOT = """def __rnnlib_boot__(path, setup):
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("_rnnlib_grading_host", path)
    host = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = host
    spec.loader.exec_module(host)
    host.kernel_host(setup)
__rnnlib_boot__({path!r}, {setup!r})
del __rnnlib_boot__
"""

#: The request that puts the kernel into its serving loop for one test cell.
SERVE_CODE = "__import__('sys').modules['_rnnlib_grading_host'].serve({nonce!r})"


def boot_code(host_dir, setup):
    """The start-up request of a grading kernel whose view holds the host in ``host_dir``."""
    return _BOOT.format(path=os.path.join(host_dir, "worker.py"), setup=setup)


#: How long the reader thread waits between looks at whether the channel was closed.
_POLL = 0.5


class KernelChannel:
    """The judge's ends of the pipes to one grading kernel (a new one for each kernel start).

    ``serve(callback)`` answers a callback; ``begin(code)`` (called from the judge's thread)
    sends ``code``, which makes the kernel enter its serving loop, as an execute request.

    Anything else the kernel's code writes to the pipe is dropped: a serving loop's replies
    carry the nonce it was started with and the number of the request they answer."""

    def __init__(self, request_fd, reply_fd, serve, begin):
        self.request_fd, self.reply_fd = request_fd, reply_fd
        self.serve, self.begin = serve, begin
        os.set_blocking(request_fd, False)
        self.replies = queue.Queue()
        self.write_lock = threading.Lock()
        self.serving = False
        self.seq = 0
        self.lost = None  # why the channel no longer works
        self.closed = threading.Event()
        self._wake_r, self._wake_w = os.pipe()  # close() wakes the reader at once
        self.thread = threading.Thread(target=self._read, name="kernel-judge-reader",
                                       daemon=True)
        self.thread.start()

    # -- the reader thread -------------------------------------------------------------------
    def _read(self):
        fd = self.reply_fd
        try:
            while not self.closed.is_set():
                if fd not in select.select([fd, self._wake_r], [], [], _POLL)[0]:
                    continue
                message = _read_message(fd, time.monotonic() + 30)
                if isinstance(message, dict) and message.get("op") == "callback":
                    try:
                        answer = self.serve(message)
                    except Exception as exc:  # noqa: BLE001 - the kernel's caller gets it
                        answer = {"error": ["RuntimeError", f"the grader could not answer "
                                                            f"({type(exc).__name__})"]}
                    self._write(answer, time.monotonic() + 30)
                else:
                    self.replies.put(message)
        except (_WorkerLost, OSError, ValueError) as exc:
            if not self.closed.is_set():
                self.replies.put(_WorkerLost(str(exc) or "stopped (the kernel exited)"))
        finally:
            if self.closed.is_set():
                self._close_fds()

    # -- the judge's thread ------------------------------------------------------------------
    def _write(self, message, deadline):
        view = memoryview(_frame(message))
        with self.write_lock:
            if self.request_fd < 0:
                raise _WorkerLost("is closed")
            while view:
                wait = deadline - time.monotonic()
                if wait <= 0 or not select.select([], [self.request_fd], [], wait)[1]:
                    raise _WorkerLost("timed out (the kernel did not read the request)")
                try:
                    view = view[os.write(self.request_fd, view):]
                except BlockingIOError:
                    continue
                except OSError:
                    raise _WorkerLost("stopped (the kernel exited)") from None

    def _reply(self, deadline):
        try:
            reply = self.replies.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise _WorkerLost("timed out") from None
        if isinstance(reply, _WorkerLost):
            raise reply
        if not isinstance(reply, dict):
            raise _WorkerLost("broke the protocol")
        return reply

    def _fail(self, lost):
        self.lost = str(lost)
        self.serving = False
        raise lost

    def open(self, timeout):
        """Put the kernel into its serving loop; return the events it noted since the last
        time ([execution count, [event]])."""
        if self.lost:
            raise _WorkerLost(self.lost)
        deadline = time.monotonic() + timeout
        while not self.replies.empty():  # anything the student's code wrote meanwhile
            stale = self.replies.get_nowait()
            if isinstance(stale, _WorkerLost):
                self._fail(stale)
        nonce = secrets.token_hex(16)
        try:
            try:
                self.begin(SERVE_CODE.format(nonce=nonce))
            except Exception as exc:  # noqa: BLE001 - no kernel to send it to
                raise _WorkerLost(f"could not be asked to serve ({type(exc).__name__})") from None
            ready = self._reply(deadline)
            while ready.get("op") != "ready" or ready.get("nonce") != nonce:
                ready = self._reply(deadline)
        except _WorkerLost as lost:
            self._fail(lost)
        self.serving = True
        events = ready.get("events")
        return events if isinstance(events, list) else []

    def request(self, message, timeout=30.0):
        """Send one request to the serving kernel; return its reply (callbacks are answered
        meanwhile by the reader thread)."""
        if not self.serving:  # a kernel restarted during this test cell: nothing to note
            self.open(timeout)
        deadline = time.monotonic() + timeout
        self.seq += 1
        try:
            self._write(dict(message, seq=self.seq), deadline)
            reply = self._reply(deadline)
            while reply.get("seq") != self.seq:
                reply = self._reply(deadline)
            return reply
        except _WorkerLost as lost:
            self._fail(lost)

    def finish(self):
        """End the serving loop (the kernel goes back to running cells)."""
        if self.serving:
            self.serving = False
            with contextlib.suppress(_WorkerLost):
                self._write({"op": "done"}, time.monotonic() + 5)

    def close(self):
        """Stop the reader and close the judge's ends, once (a descriptor closed twice, or read
        after it was closed, may by then be another one's: the kernel client's sockets)."""
        if self.closed.is_set():
            return
        self.closed.set()
        self.serving = False
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        self.thread.join(2 * _POLL + 1)
        if not self.thread.is_alive():  # else the reader closes them when it stops
            self._close_fds()

    def _close_fds(self):
        with self.write_lock:
            fds = (self.request_fd, self.reply_fd, self._wake_r, self._wake_w)
            self.request_fd = self.reply_fd = self._wake_r = self._wake_w = -1
        for fd in fds:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)


class KernelJudge(_NotebookJudge):
    """:class:`~rnnlib.grading.judge._NotebookJudge` with the notebook's grading kernel as
    the host of the student's code (the kernel runs the cells; this judges the test cells).

    ``restart()`` (from the judge's thread) restarts the kernel, replays the student's cells
    and returns the new kernel's channel, or None when it cannot."""

    def __init__(self, cells, restart, timeout=30.0, log=None, notebook_timeout=300.0):
        super().__init__(cells, timeout=timeout, log=log, notebook_timeout=notebook_timeout)
        self.restart_kernel = restart
        self.cell_of_count = {}  # the kernel's execution count -> the notebook's cell index

    def attach(self, channel):
        """The channel of a newly started kernel."""
        self.worker = channel

    def _start(self):  # the kernel is started by the executor
        pass

    def _restart(self):
        if self.worker is not None:
            self.worker.close()
        self.worker = self.restart_kernel()
        if self.worker is None:
            self.broken = "the grading kernel could not be restarted"

    def _note_kernel_events(self, noted):
        """Events the kernel noted after its cells ([execution count, [event]])."""
        for entry in noted:
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], list):
                events = [e for e in entry[1] if isinstance(e, dict)]
                self._note_events(self.cell_of_count.get(entry[0]), events)

    def _open(self):
        """Put the kernel into its serving loop for one test cell; if it does not answer,
        restart it once and try again (else the judge is broken: every check fails)."""
        if self.worker is None:
            self.broken = "the grading kernel is not running"
            return
        first = None
        for attempt in range(2):
            if attempt:
                self._restart()
                if self.worker is None:  # _restart said why
                    return
            try:
                self._note_kernel_events(self.worker.open(self._left()))
                return
            except _WorkerLost as lost:
                first = first or lost
        self.broken = f"the grading kernel does not answer ({first})"

    def judge_cell(self, source):
        """The results of the ``grading.check_*`` calls of one test cell (see
        :func:`~rnnlib.grading.judge_notebook`)."""
        checks = parse_checks(source)
        if not self.broken and not self._out_of_time():
            self._open()
        try:
            return [self._check(*c) for c in checks]
        finally:
            if self.worker is not None:
                self.worker.finish()
