"""Make a graded notebook safe to open in a browser: no student script, no request out.

A submission controls its Markdown and raw cells, its cell metadata and (through the kernel,
which can publish any message) its outputs. nbconvert's HTML templates, which nbgrader's
feedback page and formgrader's submission view extend, put raw HTML from all of these into the
page: Markdown passes HTML through, raw cells and ``text/html`` / ``application/javascript`` /
``image/svg+xml`` outputs are inserted verbatim, and several fields (a stream's name, image
metadata, tags) land inside attributes unescaped. In formgrader that script would run with the
instructor's session and could change any grade.

:class:`SanitizeSubmission` rebuilds the notebook from an allow-list instead of removing known
attacks one by one:

- outputs: only ``text/plain`` and base64 PNG / JPEG / GIF images are kept, every field checked
  for its type (a note in ``text/plain`` says what was removed);
- Markdown: rendered with nbconvert's own renderer (the one the templates use, maths kept for
  MathJax), then cleaned by bleach to a fixed set of tags and attributes, with ``http``,
  ``https``, ``mailto`` links only and images only as inline ``data:`` PNG / JPEG / GIF (a
  remote image would be a request); disallowed tags are shown as text. The cell source becomes
  that HTML on one line, so that rendering it again passes it through unchanged;
- raw cells: shown as escaped text (they become Markdown cells);
- attachments and all metadata but nbgrader's, the grader's record and the kernel's name are
  dropped (widget state would load code from a CDN); tags and cell ids must be plain words.

The course runs it last in ``Autograde.autograde_preprocessors`` (so ``autograded/``, which
formgrader and ``generate_feedback`` render, is already safe) and again in the HTML exporter
of both (see :mod:`rnnlib.autograde.pages`), which also covers notebooks graded before it.
"""

import base64
import binascii
import functools
import html
import re

import bleach
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from pygments.token import STANDARD_TYPES
from traitlets import Bool

from .record import KEY

#: Output MIME types a page may show: escaped text and inline raster images.
SAFE_MIME = ("text/plain", "image/png", "image/jpeg", "image/gif")
IMAGE_MIME = SAFE_MIME[1:]

TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl",
        "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "kbd", "li",
        "ol", "p", "pre", "s", "span", "strong", "sub", "summary", "sup", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "ul"}
#: Classes pygments and nbconvert put on highlighted code (nothing that restyles the page).
CODE_CLASSES = set(STANDARD_TYPES.values()) | {"highlight", "rnnlib-safe-md"}
WORD = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
CELL_ID = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")
GRADE_ID = re.compile(r"^[A-Za-z0-9_\-]+$")
DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*$")
NBGRADER_KEYS = ("schema_version", "grade", "solution", "locked", "task", "grade_id", "points",
                 "checksum", "cell_type", "score")
KEEP_NB_METADATA = ("kernelspec", "language_info", "nbgrader", KEY)
WRAPPER = '<div class="rnnlib-safe-md">'
#: Markdown cells up to this size are rendered once per process (see :func:`safe_markdown`).
CACHED_CHARS = 20_000


def _attribute_ok(tag, name, value):
    """bleach's attribute filter: a fixed list per tag; images only from inline data."""
    if name == "class":
        return all(c in CODE_CLASSES or c.startswith(("hl-", "language-"))
                   for c in value.split())
    if tag == "a":
        return name in ("href", "title")
    if tag == "img":
        if name == "src":
            return bool(DATA_IMAGE.match(value))
        return name in ("alt", "title", "width", "height")
    if tag in ("td", "th"):
        return name in ("colspan", "rowspan", "align")
    if tag == "input":  # task-list check boxes
        return name in ("type", "checked", "disabled") and (name != "type"
                                                            or value == "checkbox")
    if tag in ("ol",):
        return name == "start"
    return False


_CLEANER = bleach.sanitizer.Cleaner(tags=TAGS, attributes=_attribute_ok,
                                    protocols={"http", "https", "mailto"}, strip=False,
                                    strip_comments=True)


def clean_html(text):
    """HTML reduced to :data:`TAGS` and safe attributes; other tags shown as text."""
    return _CLEANER.clean(text)


def _attachments(cell):
    """The cell's attachments reduced to base64 raster images (for ``attachment:`` links)."""
    out = {}
    for name, bundle in (cell.get("attachments") or {}).items():
        if isinstance(bundle, dict):
            kept = {m: v for m, v in bundle.items() if m in IMAGE_MIME and _is_base64(v)}
            if kept:
                out[name] = kept
    return out


def safe_markdown(source, attachments=None):
    """Markdown source -> one line of clean HTML that Markdown renders unchanged."""
    if not attachments and len(source) <= CACHED_CHARS:
        return _safe_markdown_plain(source)
    return _render_safe(source, attachments or {})


@functools.lru_cache(maxsize=1024)
def _safe_markdown_plain(source):
    # A pure function of the text: a class's notebooks share most of their Markdown cells
    # (the assignment's), and rendering plus cleaning was a fifteenth of a job's CPU.
    return _render_safe(source, {})


