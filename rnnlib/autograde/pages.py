"""The HTML pages of the course: a Content-Security-Policy and MathJax without a network.

nbgrader's feedback page and formgrader's submission view load MathJax 2 from a CDN (their
templates call nbconvert's ``mathjax()`` macro with its CDN default, whatever
``HTMLExporter.mathjax_url`` says), so on an offline machine maths stays raw LaTeX. This module
replaces that macro (templates ``course_feedback`` and ``course_formgrade`` in
``rnnlib/autograde/templates``, which extend nbgrader's) by MathJax 3 inlined into the page,
from the copy the book already uses (the ``sphinx-mathjax-offline`` package, SVG output: no
font files to fetch). An inlined page stands alone, which matters because students get their
feedback with ``nbgrader fetch_feedback``, which copies the ``.html`` files only.

The feedback page also gets a Content-Security-Policy (:func:`feedback_csp`): the two inline
scripts are allowed by their SHA-256 hashes and nothing else runs; images only inline; no
connection, frame, form or plugin. Formgrader's page needs its own inline scripts, event
handlers and API calls, so it gets :data:`FORMGRADER_CSP` (scripts and connections to the
server only); what protects it is that the notebook it shows was sanitised
(:mod:`rnnlib.autograde.sanitize`).

:func:`configure` sets all of it on an nbgrader configuration (``harden`` calls it).
"""

import base64
import functools
import hashlib
import html
import json
import pathlib

TEMPLATES = pathlib.Path(__file__).with_name("templates")
#: The bundled MathJax 3 component: TeX input, SVG output (no fonts to fetch).
MATHJAX_FILE = "tex-svg.js"

#: MathJax 3 set up like nbconvert's MathJax 2 (``$...$`` inline), without the TeX macros that
#: make links, set CSS or load code: a student's maths cannot add a ``javascript:`` link or a
#: ``style`` that fetches a URL.
MATHJAX_CONFIG = {
    "tex": {
        "inlineMath": [["$", "$"], ["\\(", "\\)"]],
        "displayMath": [["$$", "$$"], ["\\[", "\\]"]],
        "processEscapes": True,
        "processEnvironments": True,
        "macros": {"href": ["{#2}", 2], "url": ["{\\text{#1}}", 1], "class": ["{#2}", 2],
                   "cssId": ["{#2}", 2], "style": ["{#2}", 2], "require": ["", 1]},
    },
    "options": {"enableMenu": False},
    "startup": {"typeset": True},
}


def mathjax_dir():
    """The ``mathjax`` folder of the installed ``sphinx-mathjax-offline`` package."""
    import importlib.util

    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the sphinx-mathjax-offline package (bundled MathJax 3) is "
                                "not installed; pip install sphinx-mathjax-offline")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax"


def _hash(script):
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


@functools.lru_cache(maxsize=1)
def _scripts():
    """The two inline scripts (configuration, MathJax) and their CSP hashes."""
    config = "window.MathJax = " + json.dumps(MATHJAX_CONFIG) + ";"
    code = (mathjax_dir() / MATHJAX_FILE).read_text()
    # Inside <script> only "</script" could end the element early; MathJax has none.
    if "</script" in code.lower():
        raise ValueError(f"{MATHJAX_FILE} contains </script and cannot be inlined")
    return (config, code), (_hash(config), _hash(code))


def csp(scripts):
    """The feedback pages' policy, with ``scripts`` (CSP source expressions) allowed."""
    return ("default-src 'none'; script-src " + " ".join(scripts) + "; "
            "style-src 'unsafe-inline'; img-src data:; font-src data:; connect-src 'none'; "
            "frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'")


#: Formgrader's page: its own scripts and API on the server, nothing from anywhere else.
FORMGRADER_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
                  "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:;"
                  " connect-src 'self'; frame-src 'none'; object-src 'none'; base-uri 'none'; "
                  "form-action 'self'")

#: A page without script (the class report, reason pages).
NO_SCRIPT_CSP = csp(["'none'"])


def feedback_csp():
    """Feedback pages: only the inline MathJax scripts run (by hash); nothing is fetched."""
    return csp(_scripts()[1])


def meta(policy):
    """The ``<meta>`` element that applies ``policy`` to what follows it in the page."""
    return f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">'


def _inline(scripts):
    return "".join(f"<script>{s}</script>\n" for s in scripts)


def feedback_head(_url=None):
    """Jinja filter for the ``course_feedback`` template: policy, then MathJax inline."""
    return meta(feedback_csp()) + "\n" + _inline(_scripts()[0])


#: formgrader's ``formgrade.js`` speaks MathJax 2 (``MathJax.Hub.Startup.signal.Interest``,
#: then waits for "End" to focus the first input): answer it from MathJax 3's startup promise.
#: Without it the page's set-up stops with a TypeError (and offline, on nbgrader's own page,
#: with "MathJax is not defined").
HUB_SHIM = """(function () {
  var typeset = function () {
    return MathJax.startup ? MathJax.startup.promise : Promise.resolve();
  };
  MathJax.Hub = {Queue: function () {}, Startup: {signal: {Interest: function (listener) {
    typeset().then(function () { listener("End"); });
  }}}};
})();"""


def formgrader_head(_url=None):
    """Jinja filter for the ``course_formgrade`` template: policy, MathJax inline, and the
    MathJax 2 interface formgrader's script expects."""
    return meta(FORMGRADER_CSP) + "\n" + _inline(_scripts()[0] + (HUB_SHIM,))


def configure(c):
    """Point nbgrader's feedback and formgrader at the course templates and sanitiser.

    ``GenerateFeedback`` builds its exporter as its own child, so its settings go under
    ``c.GenerateFeedback.HTMLExporter`` (they win over formgrader's top-level ones). The
    sanitiser is an exporter preprocessor, so both pages pass every notebook through it, also
    one graded before it was configured.
    """
    from nbgrader.server_extensions.formgrader import handlers

    basedirs = [str(TEMPLATES), handlers.template_path]
    sanitizer = "rnnlib.autograde.sanitize.SanitizeSubmission"
    filters = {"course_feedback_head": "rnnlib.autograde.pages.feedback_head",
               "course_formgrader_head": "rnnlib.autograde.pages.formgrader_head"}
    c.HTMLExporter.template_name = "course_formgrade"
    c.HTMLExporter.extra_template_basedirs = basedirs
    c.HTMLExporter.filters = filters
    c.HTMLExporter.preprocessors = [sanitizer]  # second layer: also what was graded before
    c.HTMLExporter.sanitize_html = True  # third: nbconvert's bleach on outputs
    c.GenerateFeedback.HTMLExporter.template_name = "course_feedback"
    c.GenerateFeedback.HTMLExporter.extra_template_basedirs = basedirs
    return c
