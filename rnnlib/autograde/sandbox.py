"""Grading kernels that run inside bubblewrap, with resource limits and a private scratch space.

:class:`SandboxedKernelManager` is a jupyter_client kernel manager that nbgrader's executor (and
ours) uses in place of the stock one. Every kernel it starts

- runs under ``bwrap`` (Debian's ``bubblewrap``) on a fresh root that contains only the system
  directories, the Python installation, a copy of the submission's own files and a scratch
  directory: not the course root, not ``solutions/``, not the gradebook, not the other students;
- has no network (a new network namespace; the kernel talks to the grader over unix sockets,
  jupyter's ``ipc`` transport), its own PID namespace, and, when grading runs as root, drops to
  the unprivileged uid ``nobody`` with no capabilities;
- runs under ``prlimit``: an address-space (memory) limit, a file size limit, no core dumps and,
  when it runs as its own uid, a process limit;
- when grading runs as root, runs as a uid of its own and in a control group of its own
  (:mod:`rnnlib.autograde.confine`): the memory limit holds for all its processes together
  (tmpfs files and memfds included), the process limit and the CPU are its own, and everything
  it started is killed when its notebook ends;
- may write only size-limited tmpfs mounts (its working directory, a copy of the submission's
  files; HOME; TMPDIR; /tmp; /dev/shm), never the grader's disk: the kernel's socket folder is
  sealed once the kernel is up.

With ``zygote = True`` (classgrade's jobs), the sandbox is built the same way around a stub, and
the kernel is forked into it from a process that has imported ipykernel and numpy already
(:mod:`rnnlib.autograde.zygote`); anything unexpected and the kernel starts cold.

Where ``bwrap`` is missing (or cannot start) grading still works, with the memory limits and the
scratch copy but without isolation, and a loud warning in the log and in every graded notebook's
flags. ``make system-deps`` installs bubblewrap.
"""

import logging
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.connect import channel_socket_types
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, List, Unicode

from .confine import Confinement
from .forked import ForkedLaunch, kernel_zygote  # noqa: F401 (kernel_zygote: re-exported)
from .kernel_env import KERNEL_BLOCKED, KERNEL_ENV, SITECUSTOMIZE  # noqa: F401 (re-exported)
from .zygote import ZygoteError

log = logging.getLogger(__name__)

#: uid/gid the kernel drops to when grading runs as root and no uid of its own is leased.
NOBODY = 65534

#: Bytes each writable tmpfs of a sandbox may hold (working directory, HOME, TMPDIR, /tmp):
#: the disk a submission may use.
SCRATCH_BYTES = 256 * 1024**2
SHM_BYTES = 64 * 1024**2

WARNING = (
    "\n" + "!" * 78 + "\n"
    "!! bubblewrap (bwrap) is not available: student code is graded WITHOUT A SANDBOX.\n"
    "!! It can read and write every file this user can (solutions/, the gradebook, other\n"
    "!! students) and reach the network. Install it: `make system-deps` or\n"
    "!! `apt-get install bubblewrap`.\n" + "!" * 78
)


@lru_cache(maxsize=1)
def bwrap_path():
    """Path of a working ``bwrap``, or ``None`` (checked once per process by running it)."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        probe = subprocess.run(
            [path, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--", "true"],
            capture_output=True, timeout=30, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return path if probe.returncode == 0 else None


def warn_unsandboxed():
    """Log the loud warning once per process."""
    if not getattr(warn_unsandboxed, "done", False):
        log.warning(WARNING)
        print(WARNING, file=sys.stderr)
        warn_unsandboxed.done = True


def python_roots():
    """Directories of the Python installation the kernel needs (read-only in the sandbox)."""
    roots = {pathlib.Path(p).resolve() for p in
             (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    return sorted(roots)


def _system_binds():
    """bwrap arguments for the system part of the sandbox's root file system."""
    args = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = pathlib.Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    args += ["--ro-bind", "/usr", "/usr", "--perms", "0755", "--dir", "/etc"]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime",
                 "fonts", "mime.types", "ssl/openssl.cnf"):
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += tmpfs_args("/dev/shm", SHM_BYTES) + tmpfs_args("/tmp", SCRATCH_BYTES)
    return args


def tmpfs_args(path, size):
    """bwrap arguments for a private, size-limited tmpfs at ``path`` that any uid may write."""
    return ["--perms", "1777", "--size", str(int(size)), "--tmpfs", str(path)]


