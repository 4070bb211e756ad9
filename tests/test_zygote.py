"""Grading kernels forked from the zygote (rnnlib.autograde.zygote): each one is in a sandbox that
cannot be told from a cold kernel's (uid, capabilities, limits, namespaces, file system,
descriptors, environment, sys.path, control group), holds nothing of rnnlib, ends when it dies
or is shut down with nothing left behind, and a kernel starts cold when the zygote fails.
classgrade's jobs use it (the hostile catalog grades the same on both paths:
test_hostile_submissions.py's test_the_two_paths_agree)."""

import asyncio
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

from rnnlib.autograde import classgrade, confine, sandbox, zygote

pytestmark = [
    pytest.mark.xdist_group("autograde"),
    pytest.mark.skipif(os.geteuid() != 0 or sandbox.bwrap_path() is None,
                       reason="kernels are forked only when grading runs as root with bwrap"),
]

#: What a kernel can observe of its sandbox, as JSON.
FACTS = r'''
import json, os, resource, socket, sys, tempfile
def read(path):
    try:
        return open(path).read()
    except OSError as exc:
        return type(exc).__name__
status = dict(l.split(":", 1) for l in read("/proc/self/status").splitlines())
status = {k: v.strip() for k, v in status.items()}
procs = sorted(read(f"/proc/{p}/cmdline").split("\0")[0].rsplit("/", 1)[-1]
               for p in os.listdir("/proc") if p.isdigit())
print(json.dumps({
    "uid": os.getresuid(), "gid": os.getresgid(), "groups": os.getgroups(),
    "caps": [status[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")],
    "no_new_privs": status["NoNewPrivs"], "seccomp": status["Seccomp"],
    "limits": [resource.getrlimit(getattr(resource, "RLIMIT_" + n))
               for n in ("AS", "FSIZE", "CORE", "NPROC")],
    "cwd": os.getcwd(), "work": sorted(os.listdir(".")), "sub": sorted(os.listdir("sub")),
    "mode": oct(os.stat("run.sh").st_mode & 0o777),
    "root": sorted(os.listdir("/")), "hostname": socket.gethostname(),
    "interfaces": [name for _, name in socket.if_nameindex()],
    "fds": sorted(os.listdir("/proc/self/fd"), key=int),
    "mounts": sorted(l.split()[4] for l in read("/proc/self/mountinfo").splitlines()),
    "env": dict(os.environ), "path": sys.path, "tmp": tempfile.gettempdir(),
    "home": os.path.expanduser("~"), "cgroup": read("/proc/self/cgroup"), "procs": procs,
    "rnnlib": sorted(m for m in sys.modules if m.split(".")[0] in ("rnnlib", "_rnnlib_grading")),
    "umask": os.umask(0o022),
}))
'''


def _scratch(tmp_path, name, start_up=sandbox.SITECUSTOMIZE):
    folder = tmp_path / name
    (folder / "sub").mkdir(parents=True)
    (folder / "helper.py").write_text("X = 1\n")
    (folder / "sub" / "data.txt").write_text("d")
    (folder / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(folder / "run.sh", 0o755)
    scratch = sandbox.Scratch(folder)
    (scratch.lib / "sitecustomize.py").write_text(start_up)  # the views': SITECUSTOMIZE
    return scratch


async def _run(km, code, timeout=30):
    """Execute ``code`` in ``km``'s kernel: (stdout, the reply's status)."""
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=timeout)
        out = []
        reply = await kc.execute_interactive(
            code, timeout=timeout,
            output_hook=lambda m: out.append(m["content"].get("text", "")))
        return "".join(out), reply["content"]["status"]
    finally:
        kc.stop_channels()


def _kernel(tmp_path, name, forked, code=FACTS, start_up=sandbox.SITECUSTOMIZE):
    """Start a kernel (forked or cold) on a scratch of its own, run ``code``, shut it down:
    what it printed, the manager, and what was left of its uid and control group after."""
    async def main():
        km = sandbox.SandboxedKernelManager(zygote=forked)
        km.scratch = _scratch(tmp_path, name, start_up)
        await km.start_kernel()
        seen = {"forked": km.forked, "uid": km._uid(), "root": str(km.scratch.root)}
        try:
            seen["out"], seen["status"] = await _run(km, code)
            if km.confinement.cgroup is not None:  # the kernel joined it before it ran ipykernel
                seen["in_group"] = km.kernel_pid in km.confinement.cgroup.pids()
        finally:
            await km.shutdown_kernel(now=True)
        seen["left"] = confine._pids_of_uid(seen["uid"])
        seen["process"] = km.provisioner.process if km.provisioner else None
        km.scratch.cleanup()
        return seen

    return asyncio.run(main())


def _facts(seen):
    facts = json.loads(seen["out"])
    return json.loads(json.dumps(facts).replace(seen["root"], "<scratch>"))


