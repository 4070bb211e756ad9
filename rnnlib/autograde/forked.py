"""How :class:`~rnnlib.autograde.sandbox.SandboxedKernelManager` starts a kernel forked from the
zygote (:mod:`rnnlib.autograde.zygote`) instead of a fresh Python: the sandbox is built with the
cold start's own bubblewrap arguments, uid and control group around a stub, the zygote forks the
kernel into it, and the provisioner's process becomes bubblewrap's, with the kernel's exit code.
"""

import json
import os
import select
import sys
import time

from jupyter_client.manager import AsyncKernelManager

from .kernel_env import SITECUSTOMIZE
from .zygote import ForkedKernelProcess, ZygoteError, start_for_kernels

#: The stub a forked kernel's sandbox runs: says it is up (on its stdout, a pipe), then waits to
#: be killed (when the kernel ends).
STUB = "printf x; exec sleep infinity"
STUB_TIMEOUT = 30


def _read_all(fd, timeout, until=None):
    """Bytes from ``fd`` until its end (or ``until`` bytes), within ``timeout`` seconds."""
    deadline, data = time.monotonic() + timeout, b""
    while until is None or len(data) < until:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise ZygoteError("the sandbox did not start in time")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data


def kernel_zygote():
    """This process's zygote for grading kernels (:mod:`rnnlib.autograde.zygote`), or None where
    kernels cannot be forked (not root, or no bubblewrap)."""
    from .sandbox import bwrap_path

    return start_for_kernels() if bwrap_path() is not None else None


class ForkedLaunch:
    """The forked start, mixed into the kernel manager (which has ``zygote``, ``scratch``,
    ``confinement`` and the sandbox's arguments)."""

    def _forkable(self):
        """A zygote's kernel is this kernel: ipykernel on this Python, started with
        :data:`SITECUSTOMIZE` (the zygote ran it; the grading views hold it)."""
        cmd = getattr(self, "_ipykernel_cmd", None) or []
        custom = self.scratch.lib / "sitecustomize.py"
        return (self.zygote and self._dropping() and len(cmd) >= 3
                and cmd[1:3] == ["-m", "ipykernel_launcher"]
                and os.path.realpath(cmd[0]) == os.path.realpath(sys.executable)
                and custom.is_file() and custom.read_text() == SITECUSTOMIZE)

    async def _launch_forked(self, **kw):
        """The sandbox built as for a cold start, with a stub in it; the kernel forked into it by
        the zygote (see :mod:`rnnlib.autograde.zygote`)."""
        from .sandbox import bwrap_path

        zygote = kernel_zygote()
        if zygote is None:
            raise ZygoteError("no zygote")
        info_r, info_w = os.pipe()
        ready_r, ready_w = os.pipe()
        stub = self.confinement.wrap(
            [bwrap_path(), "--info-fd", str(info_w)] + self.bwrap_args() + self._drop()
            + ["/bin/sh", "-c", STUB])
        kw = {**kw, "pass_fds": (info_w,), "stdout": ready_w}
        try:
            await AsyncKernelManager._async_launch_kernel(self, stub, **kw)
        finally:
            os.close(info_w)
            os.close(ready_w)
        try:
            info = json.loads(_read_all(info_r, STUB_TIMEOUT))
            if _read_all(ready_r, STUB_TIMEOUT, until=1) != b"x":
                raise ZygoteError("the sandbox's stub did not start")
        finally:
            os.close(info_r)
            os.close(ready_r)
        cmd = self._ipykernel_cmd
        request = {
            "stub": int(info["child-pid"]), "uid": self._uid(),
            "namespaces": {name: int(info[f"{name}-namespace"])
                           for name in ("cgroup", "ipc", "uts", "net", "mnt", "pid")},
            "cwd": str(self.scratch.work), "src": str(self.scratch.src), "argv": cmd[3:],
            "env": {**self._kernel_env(), "PWD": str(self.scratch.work)},  # as sh sets it
            "cgroup_procs": (self.confinement.cgroup.procs_files()
                             if self.confinement.cgroup is not None else []),
            "limits": {"as": self.memory_limit, "fsize": self.file_size_limit, "core": 0,
                       "nproc": self.process_limit},
            "fd_numbers": list(self._kernel_fds),
        }
        pid, exit_code = zygote.spawn(request, self._kernel_fds)
        self.provisioner.process = ForkedKernelProcess(self.provisioner.process, exit_code)
        self.kernel_pid = pid
        self.forked = True

    async def _end_stub(self):
        """After a failed fork: the stub's sandbox ends (with whatever got into it), and the
        kernel starts cold in the same confinement."""
        if self.provisioner is not None and self.provisioner.has_process:
            await self.provisioner.kill()
            await self.provisioner.wait()
        if self.confinement is not None:
            self.confinement.kill_processes()
