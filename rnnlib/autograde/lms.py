"""Grades for the learning platform: ``python -m rnnlib.autograde.lms {canvas,moodle} ...``.

Run from the course root. Writes, from the gradebook, one CSV in the import format of

- **Canvas** (Grades > Import): columns ``Student, ID, SIS User ID, SIS Login ID, Section``,
  then one column per assignment; the second row is ``Points Possible``. Canvas matches
  students by ``ID`` / ``SIS User ID`` / ``SIS Login ID`` and creates an assignment for a
  column whose name it does not know.
- **Moodle** (Grades > Import > CSV file): columns ``First name, Last name, ID number,
  Email address``, then one column per assignment. At import, map "Email address" (or
  "ID number") to the user field of the same name and each assignment column to its grade item.

The score of a student on an assignment is what ``nbgrader export`` writes in its ``score``
column: the total with the manual grades, less the late penalty, never below 0; 0 when nothing
was submitted. Students come from the gradebook; the LMS identities from ``--map FILE``, a CSV
with a ``student_id`` column (the nbgrader id) and any of ``name, canvas_id, sis_user_id,
sis_login_id, section, first_name, last_name, idnumber, email``; what it leaves empty comes
from the gradebook's student record (names, email, ``lms_user_id`` as Canvas's ``ID``). A
student that has no identity the platform can match by is an error that names them.
"""

import argparse
import csv
import pathlib
import sys

#: Columns of the mapping file besides ``student_id``.
MAP_FIELDS = ("name", "canvas_id", "sis_user_id", "sis_login_id", "section", "first_name",
              "last_name", "idnumber", "email")


def read_map(path):
    """{nbgrader id: {field: value}} from the instructor's mapping CSV."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if "student_id" not in (reader.fieldnames or []):
            raise ValueError(f"{path}: the mapping needs a student_id column (the nbgrader id), "
                             f"got columns {reader.fieldnames}")
        unknown = set(reader.fieldnames) - {"student_id", *MAP_FIELDS}
        if unknown:
            raise ValueError(f"{path}: unknown columns {sorted(unknown)}; known: student_id, "
                             f"{', '.join(MAP_FIELDS)}")
        out = {}
        for row in reader:
            sid = (row.pop("student_id") or "").strip()
            if sid:
                out[sid] = {k: (v or "").strip() for k, v in row.items()}
    return out


def class_grades(db_url, course_id, assignments=None):
    """(assignments [(name, max score)], {student: {field: value}}, {(student, a): score})."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course_id) as gb:
        chosen = [a for a in gb.assignments if assignments is None or a.name in assignments]
        missing = set(assignments or ()) - {a.name for a in chosen}
        if missing:
            raise ValueError(f"no assignment {', '.join(sorted(missing))} in the gradebook")
        columns = [(a.name, float(a.max_score)) for a in chosen]
        students, scores = {}, {}
        for s in gb.students:
            students[s.id] = {"first_name": s.first_name or "", "last_name": s.last_name or "",
                              "email": s.email or "", "canvas_id": s.lms_user_id or ""}
            for a in chosen:
                try:
                    sub = gb.find_submission(a.name, s.id)
                except MissingEntry:
                    scores[s.id, a.name] = 0.0
                    continue
                penalty = sub.late_submission_penalty or 0.0
                scores[s.id, a.name] = max(0.0, float(sub.score) - penalty)
    return columns, students, scores


def identities(students, mapping):
    """Each student's LMS fields: the mapping's, else the gradebook's."""
    out = {}
    for sid, record in students.items():
        given = mapping.get(sid, {})
        merged = {k: given.get(k) or record.get(k, "") for k in MAP_FIELDS}
        if not merged["name"]:
            merged["name"] = ", ".join(p for p in (merged["last_name"], merged["first_name"])
                                       if p) or sid
        out[sid] = merged
    return out


def _fmt(score):
    return f"{score:g}"


def write_canvas(path, columns, people, scores):
    keys = ("canvas_id", "sis_user_id", "sis_login_id")
    _require(people, keys, "Canvas matches a student by ID, SIS User ID or SIS Login ID")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                    *[a for a, _ in columns]])
        w.writerow(["Points Possible", "", "", "", "", *[_fmt(m) for _, m in columns]])
        for sid, p in sorted(people.items()):
            w.writerow([p["name"], p["canvas_id"], p["sis_user_id"], p["sis_login_id"],
                        p["section"], *[_fmt(scores[sid, a]) for a, _ in columns]])
    return path


def write_moodle(path, columns, people, scores):
    _require(people, ("email", "idnumber"), "Moodle matches a student by email or ID number")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["First name", "Last name", "ID number", "Email address",
                    *[a for a, _ in columns]])
        for sid, p in sorted(people.items()):
            w.writerow([p["first_name"], p["last_name"], p["idnumber"], p["email"],
                        *[_fmt(scores[sid, a]) for a, _ in columns]])
    return path


def _require(people, keys, why):
    lacking = sorted(sid for sid, p in people.items() if not any(p[k] for k in keys))
    if lacking:
        raise ValueError(f"{why}: no {' / '.join(keys)} for {', '.join(lacking)} (add them to "
                         "the --map file, or leave them out with --skip-unmapped)")


WRITERS = {"canvas": write_canvas, "moodle": write_moodle}
NEEDS = {"canvas": ("canvas_id", "sis_user_id", "sis_login_id"), "moodle": ("email", "idnumber")}


def export(platform, out, mapping=None, assignments=None, skip_unmapped=False, extra_args=()):
    """Write ``out`` for ``platform``; returns (path, students written, students left out)."""
    from nbgrader.apps.autogradeapp import AutogradeApp

    app = AutogradeApp()  # nbgrader's configuration, read as nbgrader autograde reads it
    app.initialize(list(extra_args))
    coursedir = app.coursedir
    columns, students, scores = class_grades(coursedir.db_url, coursedir.course_id,
                                             assignments)
    people = identities(students, read_map(mapping) if mapping else {})
    left_out = []
    if skip_unmapped:
        left_out = sorted(s for s, p in people.items() if not any(p[k] for k in NEEDS[platform]))
        people = {s: p for s, p in people.items() if s not in left_out}
    return WRITERS[platform](out, columns, people, scores), sorted(people), left_out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m rnnlib.autograde.lms",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("platform", choices=sorted(WRITERS))
    parser.add_argument("--map", help="CSV: student_id plus the LMS identities")
    parser.add_argument("--out", help="output CSV (default: grades-<platform>.csv)")
    parser.add_argument("--assignment", action="append",
                        help="only this assignment (repeatable; default: all)")
    parser.add_argument("--skip-unmapped", action="store_true",
                        help="leave out, and name, the students the platform cannot match")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out or f"grades-{args.platform}.csv")
    try:
        path, written, left_out = export(args.platform, out, args.map, args.assignment,
                                         args.skip_unmapped)
    except ValueError as exc:
        print(f"lms: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: {len(written)} students")
    if left_out:
        print(f"left out (no LMS identity): {', '.join(left_out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