def test_a_forked_kernel_is_sandboxed_as_a_cold_one(tmp_path):
    cold = _kernel(tmp_path, "cold", forked=False)
    forked = _kernel(tmp_path, "forked", forked=True)
    assert forked["forked"] and not cold["forked"], "the kernel was not forked"
    a, b = _facts(cold), _facts(forked)
    for seen, facts in ((cold, a), (forked, b)):
        low = confine.UID_BASE
        assert facts["uid"] == [seen["uid"]] * 3 and facts["gid"] == [seen["uid"]] * 3
        assert low <= seen["uid"] < low + confine.UID_COUNT and facts["groups"] == []
        assert facts["caps"] == ["0000000000000000"] * 5 and facts["no_new_privs"] == "1"
        assert facts["interfaces"] == ["lo"] and facts["hostname"] == "grader"
        assert facts["work"] == ["helper.py", "run.sh", "sub"] and facts["sub"] == ["data.txt"]
        assert facts["rnnlib"] == []
    same = ("groups", "caps", "no_new_privs", "seccomp", "limits", "cwd", "work", "sub", "mode",
            "root", "hostname", "interfaces", "fds", "mounts", "env", "path", "tmp", "home",
            "cgroup", "umask")
    assert {k: a[k] for k in same} == {k: b[k] for k in same}
    # the one difference: the stub that keeps the forked kernel's sandbox up
    assert a["procs"] == ["bwrap", "python"], a["procs"]
    assert sorted(b["procs"]) == ["bwrap", "python", "sleep"], b["procs"]
    if "in_group" in forked:  # the sandbox's control group holds the forked kernel
        assert forked["in_group"]


def test_a_forked_kernel_ends_with_its_sandbox_and_leaves_nothing(tmp_path):
    code = ("import subprocess\n"
            "subprocess.Popen(['sleep', '600'], start_new_session=True)\nprint('ok')")
    seen = _kernel(tmp_path, "ends", forked=True, code=code)
    assert seen["forked"] and seen["out"] == "ok\n"
    assert seen["left"] == [], f"processes of uid {seen['uid']} outlived the kernel"
    assert seen["process"] is None or seen["process"].poll() is not None


def test_a_forked_kernels_death_is_seen_as_a_cold_ones(tmp_path):
    async def main():
        km = sandbox.SandboxedKernelManager(zygote=True)
        km.scratch = _scratch(tmp_path, "dies")
        await km.start_kernel()
        assert km.forked
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=30)
        kc.execute("import os; os._exit(3)")
        deadline = time.monotonic() + 15
        while await km.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        alive = await km.is_alive()
        kc.stop_channels()
        uid = km._uid()
        await km.shutdown_kernel(now=True)
        km.scratch.cleanup()
        return alive, confine._pids_of_uid(uid)

    alive, left = asyncio.run(main())
    assert not alive, "the kernel exited, its manager still says it is alive"
    assert left == []


def test_forked_kernels_draw_different_random_numbers(tmp_path):
    code = "import numpy as np, random\nprint(np.random.rand(), random.random())"
    one = _kernel(tmp_path, "r1", forked=True, code=code)
    two = _kernel(tmp_path, "r2", forked=True, code=code)
    assert one["forked"] and two["forked"]
    a, b = one["out"].split(), two["out"].split()
    assert a[0] != b[0] and a[1] != b[1], (a, b)  # as two fresh processes


def test_a_kernel_starts_cold_when_its_start_up_is_not_the_zygotes(tmp_path):
    # the zygote ran SITECUSTOMIZE: a kernel with another start-up is not forked
    seen = _kernel(tmp_path, "other", forked=True, start_up="import os\nos.environ['S'] = '1'\n",
                   code="import os; print(os.environ['S'])")
    assert not seen["forked"] and seen["out"] == "1\n"


def test_a_kernel_starts_cold_when_the_zygote_fails(tmp_path, monkeypatch, caplog):
    def broken(self, request, fds=()):
        raise zygote.ZygoteError("broken on purpose")

    monkeypatch.setattr(zygote.Zygote, "spawn", broken)
    seen = _kernel(tmp_path, "fallback", forked=True, code="print(6 * 7)")
    assert not seen["forked"] and seen["out"] == "42\n" and seen["left"] == []
    assert "started cold, the zygote failed (broken on purpose)" in caplog.text


def test_a_kernel_that_cannot_enter_its_sandbox_is_started_cold(tmp_path, monkeypatch, caplog):
    spawn = zygote.Zygote.spawn

    def misdirected(self, request, fds=()):
        return spawn(self, {**request, "cwd": "/no/such/folder"}, fds)

    monkeypatch.setattr(zygote.Zygote, "spawn", misdirected)
    seen = _kernel(tmp_path, "misdirected", forked=True, code="import os; print(os.getcwd())")
    assert not seen["forked"] and seen["out"].endswith("/work\n") and seen["left"] == []
    assert "could not enter its sandbox: FileNotFoundError" in caplog.text


