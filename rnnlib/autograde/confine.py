"""Limits that hold for a whole sandbox, and nothing shared between concurrent sandboxes.

bubblewrap isolates the file system and the network; this module bounds what one submission
can take from the machine and from the submissions graded beside it. Each sandbox (a grading
kernel, or the judge's worker) gets a :class:`Confinement`:

- its own uid, when grading runs as root: a free one from a pool (:data:`UID_BASE` onwards),
  held with a lock file for as long as the sandbox lives. The kernel's process limit
  (``RLIMIT_NPROC``) counts the processes of a uid, so with one uid for every sandbox a
  process-heavy submission made an honest one beside it fail ("Resource temporarily
  unavailable", "Kernel died before replying to kernel_info");
- its own control group, where the machine allows it (root with cgroup v1 controllers, or a
  writable cgroup v2 tree): a memory limit for all its processes together, tmpfs files and
  memfds included (``RLIMIT_AS`` is per process: four children held 4 GiB), a process limit
  and one CPU's worth of time, so that no sandbox starves the others;
- and at its end, everything it started is killed: every process in its control group and every
  process of its uid, whatever it did to escape its process group.

Where neither is available (grading as a normal user without a delegated cgroup tree) the limits
are per process only (``prlimit``); :func:`capabilities` says which apply.
"""

import contextlib
import fcntl
import os
import pathlib
import shlex
import signal
import time
import uuid

#: First uid of the pool the sandboxes run as when grading runs as root (none of them is a
#: user of the machine: they own nothing outside the sandbox).
UID_BASE = 200_000
UID_COUNT = 512
LOCK_DIR = pathlib.Path("/tmp/rnnlib-grading-uids")

_V1 = pathlib.Path("/sys/fs/cgroup")
_V2 = pathlib.Path("/sys/fs/cgroup")
GROUP = "rnnlib-grading"


def _writable_dir(path):
    return path.is_dir() and os.access(path, os.W_OK)


def cgroup_mode():
    """'v1' (root, separate memory/pids/cpu hierarchies), 'v2' (a writable unified tree) or
    None."""
    if os.geteuid() == 0 and all(_writable_dir(_V1 / c) for c in ("memory", "pids")):
        return "v1"
    if (_V2 / "cgroup.controllers").is_file() and _writable_dir(_V2):
        controllers = (_V2 / "cgroup.controllers").read_text().split()
        if {"memory", "pids"} <= set(controllers):
            return "v2"
    return None


def capabilities():
    """{'uid_per_sandbox': bool, 'cgroup': 'v1' | 'v2' | None}."""
    return {"uid_per_sandbox": os.geteuid() == 0, "cgroup": cgroup_mode()}


