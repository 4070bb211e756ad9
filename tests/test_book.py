"""The book: it builds from clean without a warning, and reads offline in a real browser.

One clean build (``make book``'s path: ``tools/build_book.py`` runs the chapters two at a time
into the execution cache, then ``jupyter-book build --all -W -n --keep-going``; into a
temporary folder, so neither ``_build/`` nor its execution cache is reused) is shared by every
test here; they all
run on one xdist worker (group "book"). The browser tests open each built page in headless
Chromium with every host name unresolvable, and check that:

- MathJax typeset the math (``mjx-container`` elements, no raw ``\\(``, ``\\[``, ``$$`` left),
- every ``<img>`` loaded (``naturalWidth > 0``),
- the page asked for nothing outside the machine (Chromium's net log, page requests only),

and, statically, that no page or stylesheet points a script, style, image or font at the web.
Without Chromium these tests fail when ``CI=true`` and skip elsewhere.
"""

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("book")

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def toc_files():
    """Every document of _toc.yml, in reading order (root first)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", [{"chapters": toc.get("chapters")}]):
        walk(part.get("chapters"))
    return files


DOCS = toc_files()
CHAPTERS = [d for d in DOCS if (ROOT / (d + ".ipynb")).exists()]


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """Build the whole book from clean into a temporary folder; return (returncode, log, html)."""
    out = tmp_path_factory.mktemp("book")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_book.py"), "--workers", "2",
         "--path-output", str(out), "--", "--all", "-W", "-n", "--keep-going"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1",
             "OMP_NUM_THREADS": "1"},
    )
    log = proc.stdout + proc.stderr
    return proc.returncode, log, out / "_build" / "html"


# ipykernel >= 7 says this on stderr for every kernel a local client starts: not the book's.
_BENIGN = ("[IPKernelApp] WARNING | Kernel is running over TCP without encryption",)


# ipykernel 7.4 (the newest) can lose a race at kernel shutdown, after the notebook has run:
# process_control flushes stdout into the iopub socket that shutdown just closed, and tornado
# logs the ZMQError (ipython/ipykernel#1518 catches one path of it). Only that whole block,
# ending in that error and raised inside ipykernel, is skipped.
_SHUTDOWN_RACE = ("ERROR:tornado.general:Uncaught exception in ZMQStream callback",
                  "zmq.error.ZMQError: Socket operation on non-socket")


def _without_shutdown_races(lines):
    out, i = [], 0
    while i < len(lines):
        if lines[i].startswith(_SHUTDOWN_RACE[0]):
            end = next((j for j in range(i + 1, min(i + 60, len(lines)))
                        if lines[j].startswith(_SHUTDOWN_RACE[1])), None)
            if end is not None and any("ipykernel" in line for line in lines[i:end]):
                i = end + 1
                continue
        out.append(lines[i])
        i += 1
    return out


def _problems(log):
    """Warning and error lines of a Sphinx log (colour codes removed)."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", log)
    return [line for line in _without_shutdown_races(plain.splitlines())
            if re.search(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback|CellExecutionError", line)
            and not line.startswith(_BENIGN)]


def test_only_the_kernel_shutdown_race_is_forgiven():
    race = [_SHUTDOWN_RACE[0], "Traceback (most recent call last):",
            '  File ".../ipykernel/kernelbase.py", line 406, in process_control',
            "    sys.stdout.flush()", _SHUTDOWN_RACE[1]]
    cell_error = ["Traceback (most recent call last):", '  File "<cell>", line 1',
                  "ValueError: x has shape (3, 2)"]
    assert _problems("\n".join(["reading sources...", *race, "done"])) == []
    assert _problems("\n".join(race[:-1] + cell_error)) != []
    assert _problems("\n".join(cell_error + race)) == cell_error[:1]
    other = [_SHUTDOWN_RACE[0], "Traceback (most recent call last):",
             '  File ".../mylib.py"', _SHUTDOWN_RACE[1]]
    assert len(_problems("\n".join(other))) == 2


def test_book_builds_from_clean_without_warnings(build):
    code, log, html = build
    problems = _problems(log)
    assert code == 0 and not problems, (
        f"jupyter-book build exited {code} with {len(problems)} problem line(s):\n"
        + "\n".join(problems[:40]) + "\n--- end of log ---\n" + log[-3000:]
    )
    assert (html / "index.html").exists()


@pytest.mark.parametrize("doc", DOCS)
def test_every_toc_document_is_built(build, doc):
    _, _, html = build
    assert (html / (doc + ".html")).exists(), f"{doc}.html missing from the built book"


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_offers_its_notebook(build, doc):
    """The download button links the chapter's .ipynb, and that file is in the build."""
    _, _, html = build
    page = (html / (doc + ".html")).read_text()
    name = Path(doc).name + ".ipynb"
    assert re.search(r'href="[^"]*_sources/[^"]*' + re.escape(name) + '"', page), (
        f"{doc}.html has no download link to {name}")
    assert (html / "_sources" / (doc + ".ipynb")).exists()


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_shows_its_figures(build, doc):
    """Every figure a chapter draws is in the page (a cell ending in ``;`` shows its figure only
    through the inline backend, so a wrong MPLBACKEND would silently drop them)."""
    _, _, html = build
    page = (html / (doc + ".html")).read_text()
    images = re.findall(r'<img[^>]+src="[^"]*_images/[^"]+\.(?:png|svg)"', page)
    nb = json.loads((ROOT / (doc + ".ipynb")).read_text())
    drawing = [c for c in nb["cells"] if c["cell_type"] == "code"
               and re.search(r"diagrams\.\w+\(|plt\.subplots\(", "".join(c["source"]))]
    assert len(images) >= len(drawing) > 0, (
        f"{doc}: {len(drawing)} cells draw figures but the page shows {len(images)} images")


def test_chapters_end_with_their_exercise(build):
    """Each chapter points to an exercise notebook exercises/<assignment>/<assignment>.ipynb."""
    missing = []
    for doc in CHAPTERS:
        nb = json.loads((ROOT / (doc + ".ipynb")).read_text())
        last_md = [c for c in nb["cells"] if c["cell_type"] == "markdown"][-1]
        if not re.search(r"exercises/(\w+)/\1\.ipynb", "".join(last_md["source"])):
            missing.append(doc)
    assert not missing, f"chapters whose last text cell does not point to an exercise: {missing}"


# --------------------------------------------------------------------------- nothing from the web

class _Fetches(HTMLParser):
    """URLs a browser would fetch by itself: scripts, stylesheets, images, frames, media."""

    FETCH = {"script": ["src"], "img": ["src", "srcset"], "iframe": ["src"], "embed": ["src"],
             "source": ["src", "srcset"], "video": ["src", "poster"], "audio": ["src"],
             "object": ["data"], "input": ["src"]}

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in self.FETCH.get(tag, []):
            if attrs.get(name):
                self.urls.append(f"<{tag} {name}> {attrs[name]}")
        if tag == "link" and attrs.get("href"):
            rel = (attrs.get("rel") or "").lower()
            if any(r in rel for r in ("stylesheet", "preload", "icon", "modulepreload",
                                      "prefetch", "manifest")):
                self.urls.append(f"<link {rel}> {attrs['href']}")


_REMOTE = re.compile(r"^\s*(https?:)?//", re.I)


def test_no_page_loads_anything_from_the_web(build):
    _, _, html = build
    remote = []
    pages = sorted(html.rglob("*.html"))
    assert pages
    for page in pages:
        parser = _Fetches()
        parser.feed(page.read_text(errors="replace"))
        remote += [f"{page.relative_to(html)}: {u}" for u in parser.urls
                   if _REMOTE.search(u.split("> ", 1)[1])]
    for css in html.rglob("*.css"):
        text = css.read_text(errors="replace")
        for m in re.finditer(r"""(?:url\(\s*['"]?|@import\s+['"])((?:https?:)?//[^'")\s]+)""",
                             text):
            remote.append(f"{css.relative_to(html)}: {m.group(1)}")
    assert not remote, "resources fetched from the web:\n" + "\n".join(remote[:30])


# --------------------------------------------------------------------------- in a real browser

CHECK_SCRIPT = """<script>
(function () {
  function column() {    // the text column: the article's content box, inside its padding
    var col = document.querySelector('article.bd-article') || document.body;
    var r = col.getBoundingClientRect(), st = getComputedStyle(col);
    var left = r.left + parseFloat(st.paddingLeft), right = r.right - parseFloat(st.paddingRight);
    return {left: left, right: right, width: right - left};
  }
  // Is el, or an ancestor inside the column, a horizontal scroll container within the column?
  function scrolls(el, col) {
    for (var e = el; e && e !== document.body; e = e.parentElement) {
      var ox = getComputedStyle(e).overflowX, r = e.getBoundingClientRect();
      if ((ox === 'auto' || ox === 'scroll') && r.right <= col.right + 1 && r.left >= col.left - 1)
        return true;
    }
    return false;
  }
  // Math, text outputs, tables and images whose content reaches past the text column.
  function wide() {
    var col = column(), out = [];
    var els = document.querySelectorAll(
      'article.bd-article mjx-container, article.bd-article pre, article.bd-article table, ' +
      'article.bd-article img');
    [].forEach.call(els, function (el) {
      var r = el.getBoundingClientRect();
      if (r.width === 0 || el.closest('mjx-assistive-mml')) return;
      // inline math: its box (its scrollWidth counts glyph overhangs of a few pixels)
      var inline = el.tagName === 'MJX-CONTAINER' && el.getAttribute('display') !== 'true';
      var right = r.left + (inline ? r.width : Math.max(r.width, el.scrollWidth || 0));
      if ((right > col.right + 2 || r.left < col.left - 2) && !scrolls(el, col))
        out.push({tag: el.tagName.toLowerCase(), past: Math.round(right - col.right),
                  what: (el.getAttribute('src') || el.textContent || '').slice(0, 50)});
    });
    return out;
  }
  // Display math and text outputs that only fit by scrolling sideways.
  function scrolled() {
    var els = document.querySelectorAll(
      'article.bd-article mjx-container[display="true"], article.bd-article div.cell_output pre');
    return [].filter.call(els, function (el) {
      return el.getBoundingClientRect().width > 0 && el.scrollWidth > el.clientWidth + 2;
    }).map(function (el) {
      return {tag: el.tagName.toLowerCase(), past: el.scrollWidth - el.clientWidth,
              what: el.textContent.slice(0, 50)};
    });
  }
  function report(status) {
    var imgs = [].slice.call(document.images).map(function (i) {
      return {src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0,
              alt: i.getAttribute('alt'), width: i.getBoundingClientRect().width,
              figure: !!i.closest('.cell_output')};
    });
    var pre = document.createElement('pre');
    pre.id = '__book_check__';
    pre.textContent = JSON.stringify({status: status, imgs: imgs, mathjax: !!window.MathJax,
                                      wide: wide(), scrolled: scrolled(),
                                      column: column().width});
    // In a narrow frame (see _browse), the page that holds the frame writes the report.
    if (window.parent !== window) window.parent.postMessage(pre.textContent, '*');
    document.body.appendChild(pre);
  }
  window.addEventListener('load', function () {
    var s = window.MathJax && MathJax.startup && MathJax.startup.promise;
    (s || Promise.resolve()).then(function () { report('ok'); },
                                  function (e) { report('mathjax error: ' + e); });
  });
})();
</script>"""


HEADLESS_MIN_WIDTH = 500
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="{src}" style="width:{width}px;height:2000px;border:0"></iframe>
<script>window.addEventListener('message', function (e) {{
  var pre = document.createElement('pre');
  pre.id = '__book_check__';
  pre.textContent = e.data;
  document.body.appendChild(pre);
}});</script></body></html>"""


def _browse(page, workdir, width=1280):
    """Open ``page`` (a copy with CHECK_SCRIPT) in headless Chromium, ``width`` pixels wide;
    return (dom, net requests)."""
    check = page.with_name(f"{page.stem}.__check{width}__.html")
    check.write_text(page.read_text().replace("</body>", CHECK_SCRIPT + "</body>", 1))
    opened = check
    if width < HEADLESS_MIN_WIDTH:
        # Headless Chromium's window is at least 500 px wide: show the page in a frame of
        # ``width`` pixels (its media queries and layout see that width).
        opened = page.with_name(f"{page.stem}.__frame{width}__.html")
        opened.write_text(FRAME.format(src=check.name, width=width))
    netlog = workdir / "net.json"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-extensions", "--disable-default-apps",
           f"--user-data-dir={workdir / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND",
           f"--log-net-log={netlog}", "--virtual-time-budget=30000", "--dump-dom",
           f"--window-size={max(width, HEADLESS_MIN_WIDTH)},2000",
           opened.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    check.unlink()
    if opened != check:
        opened.unlink()
    requests = []
    if netlog.exists():
        log = json.loads(netlog.read_text() or "{}")
        names = {v: k for k, v in log.get("constants", {}).get("logEventTypes", {}).items()}
        for event in log.get("events", []):
            params = event.get("params") or {}
            url = params.get("url", "")
            # Requests of the page carry its origin ("null" for file://); the browser's own
            # background requests carry "not an origin".
            if (names.get(event.get("type")) == "URL_REQUEST_START_JOB"
                    and _REMOTE.search(url) and params.get("initiator") != "not an origin"):
                requests.append(url)
    return proc.stdout, requests


class _VisibleText(HTMLParser):
    """Text a reader sees as prose: outside code, scripts, styles and typeset math."""

    SKIP = {"script", "style", "pre", "code", "mjx-container", "textarea", "noscript",
            "mjx-assistive-mml", "svg"}
    VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "source", "area", "base", "col"}

    def __init__(self):
        super().__init__()
        self.stack, self.parts, self.math = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "mjx-container":
            self.math += 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if not self.SKIP.intersection(self.stack):
            self.parts.append(data)


WIDTHS = (1280, 390)    # a desktop window and a phone


@pytest.fixture(scope="module")
def browsed(build, tmp_path_factory):
    """Every built page opened in Chromium at each of WIDTHS (two at a time):
    {(doc, width): (dom, requests)}."""
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (make test's system-deps step installs it)")
        pytest.skip("chromium is not installed: run `make test` (as root) to install it")
    code, _, html = build
    work = tmp_path_factory.mktemp("chromium")

    def one(i_job):
        i, (doc, width) = i_job
        wd = work / str(i)
        wd.mkdir()
        return (doc, width), _browse(html / (doc + ".html"), wd, width)

    jobs = [(d, w) for d in DOCS if (html / (d + ".html")).exists() for w in WIDTHS]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return dict(pool.map(one, enumerate(jobs)))


def _has_math(doc):
    src = ROOT / (doc + ".ipynb")
    if not src.exists():
        src = ROOT / (doc + ".md")
    return "$" in src.read_text()


def _report(doc, dom):
    m = re.search(r'<pre id="__book_check__"[^>]*>(.*?)</pre>', dom, re.S)
    assert m, f"{doc}: the page never finished loading in Chromium (no check report)"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&")
                      .replace("&lt;", "<").replace("&gt;", ">"))


@pytest.mark.parametrize("doc", DOCS)
def test_page_reads_offline_in_chromium(browsed, doc):
    if (doc, 1280) not in browsed:
        pytest.fail(f"{doc}.html was not built")
    dom, requests = browsed[doc, 1280]
    report = _report(doc, dom)
    failures = []
    if report["status"] != "ok":
        failures.append(report["status"])
    broken = [i["src"] for i in report["imgs"] if not i["ok"]]
    if broken:
        failures.append(f"images that did not load: {broken}")
    if requests:
        failures.append(f"the page requested resources from the web: {requests}")
    text = _VisibleText()
    text.feed(dom.split('<pre id="__book_check__"')[0])
    prose = "".join(text.parts)
    if _has_math(doc) and not (report["mathjax"] and text.math > 0):
        failures.append("no typeset math (mjx-container) on a page with math")
    raw = re.findall(r"\\\(|\\\)|\\\[|\\\]|\$\$|\$[^$\n]*\\[a-zA-Z]+[^$\n]*\$", prose)
    if raw:
        failures.append(f"raw TeX left in the text: {raw[:5]}")
    assert not failures, f"{doc}: " + "; ".join(failures)


# --------------------------------------------------------------------------- exercise boxes

# What a box may promise only if its assignment has it: (pattern in the box, what the
# assignment's code cells must contain, in words).
_PROMISES = [
    (r"\bnumeric", r"numeric", "a numerical check"),
    (r"\btorch\b|PyTorch", r"\btorch\b", "code that uses torch"),
    (r"backward pass", r"def \w*backward\(", "a backward function"),
    (r"compare 1, 2 and 3 layers|depth comparison", r"num_layers|for L in", "a depth comparison"),
]


def _exercise_box(nb):
    last_md = "".join([c for c in nb["cells"] if c["cell_type"] == "markdown"][-1]["source"])
    m = re.search(r"```\{admonition\} Exercises\n(.*?)```", last_md, re.S)
    return m.group(1) if m else last_md


def _assignment_code(name):
    nb = json.loads((ROOT / "exercises" / name / (name + ".ipynb")).read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def _box_problems(box, code_of):
    """What ``box`` names that its assignments (``code_of(name)`` -> their code) lack."""
    names = re.findall(r"exercises/(\w+)/\1\.ipynb", box)
    if not names:
        return ["names no assignment"]
    code = "\n".join(code_of(n) for n in names)
    problems = [f"`{f}` is not defined in {names}" for f in
                re.findall(r"`([a-z_][a-z0-9_]*)`", box)
                if f != "rnnlib" and not re.search(rf"def {f}\(", code)]
    problems += [f"promises {what}, which {names} lack" for box_re, code_re, what in _PROMISES
                 if re.search(box_re, box) and not re.search(code_re, code)]
    return problems


def test_exercise_box_check_can_fail():
    code = {"gru": "def gru_cell_forward(xt, c_prev, p):\n    pass\n"}.get
    ok = "`exercises/gru/gru.ipynb`: write `gru_cell_forward`."
    assert _box_problems(ok, code) == []
    assert len(_box_problems(ok.replace(".", " and `gru_backward`."), code)) == 1
    assert len(_box_problems(ok + " Check it numerically against PyTorch.", code)) == 2
    assert _box_problems("Try it yourself.", code) == ["names no assignment"]


@pytest.mark.parametrize("doc", CHAPTERS)
def test_exercise_box_names_only_what_its_assignment_has(doc):
    """A chapter's exercise box may name only functions its assignment has students write and
    checks that it runs."""
    box = _exercise_box(json.loads((ROOT / (doc + ".ipynb")).read_text()))
    problems = _box_problems(box, _assignment_code)
    assert not problems, f"{doc}'s exercise box: " + "; ".join(problems)


# --------------------------------------------------------------------------- every page fits

MIN_TEXT_PX = 9.0   # the smallest figure text, in CSS pixels as displayed


def _svg_text_sizes(path):
    """(smallest font size in the SVG's units, its width in those units) of a matplotlib SVG.

    Matplotlib draws each text as glyph paths in a group scaled by fontsize / 100:
    ``<g transform="translate(x y) scale(s -s)">``.
    """
    svg = path.read_text()
    sizes = [100 * float(v) for v in re.findall(r"scale\((\d*\.?\d+) -\1\)", svg)]
    view = re.search(r'viewBox="[-\d.]+ [-\d.]+ ([\d.]+) [\d.]+"', svg)
    return (min(sizes) if sizes else None), float(view.group(1))


def test_svg_text_size_is_read_from_matplotlib(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2))
    ax.set_title("title", fontsize=12)
    ax.set_xlabel("t", fontsize=7)
    fig.savefig(tmp_path / "f.svg")
    plt.close(fig)
    smallest, width = _svg_text_sizes(tmp_path / "f.svg")
    assert smallest == pytest.approx(7) and width == pytest.approx(288)


def test_readable_raises_small_figure_text_to_the_phone_minimum():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnlib import diagrams

    fig, ax = plt.subplots(figsize=(5, 2))
    small = ax.text(0.5, 0.5, "small", fontsize=6)
    big = ax.set_title("big", fontsize=14)
    floor = diagrams.min_font_pt(fig)          # 9 px at 343 px for a 360 pt wide SVG
    assert floor == pytest.approx(MIN_TEXT_PX * 360 / diagrams.PHONE_COLUMN_PX)
    diagrams.readable(fig)
    assert floor <= small.get_fontsize() < 1.1 * floor and big.get_fontsize() == 14
    plt.close(fig)


def _looks_like_a_path(alt):
    return not alt or re.fullmatch(r"[\w./\\-]+", alt.strip()) is not None \
        or len(alt.split()) < 4


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("doc", DOCS)
def test_page_fits_and_figures_read(browsed, build, doc, width):
    """Nothing wider than the text column unless it scrolls (and on a desktop, no display math
    or text output needs scrolling); every image has an alt text that says something; figures
    fit the column without sideways scrolling, are SVG, and their smallest text is at least
    MIN_TEXT_PX as shown (on a phone, shrunk to the column)."""
    if (doc, width) not in browsed:
        pytest.fail(f"{doc}.html was not built")
    _, _, html = build
    report = _report(doc, browsed[doc, width][0])
    failures = [f"{w['tag']} {w['past']} px past the column, not in a scroll container: "
                f"{w['what']!r}" for w in report["wide"]]
    if width >= 1000:   # on a desktop, equations and outputs fit without scrolling
        failures += [f"{w['tag']} needs {w['past']} px of sideways scrolling at {width} px: "
                     f"{w['what']!r}" for w in report["scrolled"]]
    for img in report["imgs"]:
        if _looks_like_a_path(img["alt"]):
            failures.append(f"image {img['src']} has no meaningful alt text ({img['alt']!r})")
        if not img["figure"] or not img["width"]:
            continue
        if img["width"] > report["column"] + 1:
            failures.append(f"figure {img['src']} is {img['width']:.0f} px wide, wider than "
                            f"the {report['column']:.0f} px column: it needs sideways scrolling")
        path = (html / doc).parent / img["src"]
        if path.suffix != ".svg":
            failures.append(f"figure {img['src']} is not SVG")
            continue
        smallest, svg_width = _svg_text_sizes(path)
        if smallest is not None and smallest * img["width"] / svg_width < MIN_TEXT_PX:
            failures.append(f"figure {img['src']}: smallest text "
                            f"{smallest * img['width'] / svg_width:.1f} px as shown "
                            f"({img['width']:.0f} px wide)")
    assert not failures, f"{doc} at {width} px:\n" + "\n".join(failures)


def test_unrolled_rnn_labels_must_match_its_steps():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnlib import diagrams

    with pytest.raises(ValueError, match="inputs must have T = 3 labels, got 1"):
        diagrams.unrolled_rnn(T=3, inputs=["cats"])
    fig = diagrams.unrolled_rnn(T=2, inputs=["0", "cats"], outputs=["P(cats)", "P(<EOS>)"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "cats" in texts and "P(<EOS>)" in texts
    plt.close(fig)