def test_why_a_kernel_failed_after_its_descriptors_moved_is_still_reported(tmp_path,
                                                                         monkeypatch, caplog):
    spawn = zygote.Zygote.spawn

    def no_environment(self, request, fds=()):  # fails after the descriptors are in place
        return spawn(self, {**request, "env": None}, fds)

    monkeypatch.setattr(zygote.Zygote, "spawn", no_environment)
    seen = _kernel(tmp_path, "no-env", forked=True, code="print(6 * 7)")
    assert not seen["forked"] and seen["out"] == "42\n" and seen["left"] == []
    assert "could not enter its sandbox: TypeError" in caplog.text


def test_the_zygote_holds_nothing_of_rnnlib_and_is_restarted_when_it_dies(tmp_path):
    z = sandbox.kernel_zygote()
    with open(f"/proc/{z.pid}/cmdline") as f:
        assert "zygote_server.py" in f.read()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # it imports first
        with open(f"/proc/{z.pid}/maps") as f:
            maps = f.read()
        if "numpy" in maps:
            break
        time.sleep(0.1)
    assert "numpy" in maps  # preloaded (and, test above, no rnnlib module in its kernels)
    os.kill(z.pid, 9)
    deadline = time.monotonic() + 10
    while z.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = _kernel(tmp_path, "again", forked=True, code="print('up')")
    assert seen["forked"] and seen["out"] == "up\n"
    assert sandbox.kernel_zygote().pid != z.pid


def test_classgrade_jobs_fork_their_kernels_unless_the_configuration_says_not():
    from traitlets.config import Config

    assert classgrade.zygote_wanted(Config()) is True
    c = Config()
    c.ClassGrade.zygote = False
    assert classgrade.zygote_wanted(c) is False
    c = Config()
    c.ClassGrade.zygote = False
    c.SandboxedKernelManager.zygote = True  # the kernel manager's own setting wins
    assert classgrade.zygote_wanted(c) is True
    assert sandbox.SandboxedKernelManager().zygote is False  # nbgrader autograde: cold


def test_classgrade_workers_share_the_zygote_the_command_started():
    # in a fresh process, as the command is (a test process may run threads: then the workers
    # come from a fork server and start zygotes of their own, which is right but not this case)
    script = (
        "from rnnlib.autograde import classgrade, sandbox\n"
        "pool = classgrade.local_pool(2, zygote=True)\n"
        "pids = {pool.submit(classgrade._zygote_pid).result() for _ in range(4)}\n"
        "pool.shutdown()\n"
        "print(sorted(pids), sandbox.kernel_zygote().pid)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    workers, own = out.stdout.strip().rsplit(" ", 1)
    assert workers == f"[{own}]", out.stdout


def test_the_server_is_standalone():
    # it runs as root outside the sandbox and every kernel starts from its memory
    source = pathlib.Path(zygote.__file__).with_name("zygote_server.py").read_text()
    assert "rnnlib" not in "".join(l for l in source.splitlines()
                                   if l.startswith(("import", "from")))


PLACE = r'''
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("zygote_server", sys.argv[1])
server = importlib.util.module_from_spec(spec)
spec.loader.exec_module(server)
pipes = [os.pipe() for _ in range(3)]
ready_r, ready_w = os.pipe()
fds = [w for _, w in pipes]
# each target is a number something else kept has now: ready's, then the next fd's
targets = [ready_w, fds[2], fds[0]]
child = os.fork()
if child == 0:
    ready = server.place_descriptors(targets, fds, ready_w)
    for i, target in enumerate(targets):
        os.write(target, str(i).encode())
    os.write(ready, json.dumps(sorted(int(n) for n in os.listdir("/proc/self/fd"))).encode())
    os._exit(0)
for _, w in pipes:
    os.close(w)
os.close(ready_w)
os.waitpid(child, 0)
print(json.dumps({"got": [os.read(r, 100).decode() for r, _ in pipes],
                  "open": json.loads(os.read(ready_r, 1000)), "targets": targets}))
'''


def test_the_judges_descriptors_reach_their_numbers_whatever_they_collide_with():
    """A forked kernel puts the judge's descriptors at the numbers its environment names; a
    number may be the one its ready pipe or another of them has in the kernel (it depends on
    how many descriptors the grader has open: pooled gradebook connections made the kernel
    write its "ok" into a judge's pipe, and the keeper wait for ever)."""
    server = pathlib.Path(zygote.__file__).with_name("zygote_server.py")
    out = subprocess.run([sys.executable, "-c", PLACE, str(server)], capture_output=True,
                         text=True, timeout=60, check=True)
    facts = json.loads(out.stdout)
    assert facts["got"] == ["0", "1", "2"]  # pipe i reached through target i
    ready = set(facts["open"]) - {0, 1, 2, *facts["targets"]}
    assert len(ready) <= 2, facts  # the ready pipe (and listdir's own), nothing else
