"""The class report: ``python -m rnnlib.autograde.report ASSIGNMENT`` (from the course root).

Writes ``reports/<assignment>/report.csv`` and ``report.html``: for every student and every
function of the assignment, the score, the status and the flags with their one-line reasons.
Unlike ``nbgrader export``, it tells apart

- ``graded``: a real score (possibly 0);
- ``needs manual grade``: some test of the function could not be scored automatically;
- ``failed to grade``: the notebook could not be graded at all (not valid JSON, renamed,
  missing, nbgrader failed): no score, and the reason;
- ``not submitted``.

Flags come from the grader's record in each autograded notebook (``metadata.autograde``, written
by the hardened pipeline, never by the student): ``timeout``, ``crash``, ``cheating``, ``output``,
``sandbox``, ``manual``, plus ``failed``. A test cell counts towards the function(s) its judged
run called; cells that never reached a function fall back to the grade id.

It then writes feedback for every student: nbgrader's ``generate_feedback`` (with the hidden
tests cleared) for the graded notebooks, and a page with the reason for the others.
"""

import argparse
import collections
import csv
import html
import json
import pathlib
import sys

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from .pages import NO_SCRIPT_CSP, csp, meta
from .pages import _hash as script_hash
from .record import FLAG_KINDS, KEY

STATUS_ORDER = ("graded", "needs manual grade", "failed to grade", "not submitted")


def _read_json(path):
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError):
        return {}


def notebook_problem(submitted_dir, notebook):
    """Why ``notebook`` in a submission folder cannot be graded (``None`` if it can)."""
    folder = pathlib.Path(submitted_dir)
    path = folder / f"{notebook}.ipynb"
    if not folder.is_dir():
        return "not submitted"
    if not path.is_file():
        others = sorted(p.name for p in folder.glob("*.ipynb"))
        if others:
            return (f"{notebook}.ipynb is missing; the submission has {', '.join(others)} "
                    "instead (renamed?)")
        return f"{notebook}.ipynb is missing: no notebook was submitted"
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        return f"{notebook}.ipynb is not valid JSON ({str(exc)[:120]})"
    try:
        nbformat.reads(json.dumps(data), as_version=4)
    except Exception as exc:  # noqa: BLE001 - any reason nbformat refuses it
        return f"{notebook}.ipynb is not a valid notebook ({str(exc).splitlines()[0][:120]})"
    return None


