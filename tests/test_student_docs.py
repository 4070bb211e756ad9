"""The student's way in: every chapter links its assignment, and the documented install is the
one ``tests/test_student_install.py`` runs."""

import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
MENTION = re.compile(r"exercises/(\w+)/(\w+)\.ipynb")
LINK = re.compile(r"\{download\}`exercises/(\w+)/(\w+)\.ipynb <\.\./exercises/\1/\2\.ipynb>`")


def _markdown(path):
    """The page's prose (Markdown without its code blocks)."""
    if path.suffix == ".md":
        text = path.read_text()
    else:
        text = "\n".join(c.source for c in nbformat.read(path, 4).cells
                         if c.cell_type == "markdown")
    return re.sub(r"```bash\n.*?```", "", text, flags=re.S)


def test_every_mention_of_an_assignment_is_a_download_link_to_its_notebook():
    linked = set()
    for path in sorted((ROOT / "book").glob("[0-9]*.ipynb")) + [ROOT / "book" / "intro.md"]:
        text = _markdown(path)
        mentions = len(MENTION.findall(text))
        links = LINK.findall(text)
        assert 2 * len(links) == mentions, f"{path.name}: a plain-text exercises/ path"
        for a, name in links:
            assert (ROOT / "exercises" / a / f"{name}.ipynb").is_file(), (path.name, a)
            linked.add(a)
    assert linked == {p.name for p in (ROOT / "exercises").iterdir() if p.is_dir()}


def test_the_documented_install_is_pip_install_dot():
    for path in (ROOT / "README.md", ROOT / "book" / "intro.md"):
        text = path.read_text()
        assert 'pip install ".[jupyter]"' in text and "`pip install .`" in text, path
    assert 'jupyter = ["notebook' in (ROOT / "pyproject.toml").read_text()
