"""The grading kernels' zygote: a Python that has imported what a kernel imports, and forks one
kernel per request into a sandbox that bubblewrap has already built (see
:mod:`rnnlib.autograde.zygote`, which starts this file as a script and speaks to it).

Standalone on purpose: it runs as the grader's user (root) outside any sandbox, and every kernel
it forks starts from its memory, so it imports nothing of ``rnnlib`` (no reference, no check)
and holds no secret; it reads requests only from the one socket its parent gave it.

A request (JSON, with the judge's pipes attached as file descriptors) names a sandbox by the
host pid of the process bubblewrap started in it (``stub``), the control group and uid of that
sandbox, the limits, the environment, the working directory and the kernel's arguments. The
zygote forks a *keeper*, which joins the sandbox's PID namespace and forks the kernel:

- the kernel joins the sandbox's control group, then its cgroup, IPC, UTS, network and mount
  namespaces (so it sees the sandbox's root, its tmpfs mounts, no network), sets the limits,
  drops to the sandbox's uid with no capability left (bounding set, inheritable set, no new
  privileges), closes every descriptor but the judge's, copies the submission's files into its
  working directory, tells the keeper it is in (or why not: then the grader starts the kernel
  cold) and runs ipykernel as ``python -m ipykernel_launcher`` would;
- the keeper stays outside, as the kernel's parent: it sends the kernel's pid, waits for it, and
  when it ends sends its exit code and kills the stub, so that bubblewrap ends and the grader
  sees the kernel die (with its code) as it would see a kernel that bubblewrap ran itself.
"""

import ctypes
import fcntl
import json
import os
import resource
import select
import signal
import socket
import sys

#: What a kernel imports before it runs a cell, and numpy (every notebook of the course imports
#: it first): imported once here instead of in every kernel.
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell",
           "ipykernel.iostream", "ipykernel.heartbeat", "ipykernel.parentpoller",
           "ipykernel.debugger", "IPython.core.interactiveshell", "IPython.core.completer",
           "IPython.core.completerlib", "IPython.core.ultratb", "IPython.core.magics",
           "IPython.core.formatters", "IPython.core.display", "IPython.core.debugger",
           "IPython.core.logger", "IPython.core.oinspect", "IPython.extensions.storemagic",
           "IPython.utils.wildcard", "jupyter_client.session", "comm", "tornado.gen",
           "tornado.locks", "tornado.queues", "tornado.platform.asyncio", "faulthandler",
           "unicodedata", "runpy", "pdb", "numpy", "numpy.random", "numpy.linalg")

_libc = ctypes.CDLL(None, use_errno=True)
_NAMESPACES = (("cgroup", 0x02000000), ("ipc", 0x08000000), ("uts", 0x04000000),
               ("net", 0x40000000), ("mnt", 0x00020000))
CLONE_NEWPID = 0x20000000
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
LIMITS = {"as": resource.RLIMIT_AS, "fsize": resource.RLIMIT_FSIZE,
          "core": resource.RLIMIT_CORE, "nproc": resource.RLIMIT_NPROC}


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _setns(fd, kind):
    _check(_libc.setns(fd, kind), "setns")


def _prctl(option, arg):
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def _clear_capabilities():
    """Empty the effective, permitted and inheritable sets (capset, version 3)."""
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    data = (Data * 2)()
    _check(_libc.capset(ctypes.byref(Header(0x20080522, 0)), data), "capset")


def _drop_bounding_set():
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        _prctl(PR_CAPBSET_DROP, cap)