class UidLease:
    """A uid from the pool, held (an flock on its lock file) until :meth:`release`."""

    def __init__(self):
        LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
        start = (os.getpid() * 7) % UID_COUNT  # spread concurrent graders over the pool
        for k in range(UID_COUNT):
            uid = UID_BASE + (start + k) % UID_COUNT
            fd = os.open(LOCK_DIR / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            kill_uid(uid)  # nothing left over from an earlier grader that was killed
            return
        raise RuntimeError(f"all {UID_COUNT} sandbox uids are in use")

    def release(self):
        if self._fd is not None:
            kill_uid(self.uid)
            os.close(self._fd)
            self._fd = None


def _pids_of_uid(uid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}")
        except OSError:
            continue
        if st.st_uid == uid:
            out.append(int(entry))
    return out


def kill_all(list_pids, seconds):
    """SIGKILL the processes ``list_pids()`` names until it names none (forks in flight
    included) or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pids = list_pids()
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def kill_uid(uid, seconds=2.0):
    """SIGKILL every process of ``uid`` until none is left."""
    kill_all(lambda: _pids_of_uid(uid), seconds)


class Cgroup:
    """A control group of its own for one sandbox (v1: one per controller; v2: one)."""

    def __init__(self, mode, memory_bytes, max_pids, cpus=1.0):
        self.mode, self.name = mode, f"{GROUP}/{uuid.uuid4().hex[:12]}"
        self.dirs = []
        if mode == "v1":
            settings = {"memory": {"memory.limit_in_bytes": memory_bytes},
                        "pids": {"pids.max": max_pids}}
            if _writable_dir(_V1 / "cpu"):
                settings["cpu"] = {"cpu.cfs_period_us": 100_000,
                                   "cpu.cfs_quota_us": int(100_000 * cpus)}
            for controller, values in settings.items():
                d = _V1 / controller / self.name
                d.mkdir(parents=True)
                self.dirs.append(d)
                for key, value in values.items():
                    with contextlib.suppress(OSError):
                        (d / key).write_text(str(value))
            # memory+swap too, where the kernel accounts swap (no swap: same limit)
            with contextlib.suppress(OSError):
                (self.dirs[0] / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        else:
            parent = _V2 / GROUP
            parent.mkdir(exist_ok=True)
            with contextlib.suppress(OSError):
                (_V2 / "cgroup.subtree_control").write_text("+memory +pids +cpu")
                (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
            d = _V2 / self.name
            d.mkdir()
            self.dirs.append(d)
            for key, value in (("memory.max", memory_bytes), ("memory.swap.max", 0),
                               ("pids.max", max_pids),
                               ("cpu.max", f"{int(100_000 * cpus)} 100000")):
                with contextlib.suppress(OSError):
                    (d / key).write_text(str(value))

    def procs_files(self):
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self):
        found = set()
        for d in self.dirs:
            with contextlib.suppress(OSError):
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
        return found

    def oom_killed(self):
        """True when the memory limit killed something in this group."""
        d = self.dirs[0]
        for name, key in (("memory.oom_control", "oom_kill"), ("memory.events", "oom_kill")):
            with contextlib.suppress(OSError, ValueError):
                for line in (d / name).read_text().splitlines():
                    k, _, v = line.partition(" ")
                    if k == key and int(v) > 0:
                        return True
        return False

    def destroy(self):
        """Kill every process in the group, then remove it (a process the memory limit killed
        can take a moment to leave; an empty group left behind is swept by a later one)."""
        if self.mode == "v2":
            with contextlib.suppress(OSError):
                (self.dirs[0] / "cgroup.kill").write_text("1")
        kill_all(self.pids, 10)
        deadline = time.monotonic() + 5
        for d in self.dirs:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)


def sweep(mode, older_than=30.0):
    """Remove this module's empty control groups older than ``older_than`` seconds (left by a
    grader that was killed, or by a slow exit); a live sandbox's group is never empty."""
    parents = ([_V1 / c / GROUP for c in ("memory", "pids", "cpu")] if mode == "v1"
               else [_V2 / GROUP])
    now = time.time()
    for parent in parents:
        if not parent.is_dir():
            continue
        for d in parent.iterdir():
            try:
                if (d.is_dir() and now - d.stat().st_mtime > older_than
                        and not (d / "cgroup.procs").read_text().split()):
                    d.rmdir()
            except OSError:
                continue


class Confinement:
    """One sandbox's uid and control group; :meth:`wrap` puts a command in them."""

    def __init__(self, memory_bytes, max_pids, cpus=1.0, drop=True):
        self.lease = UidLease() if drop and os.geteuid() == 0 else None
        mode = cgroup_mode()
        if mode:
            sweep(mode)
        try:
            self.cgroup = Cgroup(mode, memory_bytes, max_pids, cpus) if mode else None
        except OSError:
            self.cgroup = None

    @property
    def uid(self):
        return self.lease.uid if self.lease else None

    def wrap(self, argv):
        """``argv`` started inside this sandbox's control group (a shell joins it, then
        execs)."""
        if self.cgroup is None:
            return list(argv)
        joins = "; ".join(f"echo $$ > {shlex.quote(f)}" for f in self.cgroup.procs_files())
        return ["/bin/sh", "-c", f'{joins}; exec "$@"', "sh", *argv]

    def kill_processes(self):
        """Kill everything the sandbox started, keeping its uid and its group (a sandbox that
        starts again in them): the group's processes, and its own uid's (never nobody's)."""
        if self.cgroup is not None:
            kill_all(self.cgroup.pids, 5)
        if self.lease is not None:
            kill_uid(self.lease.uid)

    def release(self):
        """Kill everything the sandbox started, free its uid and its group (idempotent)."""
        if self.cgroup is not None:
            self.cgroup.destroy()
        if self.lease is not None:
            self.lease.release()
        self.cgroup = self.lease = None
