"""What every grading kernel starts with, cold or forked from the zygote: its environment
(but for its own folders) and the start-up code its Python runs first. A module of its own, with
no import, so that the zygote can start before the grading modules have loaded."""

#: A grading kernel's environment, but for its own folders (HOME, TMPDIR, PYTHONPATH, ...).
KERNEL_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
    "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "PYTHONNOUSERSITE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1", "JPY_PARENT_PID": "1",
}


#: Modules a grading kernel does without (see :data:`SITECUSTOMIZE`).
KERNEL_BLOCKED = ("debugpy", "jedi")

#: Run at the kernel's start-up (the view is on PYTHONPATH): drop the editable-install finder
#: that maps ``rnnlib.*`` to the repository, so only the view answers ``import rnnlib...``
#: (inside bubblewrap the repository is not there anyway; this covers the unsandboxed case).
#: And :data:`KERNEL_BLOCKED` cannot be imported: at start, ipykernel imports debugpy and its
#: pydevd for a debugger, IPython's completer imports jedi for tab completion (together 137 of
#: a kernel's 619 modules), and nobody debugs or completes in a grading kernel; both run
#: without them (a sandboxed kernel's start: about 0.13 of 0.7 CPU-s less).
SITECUSTOMIZE = f'''"""Grading kernel start-up: rnnlib from the grading view only; no debugger."""
import sys

sys.meta_path[:] = [f for f in sys.meta_path
                    if "editable" not in getattr(f, "__module__", "").lower()
                    and "editable" not in type(f).__name__.lower()
                    and "editable" not in getattr(f, "__name__", "").lower()]
for _name in {KERNEL_BLOCKED!r}:
    sys.modules.setdefault(_name, None)  # import raises ModuleNotFoundError
del _name
'''