def _duration(seconds):
    """``3 h 20 min``-style duration."""
    minutes = int(round(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "",
             f"{minutes} min" if minutes or not (days or hours) else ""]
    return " ".join(p for p in parts if p)


class ClassReport:
    """Everything the report shows, gathered from the gradebook and the course folders."""

    def __init__(self, coursedir, assignment):
        self.coursedir, self.assignment = coursedir, assignment
        self.db_url, self.course_id = coursedir.db_url, coursedir.course_id
        self.log = _read_json(pathlib.Path(coursedir.root) / "reports" / assignment
                              / "grading_log.json")
        self._load()

    def _path(self, directory, student, notebook=None):
        folder = pathlib.Path(self.coursedir.format_path(directory, student, self.assignment))
        return folder if notebook is None else folder / f"{notebook}.ipynb"

    def _load(self):
        with Gradebook(self.db_url, self.course_id) as gb:
            assignment = gb.find_assignment(self.assignment)
            self.notebooks, self.solution_ids = [], {}
            for nb in assignment.notebooks:
                order = [c.name for c in nb.source_cells]
                cells = sorted(nb.grade_cells, key=lambda c: order.index(c.name)
                               if c.name in order else len(order))
                self.notebooks.append((nb.name, [(c.name, c.max_score) for c in cells]))
                self.solution_ids[nb.name] = [c.name for c in nb.solution_cells]
            submitted = pathlib.Path(self.coursedir.format_path(
                self.coursedir.submitted_directory, ".", "."))
            students = {s.id for s in gb.students}
            if submitted.is_dir():
                students |= {p.name for p in submitted.iterdir()
                             if (p / self.assignment).is_dir()}
            self.students = sorted(students)
            self.grades = {}
            self.late = {}  # (student, notebook) -> (seconds late, penalty), late ones only
            for sid in self.students:
                try:
                    sub = gb.find_submission(self.assignment, sid)
                except MissingEntry:
                    continue
                for nb in sub.notebooks:
                    if sub.total_seconds_late > 0:
                        self.late[(sid, nb.name)] = (sub.total_seconds_late,
                                                     nb.late_submission_penalty or 0.0)
                    for g in nb.grades:
                        self.grades[(sid, nb.name, g.name)] = (
                            g.score, g.auto_score, g.manual_score, g.needs_manual_grade)
        self.records = {}
        for sid in self.students:
            for nb_name, _ in self.notebooks:
                path = self._path(self.coursedir.autograded_directory, sid, nb_name)
                if path.is_file():
                    try:
                        meta = nbformat.read(path, 4).metadata.get(KEY)
                    except Exception:  # noqa: BLE001
                        meta = None
                    self.records[(sid, nb_name)] = meta if isinstance(meta, dict) else {}
        self.functions = self._function_map()

    def _function_map(self):
        """grade id -> function name, by majority over the class's judged runs."""
        votes = collections.defaultdict(collections.Counter)
        for record in self.records.values():
            for grade_id, verdict in (record.get("cells") or {}).items():
                names = verdict.get("functions") or []
                if names:
                    votes[grade_id]["+".join(names)] += 1
        out = {}
        for nb_name, cells in self.notebooks:
            # no judged run named it (e.g. the course's own judge graded the cell): the
            # solution cell whose grade id begins the test's ("rnn_forward" for
            # "rnn_forward_shapes"), the longest such, else the grade id itself
            prefixes = sorted(self.solution_ids.get(nb_name, []), key=len, reverse=True)
            for grade_id, _ in cells:
                if votes[grade_id]:
                    out[(nb_name, grade_id)] = votes[grade_id].most_common(1)[0][0]
                    continue
                owner = next((p for p in prefixes if grade_id.startswith(p + "_")), grade_id)
                out[(nb_name, grade_id)] = owner
        return out

    def notebook_state(self, sid, nb_name):
        """(status, flags) of one student's notebook; flags are (kind, reason) pairs."""
        record = self.records.get((sid, nb_name))
        if record is None:
            problem = notebook_problem(self._path(self.coursedir.submitted_directory, sid),
                                       nb_name)
            if problem == "not submitted":
                return "not submitted", []
            reason = problem or "nbgrader could not grade it"
            errors = (self.log.get(sid) or {}).get("errors") or []
            if problem is None and errors:
                reason += ": " + errors[-1][:200]
            return "failed to grade", [("failed", reason)]
        flags = [(f.get("kind"), f.get("reason", "")) for f in record.get("flags", [])]
        if (sid, nb_name) in self.late:
            seconds, penalty = self.late[(sid, nb_name)]
            flags.append(("late", f"submitted {_duration(seconds)} after the due date "
                                  f"(with any extension); late penalty {penalty:g} points"))
        if not record:
            flags.append(("sandbox", "graded without the hardened pipeline (no grader record)"))
        return "graded", flags

    def rows(self):
        """One dict per (student, notebook, function), in a stable order."""
        out = []
        for sid in self.students:
            for nb_name, cells in self.notebooks:
                status, flags = self.notebook_state(sid, nb_name)
                record = self.records.get((sid, nb_name)) or {}
                by_function = collections.OrderedDict()
                for grade_id, max_score in cells:
                    by_function.setdefault(self.functions[(nb_name, grade_id)], []).append(
                        (grade_id, max_score))
                for function, fcells in by_function.items():
                    out.append(self._row(sid, nb_name, function, fcells, status, flags, record))
        return out

    @staticmethod
    def _concerns(flag_cell, record, grade_ids, all_graded):
        """Whether a flag about ``flag_cell`` belongs to the function with ``grade_ids``: flags
        about one of the notebook's test cells go to that cell's function only."""
        cell = flag_cell
        if isinstance(cell, int):
            cell = (record.get("cell_ids") or {}).get(str(cell))
        if cell in all_graded:
            return cell in grade_ids
        return True

    def _row(self, sid, nb_name, function, cells, status, flags, record):
        max_score = sum(m for _, m in cells)
        grade_ids = {g for g, _ in cells}
        all_graded = {g for _, nb_cells in self.notebooks for g, _ in nb_cells}
        cell_of = {(f.get("kind"), f.get("reason", "")): f.get("cell")
                   for f in record.get("flags", [])}
        flags = [f for f in flags
                 if self._concerns(cell_of.get(f), record, grade_ids, all_graded)]
        row = {"student": sid, "notebook": nb_name, "function": function,
               "score": None, "max_score": max_score, "status": status, "flags": list(flags),
               "cells": [(g, (self.grades.get((sid, nb_name, g)) or (None,))[0]
                          if status == "graded" else None, m) for g, m in cells]}
        if status != "graded":
            return row
        score, manual = 0.0, []
        for grade_id, _ in cells:
            value = self.grades.get((sid, nb_name, grade_id))
            if value is None:
                manual.append(f"{grade_id}: no grade recorded")
                continue
            total, _, _, needs = value
            if needs:
                verdict = (record.get("cells") or {}).get(grade_id) or {}
                manual.append(f"{grade_id}: {verdict.get('reason') or 'needs a manual grade'}")
            score += total or 0.0
        row["score"] = score
        if manual:
            row["status"] = "needs manual grade"
            row["flags"] = row["flags"] + [("manual", m) for m in manual]
        return row

    # -- output ------------------------------------------------------------------------------
    def write_csv(self, path):
        """One line per student, notebook and function; flags as ``kind: reason | ...``."""
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["student", "notebook", "function", "score", "max_score", "status",
                        "flags", "cells"])
            for r in self.rows():
                w.writerow([r["student"], r["notebook"], r["function"],
                            "" if r["score"] is None else f"{r['score']:g}",
                            f"{r['max_score']:g}", r["status"],
                            " | ".join(f"{k}: {v.replace('|', '/')}" for k, v in r["flags"]),
                            " ".join(f"{g}={'' if v is None else f'{v:g}'}/{m:g}"
                                     for g, v, m in r["cells"])])
        return path

    def write_html(self, path):
        """A page for deciding who needs help: a class summary, then one row per student with
        the total (after any late penalty) and each function's score (its test cells folded
        in, shown on hover), the status and the flags with their reasons. Sortable by any
        column (``report.js`` next to it; without it the table is in student order)."""
        rows = self.rows()
        columns = list(dict.fromkeys((r["notebook"], r["function"]) for r in rows))
        by_student = collections.OrderedDict()
        for r in rows:
            by_student.setdefault(r["student"], {})[(r["notebook"], r["function"])] = r
        e = html.escape
        top = sum(m for _, cells in self.notebooks for _, m in cells)
        head = "".join(f'<th title="{e(nb)}">{e(fn)}</th>' for nb, fn in columns)
        body, totals = [], []
        for sid, cells in by_student.items():
            tds, flags, total = [], [], 0.0
            for col in columns:
                r = cells.get(col)
                if r is None:
                    tds.append("<td></td>")
                    continue
                shown = "–" if r["score"] is None else f"{r['score']:g}"
                total += r["score"] or 0.0
                detail = "; ".join(f"{g}: {'–' if v is None else f'{v:g}'} / {m:g}"
                                   for g, v, m in r["cells"])
                css = r["status"].replace(" ", "-")
                tds.append(f'<td class="num {css}" data-sort="{r["score"] or 0:g}" '
                           f'title="{e(r["status"])}: {e(detail)}">{shown} / '
                           f'{r["max_score"]:g}</td>')
                for kind, reason in r["flags"]:
                    if (kind, reason) not in flags:
                        flags.append((kind, reason))
            penalty = sum(self.late.get((sid, nb), (0, 0.0))[1] for nb, _ in self.notebooks)
            statuses = {r["status"] for r in cells.values()}
            status = next(s for s in reversed(STATUS_ORDER) if s in statuses) \
                if statuses else ""
            net = max(total - penalty, 0.0)
            if status in ("graded", "needs manual grade"):
                totals.append(net)
            items = "".join(f'<li><span class="flag {e(k)}">{e(k)}</span> {e(v)}</li>'
                            for k, v in sorted(flags, key=lambda f: FLAG_KINDS.index(f[0])
                                               if f[0] in FLAG_KINDS else 99))
            late = f' title="{total:g} before the late penalty of {penalty:g}"' if penalty else ""
            body.append(f'<tr><th class="who">{e(sid)}</th>'
                        f'<td class="num total" data-sort="{net:g}"{late}><b>{net:g}</b> / '
                        f'{top:g}</td>{"".join(tds)}'
                        f'<td class="{e(status.replace(" ", "-"))}">{e(status)}</td>'
                        f'<td class="flags"><ul>{items}</ul></td></tr>')
        summary = self._summary(rows, columns, totals, top)
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{meta(csp([script_hash(SORT_JS)]))}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(self.assignment)}: class report</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; max-width: 1240px; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 1.5em; }}
table.summary {{ width: auto; }}
td, th {{ border: 1px solid #ccc; padding: .3em .5em; vertical-align: top; text-align: left; }}
thead th {{ background: #f3f3f3; cursor: pointer; }}
td.num {{ text-align: right; white-space: nowrap; }} td.flags {{ font-size: .9em; }}
td.graded {{ background: #eaf7ea; }} td.needs-manual-grade {{ background: #fff4d6; }}
td.failed-to-grade {{ background: #fde2e2; }} td.not-submitted {{ background: #eee; }}
ul {{ margin: 0; padding-left: 1.2em; }} .flag {{ font-weight: bold; }}
.cheating, .crash, .failed {{ color: #b00; }}
.timeout, .manual, .output, .late {{ color: #a60; }}
</style></head><body>
<h1>{e(self.assignment)}: class report</h1>
{summary}
<p>One row per student: the total (after any late penalty), each function's score / points
(hover for its test cells), the status and the flags with their reasons. <b>–</b> means the
notebook could not be graded (failed to grade: not a 0); amber cells need a manual grade.
Click a column's heading to sort by it.</p>
<table id="students"><thead><tr><th>student</th><th>total</th>{head}<th>status</th>
<th>flags</th></tr></thead><tbody>
{chr(10).join(body)}
</tbody></table>
<script>{SORT_JS}</script>
</body></html>
"""
        # the sorting script inline, allowed by its hash alone: no other script can run here
        path = pathlib.Path(path)
        path.write_text(page)
        return path

    def _summary(self, rows, columns, totals, top):
        """The class at a glance: mean per function, and how many notebooks in each state."""
        e = html.escape
        notebooks = collections.Counter()
        for sid in self.students:
            for nb_name, _ in self.notebooks:
                notebooks[self.notebook_state(sid, nb_name)[0]] += 1
        late = len(self.late)
        means = []
        for col in columns:
            scores = [r["score"] for r in rows
                      if (r["notebook"], r["function"]) == col and r["score"] is not None]
            maximum = next(r["max_score"] for r in rows
                           if (r["notebook"], r["function"]) == col)
            mean = f"{sum(scores) / len(scores):.2g}" if scores else "–"
            means.append(f"<td class='num'>{mean} / {maximum:g}</td>")
        mean_total = f"{sum(totals) / len(totals):.3g}" if totals else "–"
        counts = ", ".join(f"{notebooks[s]} {s}" for s in STATUS_ORDER if notebooks[s])
        head = "".join(f"<th>{e(fn)}</th>" for _, fn in columns)
        return (f"<p><b>{len(self.students)} students</b>: {e(counts) or 'no notebooks'}"
                f"{f'; {late} late' if late else ''}.</p>"
                f'<table class="summary"><thead><tr><th></th><th>total</th>{head}</tr>'
                f'</thead>'
                f"<tbody><tr><th>class mean (graded)</th><td class='num'>{mean_total} / "
                f"{top:g}</td>{''.join(means)}</tr></tbody></table>")


#: Click-to-sort for the report's student table (a file next to the page, not inline, so that a
#: Content-Security-Policy of script-src 'self' allows it).
SORT_JS = """document.querySelectorAll('#students thead th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0], rows = Array.from(body.rows);
    var dir = th.dataset.dir === 'asc' ? -1 : 1;
    th.dataset.dir = dir === 1 ? 'asc' : 'desc';
    function key(row) {
      var cell = row.cells[col];
      var v = cell.dataset.sort;
      return v === undefined ? cell.textContent.trim().toLowerCase() : parseFloat(v);
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def write_feedback(app, report):
    """nbgrader's feedback for graded notebooks, a reason page for the others; returns paths."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.converters.base import NbGraderException

    coursedir = app.coursedir
    coursedir.assignment_id = report.assignment
    coursedir.student_id = "*"
    graded = {sid for sid, _ in report.records}
    if graded:
        converter = GenerateFeedback(coursedir=coursedir, parent=app)
        converter.force = True
        try:
            converter.start()
        except NbGraderException:
            pass  # the per-student pages below still explain
    paths = []
    for sid in report.students:
        for nb_name, _ in report.notebooks:
            folder = pathlib.Path(coursedir.format_path(coursedir.feedback_directory, sid,
                                                        report.assignment))
            page = folder / f"{nb_name}.html"
            if (sid, nb_name) not in report.records:
                status, flags = report.notebook_state(sid, nb_name)
                folder.mkdir(parents=True, exist_ok=True)
                reason = "; ".join(r for _, r in flags) or status
                page.write_text(
                    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                    + meta(NO_SCRIPT_CSP) +
                    f"<title>{html.escape(nb_name)}</title></head><body>"
                    f"<h1>{html.escape(report.assignment)}: {html.escape(nb_name)}</h1>"
                    f"<p>Your notebook could not be graded automatically: "
                    f"{html.escape(reason)}.</p><p>Your instructor will look at it by hand."
                    "</p></body></html>\n")
            if page.exists():
                paths.append(page)
    return paths


def make_report(assignment, feedback=True, extra_args=()):
    """Write the CSV, the HTML and (by default) the feedback; return their paths."""
    from .classgrade import load_course

    app = load_course(assignment, extra_args)
    report = ClassReport(app.coursedir, assignment)
    folder = pathlib.Path(app.coursedir.root) / "reports" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    out = {"csv": report.write_csv(folder / "report.csv"),
           "html": report.write_html(folder / "report.html")}
    if feedback:
        out["feedback"] = write_feedback(app, report)
    return out


def main(argv=None):
    """Command line: ``python -m rnnlib.autograde.report ASSIGNMENT [--no-feedback]``."""
    parser = argparse.ArgumentParser(prog="python -m rnnlib.autograde.report",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment")
    parser.add_argument("--no-feedback", action="store_true")
    args = parser.parse_args(argv)
    out = make_report(args.assignment, feedback=not args.no_feedback)
    print(f"report: {out['csv']}\n        {out['html']}")
    if "feedback" in out:
        print(f"feedback: {len(out['feedback'])} pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