def _ensure_parents(path, made):
    """``--dir`` arguments (mode 0755) for the not-yet-created parents of ``path``."""
    args = []
    for parent in reversed(pathlib.Path(path).parents):
        text = str(parent)
        if text == "/" or text in made:
            continue
        if text in ("/usr", "/tmp", "/etc", "/proc", "/dev", "/bin", "/lib", "/lib64", "/sbin"):
            made.add(text)
            continue
        made.add(text)
        args += ["--perms", "0755", "--dir", text]
    return args


class Scratch:
    """A grading kernel's private directories, all under one temporary root.

    - ``src``: the submission's files (no notebooks), read-only in the sandbox; the kernel's
      working directory ``work`` is a tmpfs that starts as a copy of them.
    - ``work``, ``home`` and ``tmp``: working directory, HOME and TMPDIR, size-limited tmpfs
      mounts in the sandbox (plain folders here); ``ipc``: the kernel's sockets and connection
      file, writable by the kernel until it is up.
    - ``lib``: read-only modules the kernel may import (the student's view of rnnlib).
    """

    def __init__(self, notebook_dir=None, base=None):
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="ag-", dir=base or "/tmp"))
        os.chmod(self.root, 0o755)
        for name in ("src", "work", "home", "tmp", "ipc", "lib"):
            (self.root / name).mkdir()
        if notebook_dir:
            copy_submission(pathlib.Path(notebook_dir), self.src)

    src = property(lambda self: self.root / "src")
    work = property(lambda self: self.root / "work")
    home = property(lambda self: self.root / "home")
    tmp = property(lambda self: self.root / "tmp")
    ipc = property(lambda self: self.root / "ipc")
    lib = property(lambda self: self.root / "lib")

    def hand_over(self, uid, gid):
        """Give the writable directories to ``uid`` (when the kernel drops privileges)."""
        for top in (self.work, self.home, self.tmp, self.ipc):
            for dirpath, dirnames, filenames in os.walk(top):
                os.chown(dirpath, uid, gid)
                for name in dirnames + filenames:
                    os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)

    def cleanup(self):
        """Delete everything (the kernel must be stopped)."""
        shutil.rmtree(self.root, ignore_errors=True)


def copy_submission(src, dest, max_bytes=64 * 1024 * 1024):
    """Copy a submission's regular files (not notebooks, not links) into ``dest``.

    The autograded notebooks next to them hold the restored hidden tests: the kernel must not
    see them. At most ``max_bytes`` are copied.
    """
    total = 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = pathlib.Path(dirpath).relative_to(src)
        dirnames[:] = [d for d in dirnames if not d.startswith(".ipynb_checkpoints")]
        for name in filenames:
            path = pathlib.Path(dirpath) / name
            if path.suffix == ".ipynb" or path.is_symlink() or not path.is_file():
                continue
            size = path.stat().st_size
            if total + size > max_bytes:
                continue
            total += size
            (dest / rel).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel / name)


