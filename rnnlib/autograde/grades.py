"""nbgrader preprocessors around the judge: restore the notebook's structure, save the verdicts.

- :class:`SafeOverwriteCells` (sanitize step, in place of nbgrader's ``OverwriteCells``): every
  cell's nbgrader role (grade, solution, locked, task, points) is taken from the gradebook, not
  from the submission; metadata naming cells the gradebook does not know is dropped; deleted
  test cells come back even when the cells around them lost their metadata too (nbgrader's
  own ``add_missing_cells`` raises ``KeyError`` then and the notebook fails to grade).
- :class:`SaveJudgedGrades` (in place of ``SaveAutoGrades``): a judged test cell scores from
  the judge's verdict (pass: full or nbgrader's partial credit, fail: 0, manual: no score and
  *needs manual grade*), never from outputs the student's code could have printed.
- :class:`RecordVerdicts` (last): writes the grader's record into the notebook's metadata.
"""

import nbformat
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor, OverwriteCells, SaveAutoGrades

from .record import KEY, add_flag, record_for

#: Notebook metadata key that carries the sanitize step's flags to the autograde step (nbgrader
#: runs them as two conversions; the submission's own value is dropped first).
PENDING = "autograde_pending_flags"


class SafeOverwriteCells(OverwriteCells):
    """nbgrader's ``OverwriteCells`` with roles from the gradebook and robust re-adding."""

    def preprocess(self, nb, resources):
        nb.metadata.pop(KEY, None)
        nb.metadata.pop(PENDING, None)
        for cell in nb.cells:
            cell.metadata.pop(KEY, None)
        self._roles = None
        self._seen, self._flags = set(), []
        nb, resources = super().preprocess(nb, resources)
        if self._flags:
            nb.metadata[PENDING] = self._flags
        return nb, resources

    def _load_roles(self):
        if self._roles is None:
            notebook = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
            self._roles = {
                "grade": {c.name: c.max_score for c in notebook.grade_cells},
                "solution": {c.name for c in notebook.solution_cells},
                "task": {c.name: c.max_score for c in notebook.task_cells},
                "source": {c.name: c for c in notebook.source_cells},
            }
        return self._roles

    def preprocess_cell(self, cell, resources, cell_index):
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            return cell, resources
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        roles = self._load_roles()
        if grade_id not in roles["source"]:
            # a cell the instructor never wrote (or with broken metadata): a plain cell
            del cell.metadata["nbgrader"]
            return cell, resources
        if grade_id in self._seen:
            # a copy of an instructor's cell: a plain cell. (nbgrader's DeduplicateIds would
            # leave it with empty metadata, which its metadata check then takes for an old
            # schema: the whole run stops, and the students after this one get no grade.)
            del cell.metadata["nbgrader"]
            self._flags.append(("structure", f"cell {grade_id} appears more than once: its "
                                             f"copy at cell {cell_index} was graded as a "
                                             f"plain cell"))
            return cell, resources
        self._seen.add(grade_id)
        source = roles["source"][grade_id]
        fixed = {"grade_id": grade_id, "grade": grade_id in roles["grade"],
                 "solution": grade_id in roles["solution"], "locked": bool(source.locked),
                 "schema_version": 3}
        if grade_id in roles["grade"]:
            fixed["points"] = roles["grade"][grade_id]
        if grade_id in roles["task"]:
            fixed["task"], fixed["points"] = True, roles["task"][grade_id]
        if "checksum" in meta:
            fixed["checksum"] = meta["checksum"]
        cell.metadata["nbgrader"] = fixed
        return super().preprocess_cell(cell, resources, cell_index)

    def add_missing_grade_cells(self, nb, resources):
        """Re-add deleted grade cells after the nearest earlier instructor cell still present,
        else at the end of the notebook."""
        notebook = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = list(notebook.source_cells)
        order = [c.name for c in source_cells]
        grade_cells = {c.name: c for c in notebook.grade_cells}
        solutions = {c.name for c in notebook.solution_cells}
        present = {(c.metadata.get("nbgrader") or {}).get("grade_id") for c in nb.cells}
        for name in order:
            if name not in grade_cells or name in present:
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook", name)
            new = self.missing_cell_transform(source_cells[order.index(name)],
                                              grade_cells[name].max_score,
                                              is_solution=name in solutions)
            new = nbformat.from_dict(new)
            position = len(nb.cells)
            for earlier in reversed(order[: order.index(name)]):
                idx = next((i for i, c in enumerate(nb.cells)
                            if (c.metadata.get("nbgrader") or {}).get("grade_id") == earlier),
                           None)
                if idx is not None:
                    position = idx + 1
                    break
            nb.cells.insert(position, new)
            present.add(name)
        return nb, resources


def take_pending_flags(nb, resources):
    """Move the sanitize step's flags from the notebook into the record; returns the record."""
    record = record_for(resources)
    for kind, reason in nb.metadata.pop(PENDING, None) or []:
        add_flag(record, kind, reason)
    return record


class SaveJudgedGrades(SaveAutoGrades):
    """nbgrader's ``SaveAutoGrades``, scoring judged test cells from the judge's verdicts."""

    def preprocess(self, nb, resources):
        self._verdicts = record_for(resources).get("cells", {})
        return super().preprocess(nb, resources)

    def _add_score(self, cell, resources):
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        verdict = self._verdicts.get(grade_id)
        if verdict is None:
            return super()._add_score(cell, resources)
        grade = self.gradebook.find_grade(grade_id, self.notebook_id, self.assignment_id,
                                          self.student_id)
        max_points = float(cell.metadata["nbgrader"]["points"])
        if verdict["status"] == "pass":
            score = max_points
            for output in cell.get("outputs", []):
                if output.output_type == "execute_result":
                    score = utils.get_partial_grade(output, max_points, self.log)
                    break
        elif verdict["status"] == "fail":
            score = 0.0
        else:
            score = None
        grade.auto_score = score
        grade.needs_manual_grade = grade.manual_score is not None or score is None
        self.gradebook.db.commit()


class RecordVerdicts(NbGraderPreprocessor):
    """Write the grader's record into ``nb.metadata["autograde"]`` (replacing the student's)."""

    def preprocess(self, nb, resources):
        record = take_pending_flags(nb, resources)
        nb.metadata[KEY] = record
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        return cell, resources


__all__ = ["SafeOverwriteCells", "SaveJudgedGrades", "RecordVerdicts", "MissingEntry"]
