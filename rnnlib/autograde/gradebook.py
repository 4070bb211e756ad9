"""Gradebook plumbing for parallel grading: a per-job gradebook, and grades merged by one writer.

SQLite allows one writer at a time, and a server database should not see a thousand workers
either. Each grading job therefore works on its own small SQLite gradebook made from a
:func:`make_template` (the assignment's structure, nothing about students); the job's grades come
back as plain data (:func:`export_submission`) and the one coordinating process writes them into
the course's gradebook (:func:`import_submission`), as nbgrader's sequential ``autograde`` would
have. :func:`dump` gives a gradebook's grades in a form two gradebooks can be compared by.
"""

import datetime
import functools

from nbgrader.api import Gradebook, MissingEntry


def _stamp_alembic_version(db_url, path):
    """Give a new SQLite file the course gradebook's schema version, so that nbgrader does not
    run ``alembic`` (a second-long subprocess) to find it."""
    import sqlite3

    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # noqa: BLE001 - no version table: let nbgrader find it
        return
    finally:
        engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (version,))


def make_template(db_url, assignment, path, course_id="default_course"):
    """Write a SQLite gradebook at ``path`` holding only ``assignment``'s structure."""
    _stamp_alembic_version(db_url, path)
    with Gradebook(db_url, course_id) as src, Gradebook(f"sqlite:///{path}", course_id) as dst:
        a = src.find_assignment(assignment)
        dst.update_or_create_assignment(a.name, duedate=a.duedate)
        for nb in a.notebooks:
            dst.update_or_create_notebook(nb.name, a.name, kernelspec=nb.kernelspec)
            for cell in nb.grade_cells:
                dst.update_or_create_grade_cell(cell.name, nb.name, a.name,
                                                max_score=cell.max_score,
                                                cell_type=cell.cell_type)
            for cell in nb.solution_cells:
                dst.update_or_create_solution_cell(cell.name, nb.name, a.name)
            for cell in nb.task_cells:
                dst.update_or_create_task_cell(cell.name, nb.name, a.name,
                                               max_score=cell.max_score,
                                               cell_type=cell.cell_type)
            for cell in nb.source_cells:
                dst.update_or_create_source_cell(cell.name, nb.name, a.name,
                                                 cell_type=cell.cell_type, locked=cell.locked,
                                                 source=cell.source, checksum=cell.checksum)
    return path


def student_records(db_url, students, assignment=None, course_id="default_course"):
    """{student: (their row as keyword arguments or None when the gradebook lacks them, the
    extension of their ``assignment`` submission in seconds or None)}."""
    out = {}
    with Gradebook(db_url, course_id) as gb:
        for student in students:
            try:
                record = student_fields(gb.find_student(student))
            except MissingEntry:
                out[student] = (None, None)
                continue
            extension = None
            if assignment is not None:
                try:
                    sub = gb.find_submission(assignment, student)
                    if sub.extension is not None:
                        extension = sub.extension.total_seconds()
                except MissingEntry:
                    pass
            out[student] = (record, extension)
    return out


def manual_scores(db_url, assignment, students, course_id="default_course"):
    """{student: {notebook: {grade id: (manual score, extra credit)}}} of each student's graded
    submission (empty when there is none): what a regrade must keep, as ``nbgrader autograde``
    keeps it. One gradebook session for the whole class, three queries a submission (one
    session a student cost the command 47 ms of CPU a student, mostly SQL compilation)."""
    out = {}
    with Gradebook(db_url, course_id) as gb:
        for student in students:
            scores = out[student] = {}
            try:
                sub = gb.find_submission(assignment, student)
            except MissingEntry:
                continue
            for nb in _loaded_notebooks(gb, sub):
                for g in nb.grades:
                    if g.manual_score is not None or g.extra_credit:
                        scores.setdefault(nb.name, {})[g.name] = (g.manual_score,
                                                                  g.extra_credit)
    return out


def prepare_job_gradebook(path, assignment, student, record, extension=None,
                          course_id="default_course", manual=None):
    """Add the student (when the course's gradebook knows them), their extension and the manual
    scores of their earlier grading (``manual``, from :func:`manual_scores`) to a job's template
    copy: nbgrader's late penalty is computed from the score with the manual grades, so the job
    must see them to give the penalty ``nbgrader autograde`` gives."""
    with Gradebook(f"sqlite:///{path}", course_id) as gb:
        if record is not None:
            gb.update_or_create_student(student, **record)
            if extension is not None:
                gb.update_or_create_submission(
                    assignment, student, extension=datetime.timedelta(seconds=extension))
        if record is not None and manual:
            gb.update_or_create_submission(assignment, student)
            for nb_name, grades in manual.items():
                for grade_id, (score, extra) in grades.items():
                    try:
                        grade = gb.find_grade(grade_id, nb_name, assignment, student)
                    except MissingEntry:
                        continue
                    grade.manual_score, grade.extra_credit = score, extra
            gb.db.commit()