def _copy_in(src, dest):
    """``cp -R src/. dest/`` (the submission's files are plain files and folders)."""
    for dirpath, _, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target = os.path.normpath(os.path.join(dest, rel))
        os.makedirs(target, exist_ok=True)
        for name in filenames:
            try:
                with open(os.path.join(dirpath, name), "rb") as f_in:
                    mode = os.fstat(f_in.fileno()).st_mode & 0o777  # cp: the mode, less umask
                    out = os.open(os.path.join(target, name),
                                  os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
                    with open(out, "wb") as f_out:
                        while chunk := f_in.read(1 << 20):
                            f_out.write(chunk)
            except OSError:
                pass  # as cp: a file that does not fit is not there


def _kernel(req, ns_fds, root_fd, fds, ready):
    """In the forked kernel (already in the sandbox's PID namespace): enter the rest, drop
    everything, say so on ``ready`` (or why not, and exit), run ipykernel. Never returns."""
    ready = [ready]  # its number changes when the judge's descriptors are put in place
    try:
        _enter(req, ns_fds, root_fd, fds, ready)
    except BaseException as exc:  # noqa: BLE001 - the keeper reports it; the kernel starts cold
        os.write(ready[0], f"{type(exc).__name__}: {exc}".encode()[:4000])
        os._exit(1)
    ready = ready[0]
    os.write(ready, b"ok")
    os.close(ready)  # before any student code runs
    import runpy

    try:
        runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        code = 1
    os._exit(code)


def place_descriptors(targets, fds, keep):
    """0-2 on /dev/null (the sandbox's), ``fds[i]`` at number ``targets[i]`` (the judge's, at
    the numbers the kernel's environment names), ``keep`` at a number of its own, which is
    returned; every other descriptor closed.

    Everything kept is first moved above all the targets, so that putting one in its place
    cannot close another: a target may be the number ``keep`` or another of ``fds`` has here,
    which depends on how many descriptors the grader and this process had open."""
    floor = max([2, *targets]) + 1
    keep = fcntl.fcntl(keep, fcntl.F_DUPFD_CLOEXEC, floor)
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, floor) for fd in fds]
    null = os.open("/dev/null", os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(null, std)
    for target, fd in zip(targets, moved, strict=True):
        os.dup2(fd, target)  # inheritable, as pass_fds makes them
    kept = {0, 1, 2, keep, *targets}
    for fd in _open_fds():
        if fd not in kept:
            try:
                os.close(fd)
            except OSError:
                pass
    return keep


def _enter(req, ns_fds, root_fd, fds, ready):
    """The sandbox's control group, namespaces, root, limits, uid; no capability, no other
    descriptor than the judge's (and the ready pipe, ``ready[0]``, updated when it moves),
    the kernel's environment and sys.path."""
    for path in req["cgroup_procs"]:
        with open(path, "w") as f:
            f.write("0")  # this process (its pid is the sandbox's here, not the host's)
    for name, kind in _NAMESPACES:
        _setns(ns_fds[name], kind)
    os.fchdir(root_fd)
    os.chroot(".")
    os.chdir(req["cwd"])
    for name, value in req["limits"].items():
        resource.setrlimit(LIMITS[name], (value, value))
    uid = req["uid"]
    _drop_bounding_set()
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _clear_capabilities()
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it
    ready[0] = place_descriptors(req["fd_numbers"], fds, ready[0])
    os.environ.clear()
    os.environ.update(req["env"])
    os.environ.update(_SET_BY_IMPORTS)  # as the kernel's own imports would have set them
    import tempfile

    tempfile.tempdir = None
    _copy_in(req["src"], req["cwd"])
    # sys.path as `python -m` makes it: the working directory, PYTHONPATH, then the rest
    sys.path[:_OWN_PATHS] = [req["cwd"], *_path_list(req["env"].get("PYTHONPATH", ""))]
    if "numpy.random" in sys.modules:  # a fresh process's global generator, not ours
        sys.modules["numpy.random"].seed()
    sys.argv = ["ipykernel_launcher", *req["argv"]]


def _path_list(text):
    return [p for p in text.split(os.pathsep) if p]


#: How many entries at the head of sys.path are this zygote's own (its folder and PYTHONPATH).
_OWN_PATHS = 1 + len(_path_list(os.environ.get("PYTHONPATH", "")))


#: Environment variables the preloaded modules set when imported (a kernel gets them too).
_SET_BY_IMPORTS = {}


def _open_fds():
    return [int(name) for name in os.listdir("/proc/self/fd")]


def _keeper(conn, req, fds):
    """The zygote's child: join the sandbox's PID namespace, fork the kernel, report its pid,
    wait for it, then end the sandbox. Never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    code, stub_fd = 1, None
    try:
        stub = req["stub"]
        stub_fd = os.pidfd_open(stub)
        proc = f"/proc/{stub}"
        ns_fds = {name: os.open(f"{proc}/ns/{name}", os.O_RDONLY)
                  for name in (*(n for n, _ in _NAMESPACES), "pid")}
        root_fd = os.open(f"{proc}/root", os.O_RDONLY | os.O_DIRECTORY)
        # the namespaces are the ones bubblewrap made (the pid was not reused meanwhile)
        for name, fd in ns_fds.items():
            if os.fstat(fd).st_ino != req["namespaces"][name]:
                raise RuntimeError(f"process {stub} is not in the sandbox's {name} namespace")
        if select.select([stub_fd], [], [], 0)[0]:
            raise RuntimeError("the sandbox ended before its kernel started")
        _setns(ns_fds.pop("pid"), CLONE_NEWPID)
        ready_r, ready_w = os.pipe()
        kernel = os.fork()
        if kernel == 0:
            try:
                conn.close()
                os.close(ready_r)
                _kernel(req, ns_fds, root_fd, fds, ready_w)
            finally:
                os._exit(1)
        os.close(ready_w)
        kernel_fd = os.pidfd_open(kernel)
        for fd in (*ns_fds.values(), root_fd, *fds):
            os.close(fd)
        word = os.read(ready_r, 4096)  # the kernel is in its sandbox, or why not
        os.close(ready_r)
        if word != b"ok":  # it may still run (it lost its pipe): it never gets a cell
            signal.pidfd_send_signal(kernel_fd, signal.SIGKILL)
            os.waitpid(kernel, 0)
            raise RuntimeError("the kernel could not enter its sandbox: "
                               + (word.decode(errors="replace") or "it died"))
        socket.send_fds(conn, [json.dumps({"pid": kernel}).encode()], [kernel_fd])
        os.close(kernel_fd)
        _, status = os.waitpid(kernel, 0)
        # the code bubblewrap gives for its child: the exit status, or 128 + the signal
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code
        try:
            conn.sendall(json.dumps({"exit": code}).encode())
        except OSError:
            pass  # the grader has gone
        signal.pidfd_send_signal(stub_fd, signal.SIGKILL)
        code = 0
    except BaseException as exc:  # noqa: BLE001 - reported, and the sandbox ends
        try:
            conn.sendall(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        except OSError:
            pass
        if stub_fd is not None:  # the sandbox ends (by its pidfd: never another process)
            try:
                signal.pidfd_send_signal(stub_fd, signal.SIGKILL)
            except OSError:
                pass
    os._exit(code if code >= 0 else 1)


def serve(control):
    """Answer requests on ``control`` until it closes."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # keepers are reaped by the system
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(control, 1 << 20, 16)
        except OSError:
            return
        if not msg:
            return
        conn, fds = socket.socket(fileno=fds[0]), fds[1:]
        req = json.loads(msg)
        if os.fork() == 0:
            try:
                control.close()
                _keeper(conn, req, fds)
            finally:
                os._exit(1)
        conn.close()
        for fd in fds:
            os.close(fd)


def main():
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    control = socket.socket(fileno=int(sys.argv[1]))
    import importlib
    import threading

    before = dict(os.environ)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    # what the imports put in the environment (ipykernel: PYDEVD_USE_FRAME_EVAL)
    _SET_BY_IMPORTS.update({k: v for k, v in os.environ.items() if before.get(k) != v})
    if threading.active_count() != 1 or len(os.listdir("/proc/self/task")) != 1:
        sys.exit("threads")  # a forked kernel could not join a mount namespace: no zygote
    serve(control)  # requests sent while it imported are waiting on the socket


if __name__ == "__main__":
    main()
