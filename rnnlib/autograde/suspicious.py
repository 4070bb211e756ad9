"""Point out student code that tries to game the grader (for the instructor; scores ignore it).

Scores never depend on this scan: tests run outside the student's kernel, so the tricks below
have no effect on them (see :mod:`rnnlib.autograde.judge`). The scan reads the cells the student
wrote (never runs them) and adds a ``cheating`` flag with a one-line reason, so the instructor
sees who tried what.
"""

import ast

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

from .modules import DEFAULT_ALLOWED
from .record import add_flag

#: Names that, assigned to as attributes, mean patching a library or the grading helpers.
PATCHED_ROOTS = {"np", "numpy", "testing", "npt", "rnnlib", "grading", "builtins",
                 "__builtins__", "sys", "unittest", "pytest", "math", "nbgrader"}
#: Path fragments of instructor files.
INSTRUCTOR_PATHS = ("solutions", "gradebook", "autograded", "submitted", "nbgrader_config",
                    "feedback/", "source/", "release/")


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node):
    parts = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def scan(source, allowed=DEFAULT_ALLOWED):
    """One-line reasons for the suspicious things ``source`` does."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    reasons = []
    for node in ast.walk(tree):
        modules = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for mod in modules:
            parts = mod.split(".")
            if parts[0] == "rnnlib" and (len(parts) == 1 or parts[1] not in allowed):
                reasons.append(f"imports {mod} (rnnlib beyond the helpers students get: "
                               "its reference or the grading code)")
                break
            if parts[0] in ("ctypes", "gc"):
                reasons.append(f"imports {parts[0]} (introspection of the grader)")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) \
                else [node.target]
            for target in targets:
                if isinstance(target, (ast.Attribute, ast.Subscript)) \
                        and _root(target) in PATCHED_ROOTS:
                    reasons.append(f"patches {_dotted(target) or _root(target)}")
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in ("setattr", "delattr") and node.args \
                    and _root(node.args[0]) in PATCHED_ROOTS:
                reasons.append(f"patches {_dotted(node.args[0])} with {name}")
            if name.endswith("spec_from_file_location") or name in ("__import__",):
                reasons.append(f"loads modules by hand ({name})")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            low = node.value.lower()
            hit = next((p for p in INSTRUCTOR_PATHS if p in low), None)
            if hit and ("/" in low or "\\" in low or low.endswith(".db")):
                reasons.append(f"touches instructor files ({node.value[:60]!r})")
    out = []
    for reason in reasons:
        if reason not in out:
            out.append(reason)
    return out


def shadowing_files(folder):
    """Submitted files or folders named like a module the grader can import (numpy.py,
    rnnlib/): in the student's kernel they would replace the real module."""
    import importlib.util
    import pathlib

    found = []
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        if path.suffix == ".py":
            name = path.stem
        elif path.is_dir() and (path / "__init__.py").exists():
            name = path.name
        else:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None or name == "rnnlib":
            found.append(f"submits {path.name}, which shadows the module {name}")
    return found


def _normal(source):
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def release_form(source):
    """A cell's source as students get it: without the hidden-test region."""
    out, hidden = [], False
    for line in source.splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            out.append(line)
    return _normal("\n".join(out))


def instructor_sources(resources):
    """Normalised sources of the instructor's locked cells (as released), from the gradebook."""
    from .gradebook import notebook_sources

    info = (resources or {}).get("nbgrader") or {}
    if not info.get("db_url"):
        return set()
    _, _, locked = notebook_sources(info["db_url"], info["assignment"], info["notebook"])
    return {release_form(source) for source in locked}


class FlagSuspiciousCode(NbGraderPreprocessor):
    """Add ``cheating`` flags for the student-written cells' suspicious code and for submitted
    files that shadow modules."""

    def preprocess(self, nb, resources):
        from .grades import take_pending_flags
        from .submission import take_flags

        record = take_pending_flags(nb, resources)
        info = resources.get("nbgrader") or {}
        for reason in take_flags(info.get("student"), info.get("assignment")):
            add_flag(record, "links", reason)
        folder = (resources.get("metadata") or {}).get("path")
        for reason in shadowing_files(folder) if folder else []:
            add_flag(record, "cheating", reason)
        instructor = instructor_sources(resources)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or utils.is_locked(cell):
                continue
            if _normal(cell.source) in instructor or release_form(cell.source) in instructor:
                continue  # the instructor's own cell, having lost its metadata
            for reason in scan(cell.source):
                add_flag(record, "cheating", f"cell {index} {reason}", cell=index)
        return nb, resources