def export_submission(db_url, assignment, student, course_id="default_course"):
    """The submission's grading results as plain data (``None`` when there is none)."""
    with Gradebook(db_url, course_id) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return None
        out = {"timestamp": sub.timestamp.isoformat() if sub.timestamp else None,
               "student": student_fields(sub.student), "notebooks": {}}
        for nb in _loaded_notebooks(gb, sub):
            out["notebooks"][nb.name] = {
                "flagged": nb.flagged,
                "late_submission_penalty": nb.late_submission_penalty,
                "grades": {g.name: {"auto_score": g.auto_score,
                                    "needs_manual_grade": g.needs_manual_grade}
                           for g in nb.grades},
                "comments": {c.name: {"auto_comment": c.auto_comment} for c in nb.comments},
            }
        return out


def _loaded_notebooks(gb, sub):
    """The submission's notebooks with their grades and comments (and the cells that name
    them) loaded in three queries: through the relationships, each grade's name is a query of
    its own (a job's export and the merge were 40 queries a submission)."""
    from nbgrader.api import Comment, Grade, SubmittedNotebook
    from sqlalchemy.orm import joinedload, selectinload

    return (gb.db.query(SubmittedNotebook)
            .filter(SubmittedNotebook.assignment_id == sub.id)
            .options(joinedload(SubmittedNotebook.notebook),
                     selectinload(SubmittedNotebook.grades).joinedload(Grade.cell),
                     selectinload(SubmittedNotebook.comments).joinedload(Comment.cell))
            .all())


def student_fields(s):
    """A Student row as keyword arguments of ``update_or_create_student``."""
    return {"first_name": s.first_name, "last_name": s.last_name, "email": s.email,
            "lms_user_id": s.lms_user_id}


def import_submission(gb, assignment, student, data):
    """Write a job's results into the course gradebook ``gb`` (an open nbgrader Gradebook), as
    nbgrader's autograde would.

    The autograde score and comments replace the old ones; manual scores stay, and a grade with
    a manual score is marked for review again (nbgrader's rule).
    """
    gb.update_or_create_student(student, **{k: v for k, v in data["student"].items()
                                            if v is not None})
    stamp = data["timestamp"]
    if stamp:
        sub = gb.update_or_create_submission(
            assignment, student, timestamp=datetime.datetime.fromisoformat(stamp))
    else:
        sub = gb.update_or_create_submission(assignment, student)
    notebooks = {nb.name: nb for nb in _loaded_notebooks(gb, sub)}
    for nb_name, nb_data in data["notebooks"].items():
        nb = notebooks.get(nb_name)
        if nb is None:  # as find_submission_notebook would
            raise MissingEntry(f"no notebook {nb_name} in {student}'s {assignment}")
        nb.flagged = nb_data["flagged"]
        nb.late_submission_penalty = nb_data["late_submission_penalty"]
        for grade in nb.grades:
            new = nb_data["grades"].get(grade.name)
            if new is None:
                continue
            grade.auto_score = new["auto_score"]
            grade.needs_manual_grade = (new["needs_manual_grade"]
                                        or grade.manual_score is not None)
        for comment in nb.comments:
            new = nb_data["comments"].get(comment.name)
            if new is not None:
                comment.auto_comment = new["auto_comment"]
    gb.db.commit()
    return sub.id


def dump(db_url, assignment, course_id="default_course"):
    """Sorted rows (student, notebook, cell, auto score, manual score, needs manual grade) plus
    submission timestamps, late penalties and comments: equal dumps, equal gradebooks."""
    rows = []
    with Gradebook(db_url, course_id) as gb:
        for sub in gb.assignment_submissions(assignment):
            sid = sub.student.id
            rows.append((sid, "", "timestamp", str(sub.timestamp), None, None))
            for nb in sub.notebooks:
                rows.append((sid, nb.name, "late_penalty", nb.late_submission_penalty, None,
                             nb.flagged))
                for g in nb.grades:
                    rows.append((sid, nb.name, g.name, g.auto_score, g.manual_score,
                                 g.needs_manual_grade))
                for c in nb.comments:
                    rows.append((sid, nb.name, "comment:" + c.name, c.auto_comment,
                                 c.manual_comment, None))
    return sorted(rows, key=repr)


@functools.lru_cache(maxsize=64)
def notebook_sources(db_url, assignment, notebook):
    """The instructor's cells of one notebook, from the gradebook (never from a submission):
    ``(tests, setup, locked)`` = autograded test cells' sources by grade id, the locked
    non-graded code cells' sources, and every locked cell's source. Cached per process (a
    gradebook does not change during grading)."""
    tests, setup, locked = {}, [], []
    with Gradebook(db_url) as gb:
        try:
            nb = gb.find_notebook(notebook, assignment)
        except MissingEntry:
            return {}, (), ()
        graded = {c.name for c in nb.grade_cells}
        solutions = {c.name for c in nb.solution_cells}
        for cell in nb.source_cells:
            if cell.locked:
                locked.append(cell.source)
            if cell.cell_type != "code":
                continue
            if cell.name in graded and cell.name not in solutions:
                tests[cell.name] = cell.source
            elif cell.locked and cell.name not in graded:
                setup.append(cell.source)
    return tests, tuple(setup), tuple(locked)