def build_rnnlib_view(lib_dir, copied, stubbed=()):
    """Write a package ``rnnlib`` into ``lib_dir`` with the ``copied`` modules (helpers), empty
    ``stubbed`` modules and a ``__init__`` that re-exports only the copied modules' names (see
    :mod:`rnnlib.autograde.modules`): what a student notebook may import while it is graded,
    never the reference implementations it is graded against."""
    import rnnlib

    from .modules import all_modules, package_exports

    src = pathlib.Path(rnnlib.__file__).parent
    pkg = pathlib.Path(lib_dir) / "rnnlib"
    pkg.mkdir(parents=True, exist_ok=True)
    lines = ['"""The part of rnnlib a student notebook may import while it is graded."""']
    exports = package_exports()
    if set(copied) >= set(all_modules()):  # the whole package: its own __init__
        lines = [(src / "__init__.py").read_text()]
        exports = {}
    for name in sorted(copied):
        if (src / name).is_dir():  # a subpackage (rnnlib.grading)
            shutil.copytree(src / name, pkg / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(src / f"{name}.py", pkg / f"{name}.py")
        names = sorted(n for n, mod in exports.items() if mod == name)
        if names:
            lines.append(f"from .{name} import {', '.join(names)}  # noqa: F401")
    for name in sorted(stubbed):
        (pkg / f"{name}.py").write_text(
            f'"""rnnlib.{name} is not available to student code while it is graded."""\n'
        )
    (pkg / "__init__.py").write_text("\n".join(lines) + "\n")
    (pathlib.Path(lib_dir) / "sitecustomize.py").write_text(SITECUSTOMIZE)


def build_host_view(lib_dir):
    """Write the files of the judge's host (:func:`rnnlib.grading.worker.kernel_host`) into
    ``lib_dir``: the worker's own file, the wire format and the utility modules it loads, no
    ``rnnlib`` package (the host's stubs answer ``import rnnlib...``), so no reference and no
    check is in the kernel. Returns the folder of those files."""
    from ..grading.worker_handle import _worker_files

    host = pathlib.Path(lib_dir) / "_rnnlib_grading"
    host.mkdir(parents=True, exist_ok=True)
    from . import agent

    for path in _worker_files() + (agent.__file__,):  # the agent: the proxy judge's requests
        shutil.copyfile(path, host / os.path.basename(path))
    (pathlib.Path(lib_dir) / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return str(host)


def sandbox_args(binds, chdir=None, env=None, tmpfs=()):
    """bwrap arguments (up to and including ``--``) for a sandbox with the system, the Python
    installation and ``binds`` (``("ro" | "rw", path)``, in order, each at its own path).

    ``tmpfs``: paths that get a private, size-limited tmpfs of their own (mounted after the
    binds, so over any bound folder: the host folder stays empty). ``env``: the whole
    environment inside (``None`` keeps the caller's).
    """
    args = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--hostname", "grader"]
    if os.geteuid() != 0:
        args.append("--unshare-user")
    args += _system_binds()
    made = set()
    for root in python_roots():
        args += _ensure_parents(root, made) + ["--ro-bind", str(root), str(root)]
        made.add(str(root))
    for mode, path in binds:
        path = str(path)
        args += _ensure_parents(path, made)
        args += ["--ro-bind" if mode == "ro" else "--bind", path, path]
        made.add(path)
    for path in tmpfs:
        args += tmpfs_args(path, SCRATCH_BYTES)
    if chdir is not None:
        args += ["--chdir", str(chdir)]
    if env is not None:
        args.append("--clearenv")
        for key, value in env.items():
            args += ["--setenv", key, value]
    return args + ["--"]


def _limit_args(memory_limit, file_size_limit, process_limit=None):
    args = ["prlimit", f"--as={memory_limit}", f"--fsize={file_size_limit}", "--core=0"]
    if process_limit:
        args.append(f"--nproc={process_limit}")
    return args + ["--"]


def _drop_args(uid):
    return ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]


class SandboxCommand(list):
    """A command line (a list) whose sandbox :meth:`release` kills and frees afterwards."""

    confinement = None

    def release(self):
        if self.confinement is not None:
            self.confinement.release()
            self.confinement = None


#: The start of a sandboxed command: the working directory starts as a copy of ``src``.
COPY_IN = 'cp -R "$0/." "$1/" 2>/dev/null; shift; exec "$@"'


def wrap_command(argv, cwd, readable=(), writable=(), memory_limit=2 * 1024**3,
                 file_size_limit=256 * 1024**2, process_limit=256):
    """``argv`` made to run in the grading sandbox (or, without bubblewrap, with the limits
    only and the loud warning); a :class:`SandboxCommand`: call its ``release()`` when the
    process is done (it kills whatever the process left behind and frees its uid and group).

    For any process that runs student code outside a kernel (``rnnlib.grading``'s worker): it
    sees the system, the Python installation and the ``readable`` files or folders
    (read-only); ``cwd`` and ``writable`` are size-limited tmpfs mounts of its own (the host
    folders stay empty); no network, its own PID namespace, uid and control group when grading
    runs as root (:mod:`rnnlib.autograde.confine`), memory/file-size/process limits. The
    caller's environment and inherited file descriptors (``pass_fds``, pipes) are kept.
    """
    bwrap = bwrap_path()
    if bwrap is None:
        warn_unsandboxed()
        return SandboxCommand(_limit_args(memory_limit, file_size_limit) + list(argv))
    confinement = Confinement(memory_limit, process_limit)
    uid = confinement.uid if confinement.uid is not None else NOBODY
    dropping = os.geteuid() == 0
    args = sandbox_args([("ro", p) for p in readable], chdir=cwd,
                        tmpfs=[cwd, *writable])
    command = SandboxCommand(confinement.wrap(
        [bwrap] + args + (_drop_args(uid) if dropping else [])
        + _limit_args(memory_limit, file_size_limit, process_limit if dropping else None)
        + list(argv)))
    command.confinement = confinement
    return command


class SandboxedKernelManager(ForkedLaunch, AsyncKernelManager):
    """A kernel manager that starts every kernel in bubblewrap with resource limits.

    Set :attr:`scratch` (a :class:`Scratch`) before starting; the executor does this. Without
    one, a scratch directory is made from the launch ``cwd``.
    """

    sandbox = Bool(True, help="Run kernels in bubblewrap when it is available.").tag(config=True)
    require_sandbox = Bool(
        False, help="Refuse to grade (raise) when bubblewrap is unavailable."
    ).tag(config=True)
    memory_limit = Integer(
        2 * 1024**3, help="Address-space limit of a grading kernel in bytes (RLIMIT_AS)."
    ).tag(config=True)
    file_size_limit = Integer(
        256 * 1024**2, help="Largest file a grading kernel may write, in bytes (RLIMIT_FSIZE)."
    ).tag(config=True)
    process_limit = Integer(
        256, help="Processes and threads of one sandbox (its control group's pids.max and, "
                  "when it runs as a uid of its own, RLIMIT_NPROC)."
    ).tag(config=True)
    drop_to_uid = Integer(
        NOBODY, help="uid the kernel runs as when grading runs as root and uid_per_sandbox is "
                     "off."
    ).tag(config=True)
    uid_per_sandbox = Bool(
        True, help="When grading runs as root, run each kernel as a uid of its own from a pool "
                   "(rnnlib.autograde.confine), so that no limit counted per uid is shared."
    ).tag(config=True)
    extra_ro_binds = List(
        Unicode(), help="Further host paths the kernel may read (bound read-only)."
    ).tag(config=True)
    zygote = Bool(
        False, help="Fork kernels from a zygote that has imported ipykernel and numpy "
                    "(rnnlib.autograde.zygote) into the same sandbox, instead of starting "
                    "Python in it: a kernel's start costs a fifth of the CPU. Only when "
                    "grading runs as root with bubblewrap; classgrade turns it on."
    ).tag(config=True)
    ipykernel_arguments = List(
        Unicode(), ["--HistoryManager.enabled=False"],
        help="Arguments added to an ipykernel's command line. By default IPython's input "
             "history is kept in memory only (In, Out, _i and %history work as before): its "
             "SQLite file and saving thread cost a grading kernel's start about 0.08 of 0.48 "
             "CPU-s, and nobody reads a grading kernel's history after it."
    ).tag(config=True)

    scratch = None
    #: True when the running kernel was forked from the zygote; its pid then (else None).
    forked = False
    kernel_pid = None
    #: True once a kernel of this manager runs without a sandbox.
    unsandboxed = False
    #: Set by the executor: give every kernel two pipes to the judge
    #: (:mod:`rnnlib.grading.kernel_judge`); the judge's ends are then in :attr:`judge_fds`
    #: (request fd, reply fd) after each start, for the executor to take.
    judge_pipes = False
    judge_fds = None

    def __init__(self, **kwargs):
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("client_class", "rnnlib.autograde.sandbox.BoundedKernelClient")
        super().__init__(**kwargs)
        self._own_scratch = False
        self.confinement = None
        self._kernel_fds = ()

    # -- launch -----------------------------------------------------------------------------
    async def _async_pre_start_kernel(self, **kw):
        if self.scratch is None:
            self.scratch = Scratch(kw.get("cwd"))
            self._own_scratch = True
        if self.confinement is not None:  # a restart: nothing of the old kernel survives
            self.confinement.release()
        self.confinement = Confinement(self.memory_limit, self.process_limit,
                                       drop=self._dropping() and self.uid_per_sandbox)
        self.unseal_ipc()
        kw["stdout"] = kw["stderr"] = subprocess.DEVNULL  # student bytes never reach a terminal
        self.transport = "ipc"
        self.ip = str(self.scratch.ipc / "k")
        self.connection_file = str(self.scratch.ipc / "kernel.json")
        kw["cwd"] = str(self.scratch.work)
        self._make_judge_pipes(kw)
        env = dict(kw.get("env") or os.environ)
        env.update(self._kernel_env())
        kw["env"] = env
        if self.kernel_spec is not None:
            # interrupt over the control channel: signals do not cross the sandbox cleanly
            self.kernel_spec.interrupt_mode = "message"
        return await super()._async_pre_start_kernel(**kw)

    def _make_judge_pipes(self, kw):
        self.close_judge_fds()
        if not self.judge_pipes:
            kw.pop("pass_fds", None)
            return
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        self._kernel_fds = (request_r, reply_w)
        self.judge_fds = (request_w, reply_r)
        kw["pass_fds"] = self._kernel_fds

    def close_judge_fds(self):
        """Close the pipes' ends that nobody took (the kernel's, once it has them)."""
        for fd in self._kernel_fds + (self.judge_fds or ()):
            try:
                os.close(fd)
            except OSError:
                pass
        self._kernel_fds, self.judge_fds = (), None

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        self.forked, self.kernel_pid = False, None
        try:
            if self._forkable():
                try:
                    return await self._launch_forked(**kw)
                except (ZygoteError, OSError, ValueError) as exc:
                    log.warning("grading kernel: started cold, the zygote failed (%s)", exc)
                    await self._end_stub()
            await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:  # the kernel has its ends now (or failed to start): ours go
            for fd in self._kernel_fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._kernel_fds = ()

    def _dropping(self):
        return os.geteuid() == 0 and self.sandbox and bwrap_path() is not None

    def _uid(self):
        if self.confinement is not None and self.confinement.uid is not None:
            return self.confinement.uid
        return self.drop_to_uid

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if self._dropping():
            self.scratch.hand_over(self._uid(), self._uid())

    def seal_ipc(self):
        """Once the kernel is up: its socket folder is no longer writable for it (the only host
        folder it could write; the rest are size-limited tmpfs mounts)."""
        if self._dropping() and self.scratch is not None:
            os.chown(self.scratch.ipc, 0, 0)
            os.chmod(self.scratch.ipc, 0o755)

    def unseal_ipc(self):
        if self.scratch is not None and os.geteuid() == 0:
            os.chmod(self.scratch.ipc, 0o755)

    def _kernel_env(self):
        s = self.scratch
        return {
            **KERNEL_ENV, "HOME": str(s.home), "TMPDIR": str(s.tmp), "PYTHONPATH": str(s.lib),
            "MPLCONFIGDIR": str(s.home / ".mpl"),
            **({"RNNLIB_GRADING_FDS": ",".join(map(str, self._kernel_fds))}
               if self._kernel_fds else {}),
        }

    def _limits(self, dropping):
        return _limit_args(self.memory_limit, self.file_size_limit,
                           self.process_limit if dropping else None)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if any("ipykernel" in part for part in cmd):
            cmd = cmd + list(self.ipykernel_arguments)
        self._ipykernel_cmd = cmd
        bwrap = bwrap_path() if self.sandbox else None
        copy_in = ["/bin/sh", "-c", COPY_IN, str(self.scratch.src), str(self.scratch.work)]
        if bwrap is None:
            if self.require_sandbox:
                raise RuntimeError("bubblewrap is required (SandboxedKernelManager."
                                   "require_sandbox) but unavailable")
            warn_unsandboxed()
            self.unsandboxed = True
            return self._limits(False) + copy_in + cmd
        return self.confinement.wrap([bwrap] + self.bwrap_args() + self._drop()
                                     + self._limits(self._dropping()) + copy_in + cmd)

    def _drop(self):
        return _drop_args(self._uid()) if self._dropping() else []

    def bwrap_args(self):
        """The bubblewrap arguments: namespaces, the file system and the environment."""
        s = self.scratch
        binds = [("ro", p) for p in self.extra_ro_binds]
        binds += [("rw", s.root), ("ro", s.lib), ("ro", s.src)]
        return sandbox_args(binds, chdir=s.work, env=self._kernel_env(),
                            tmpfs=(s.work, s.home, s.tmp))

    # -- cleanup ----------------------------------------------------------------------------
    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            self.close_judge_fds()
        if self.confinement is not None:
            self.confinement.release()  # every process the kernel started, gone
            self.confinement = None
        if not restart and self._own_scratch and self.scratch is not None:
            self.scratch.cleanup()
            self.scratch = None

    cleanup_resources = _async_cleanup_resources


class BoundedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets refuse messages over a size before they are read: the
    grader decodes what a kernel sends in its own, unsandboxed process. Replies (where the
    judge's answers travel) may hold :attr:`max_reply_bytes`; output messages
    :attr:`max_output_message_bytes` (larger: output beyond the per-cell cap is cut and
    flagged by the executor, which must see it arrive)."""

    max_reply_bytes = Integer(32 * 1024**2).tag(config=True)
    max_output_message_bytes = Integer(128 * 1024**2).tag(config=True)

    def _create_connected_socket(self, channel, identity=None):
        import zmq

        url = self._make_url(channel)
        sock = self.context.socket(channel_socket_types[channel])
        sock.linger = 1000
        limit = self.max_output_message_bytes if channel == "iopub" else self.max_reply_bytes
        sock.setsockopt(zmq.MAXMSGSIZE, int(limit))
        if identity:
            sock.identity = identity
        if getattr(self, "curve_publickey", None) is not None:
            sock.curve_secretkey = self.curve_secretkey
            sock.curve_publickey = self.curve_publickey
            sock.curve_serverkey = self.curve_publickey
        sock.connect(url)
        return sock
