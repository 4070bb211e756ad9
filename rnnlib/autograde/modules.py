"""Which rnnlib modules a graded notebook may import in its kernel.

The kernel gets a trimmed copy of rnnlib (see :func:`rnnlib.autograde.sandbox.build_rnnlib_view`)
holding only the helper modules that the instructor's own locked cells import (such as
``rnnlib.activations``), when they are on the allowed list together with everything they import.
Any other rnnlib module those cells import (``rnnlib.grading``, a reference module) is an empty
stub, so the instructor's import lines still run. The reference implementations the notebook
is graded against are never in it: a student cell that imports them fails.
"""

import ast
import pathlib

#: rnnlib modules a kernel may get when a locked cell imports them: helpers, not references.
DEFAULT_ALLOWED = ("activations", "checks", "gradcheck", "diagrams")

#: rnnlib's subpackages that a kernel with all of rnnlib gets (the course's checks, which the
#: setup cells import); never ``autograde``, the grader itself.
VIEW_PACKAGES = ("grading",)


def _rnnlib_imports(tree, package_names):
    """Module names (inside rnnlib) that ``tree`` imports."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "rnnlib" and len(parts) > 1:
                    found.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            parts = mod.split(".")
            if node.level == 0 and parts[0] == "rnnlib":
                if len(parts) > 1:
                    found.add(parts[1])
                else:
                    for alias in node.names:
                        found.add(package_names.get(alias.name, alias.name))
            elif node.level == 1:  # inside the package itself
                if mod:
                    found.add(parts[0])
                else:
                    found.update(alias.name for alias in node.names)
    return found


def package_exports():
    """Map each name rnnlib re-exports at top level to the submodule defining it."""
    import rnnlib

    out = {}
    for name in getattr(rnnlib, "__all__", []):
        module = getattr(getattr(rnnlib, name, None), "__module__", "") or ""
        if module.startswith("rnnlib."):
            out[name] = module.split(".")[1]
    return out


def closure(src_dir, modules):
    """``modules`` plus every rnnlib module they import, transitively (names without prefix)."""
    src_dir = pathlib.Path(src_dir)
    todo, seen = list(modules), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if (src_dir / name / "__init__.py").is_file():  # a subpackage: taken whole
            seen.add(name)
            continue
        if not (src_dir / f"{name}.py").is_file():
            continue
        seen.add(name)
        tree = ast.parse((src_dir / f"{name}.py").read_text())
        todo.extend(_rnnlib_imports(tree, {}) - seen)
    return seen


def modules_for_cells(sources):
    """rnnlib modules imported by the given (trusted) cell sources."""
    exports = package_exports()
    found = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        found |= _rnnlib_imports(tree, exports)
    return found


def view_plan(requested, allowed=DEFAULT_ALLOWED, src_dir=None):
    """Split ``requested`` modules into (copied, stubbed) for the kernel's view of rnnlib.

    A module is copied when it and everything it imports are ``allowed``; otherwise it is a
    stub.
    """
    import rnnlib

    src_dir = pathlib.Path(src_dir or pathlib.Path(rnnlib.__file__).parent)
    copied, stubbed = set(), set()
    for name in requested:
        if not (src_dir / f"{name}.py").is_file() and not (src_dir / name).is_dir():
            continue
        deps = closure(src_dir, [name])
        if name in allowed and deps <= set(allowed):
            copied |= deps
        else:
            stubbed.add(name)
    return copied, stubbed - copied


def all_modules(src_dir=None):
    """Every module of rnnlib (top level), for a kernel that must have all of it."""
    import rnnlib

    src_dir = pathlib.Path(src_dir or pathlib.Path(rnnlib.__file__).parent)
    names = [p.stem for p in src_dir.glob("*.py") if p.stem != "__init__"]
    names += [p.name for p in src_dir.iterdir() if p.name in VIEW_PACKAGES
              and (p / "__init__.py").is_file()]
    return sorted(names)