def _render_safe(source, attachments):
    renderer = IPythonRenderer(escape=False, attachments=attachments,
                               exclude_anchor_links=True)
    rendered = MarkdownWithMath(renderer=renderer).render(source)
    cleaned = clean_html(rendered)
    # One line: an HTML block ends at a blank line, and what followed would be parsed again.
    return WRAPPER + cleaned.replace("\r", "").replace("\n", "&#10;") + "</div>"


def _is_base64(value):
    if isinstance(value, list):
        value = "".join(value)
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9+/=\s]*", value):
        return False
    try:
        base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _text(value):
    if isinstance(value, list):
        value = "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _size(value):
    return value if isinstance(value, int) and not isinstance(value, bool) \
        and 0 < value < 10_000 else None


def safe_bundle(data, metadata):
    """(data, metadata) of a display with only :data:`SAFE_MIME`; a note for what went."""
    data = data if isinstance(data, dict) else {}
    metadata = metadata if isinstance(metadata, dict) else {}
    kept, meta = {}, {}
    for mime in SAFE_MIME:
        if mime not in data:
            continue
        if mime == "text/plain":
            kept[mime] = _text(data[mime])
        elif _is_base64(data[mime]):
            kept[mime] = "".join(_text(data[mime]).split())
            sizes = metadata.get(mime) if isinstance(metadata.get(mime), dict) else {}
            sizes = {k: _size(sizes.get(k)) for k in ("width", "height")}
            if any(sizes.values()):
                meta[mime] = {k: v for k, v in sizes.items() if v}
    dropped = sorted(m for m in data if m not in kept)
    if dropped and not kept:
        kept["text/plain"] = ("[output removed for safety by the grader: "
                              + ", ".join(_text(m)[:40] for m in dropped) + "]")
    return kept, meta


def safe_output(out):
    """A new output node built from the fields nbconvert shows, each type-checked."""
    kind = out.get("output_type") if isinstance(out, dict) else None
    if kind == "stream":
        name = out.get("name") if out.get("name") in ("stdout", "stderr") else "stdout"
        return NotebookNode(output_type="stream", name=name, text=_text(out.get("text")))
    if kind == "error":
        tb = out.get("traceback")
        tb = [t for t in tb if isinstance(t, str)] if isinstance(tb, list) else []
        return NotebookNode(output_type="error", ename=_text(out.get("ename")),
                            evalue=_text(out.get("evalue")), traceback=tb)
    if kind in ("display_data", "execute_result"):
        data, meta = safe_bundle(out.get("data"), out.get("metadata"))
        node = NotebookNode(output_type=kind, data=NotebookNode(data),
                            metadata=NotebookNode(meta))
        if kind == "execute_result":
            count = out.get("execution_count")
            node.execution_count = count if isinstance(count, int) else None
        return node
    return NotebookNode(output_type="stream", name="stdout",
                        text="[output removed for safety by the grader]\n")


def safe_cell_metadata(metadata):
    """nbgrader's metadata (with a plain grade id) and plain-word tags; nothing else."""
    out = NotebookNode()
    nbg = metadata.get("nbgrader")
    if isinstance(nbg, dict) and GRADE_ID.match(str(nbg.get("grade_id", "x"))):
        # Fields the templates show go in as they are: only plain values. A comment comes
        # from the gradebook (GetGrades, after this step), never from the notebook.
        out.nbgrader = NotebookNode({k: v for k, v in nbg.items()
                                     if k in NBGRADER_KEYS and isinstance(v, (bool, int, float,
                                                                             str))})
    tags = metadata.get("tags")
    if isinstance(tags, list):
        tags = [t for t in tags if isinstance(t, str) and WORD.match(t)]
        if tags:
            out.tags = tags
    return out


def sanitize_notebook(nb):
    """Make ``nb`` (a NotebookNode, changed in place) safe to render as HTML; returns it."""
    nb.metadata = NotebookNode({k: v for k, v in nb.metadata.items()
                                if k in KEEP_NB_METADATA})
    for index, cell in enumerate(nb.cells):
        if "id" in cell and not (isinstance(cell.id, str) and CELL_ID.match(cell.id)):
            cell.id = f"cell-{index}"
        cell.metadata = safe_cell_metadata(cell.get("metadata") or {})
        source = _text(cell.get("source"))
        if cell.cell_type == "markdown":
            cell.source = safe_markdown(source, _attachments(cell))
        elif cell.cell_type == "raw":
            # nbconvert emits raw cells verbatim: show their text, as a Markdown cell that
            # a second pass leaves as it is.
            cell.cell_type = "markdown"
            cell.source = (WRAPPER + "<pre>" + html.escape(source).replace("\n", "&#10;")
                           + "</pre></div>")
        elif cell.cell_type == "code":
            cell.source = source
            cell.outputs = [safe_output(o) for o in cell.get("outputs") or []]
            count = cell.get("execution_count")
            cell.execution_count = count if isinstance(count, int) else None
        cell.pop("attachments", None)
    return nb


class SanitizeSubmission(Preprocessor):
    """Rebuild a submission's notebook from an allow-list so that no page that shows it can
    run the student's script or make a request (see the module's docstring)."""

    # nbconvert's preprocessors are off unless enabled; nbgrader registers its lists as they are.
    enabled = Bool(True, help="Whether to sanitise the notebook").tag(config=True)

    def preprocess(self, nb, resources):
        return sanitize_notebook(nb), resources
