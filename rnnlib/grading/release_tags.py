"""The ``nbgrader generate_assignment`` step ``ReleaseTags`` (imported only by nbgrader)."""

import ast
import contextlib
import re

from nbgrader.preprocessors import NbGraderPreprocessor

from .judge import _nbgrader_meta
from .worker import _strip_magics

_HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*",
                           re.S | re.M)


def _raises_in_release(cell, defined):
    meta = _nbgrader_meta(cell)
    try:
        tree = ast.parse(_strip_magics(_HIDDEN_TESTS.sub("", cell.source)))
    except SyntaxError:
        return False
    if meta.get("grade") and not meta.get("solution"):
        return bool(tree.body)  # a test cell with visible tests
    if meta.get("solution"):
        return any(isinstance(node, ast.Raise) for node in tree.body)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return bool(used & defined) and not str(meta.get("grade_id", "")).startswith("setup")


def _tag(cell, on):
    tags = [t for t in cell.metadata.get("tags", []) if t != "raises-exception"]
    if on:
        tags.append("raises-exception")
    if tags:
        cell.metadata["tags"] = tags
    else:
        cell.metadata.pop("tags", None)


class ReleaseTags(NbGraderPreprocessor):
    """generate_assignment step (after ClearSolutions): tag ``raises-exception`` the
    release cells that raise until the student writes the code (test cells, cells that
    call the student's functions, top-level solution stubs), so that nbval accepts the
    release while the instructor's notebook still must run cleanly."""

    def preprocess(self, nb, resources):
        defined = set()
        for cell in nb.cells:
            if cell.cell_type == "code" and _nbgrader_meta(cell).get("solution"):
                with contextlib.suppress(SyntaxError):
                    for node in ast.parse(cell.source).body:
                        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                            defined.add(node.name)
        for cell in nb.cells:
            if cell.cell_type == "code":
                _tag(cell, _raises_in_release(cell, defined))
        return nb, resources
