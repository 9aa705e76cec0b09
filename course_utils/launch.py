"""The course's public address and everything derived from it.

The address lives in one place, `[project.urls] Repository` in pyproject.toml.
The README's launch badges and every notebook's Colab setup cell are generated
from it: after changing the address, run

    python -m course_utils.launch --write

and tests/test_launch.py checks that nothing was left behind.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
README = ROOT / "README.md"
BRANCH = "main"
SETUP_TAG = "colab-setup"
README_START = "<!-- launch-links:start -->"
README_END = "<!-- launch-links:end -->"


def repository_url(pyproject: Path = PYPROJECT) -> str:
    """The GitHub address from pyproject.toml, without a trailing slash."""
    text = pyproject.read_text(encoding="utf-8")
    match = re.search(r'^Repository\s*=\s*"(https://github\.com/[^"]+)"', text, re.M)
    if match is None:
        raise ValueError(f"no 'Repository = \"https://github.com/...\"' in {pyproject}")
    return match.group(1).rstrip("/")


def _org_repo(url: str) -> str:
    return url.removeprefix("https://github.com/")


def colab_url(notebook: str, url: str | None = None) -> str:
    url = url or repository_url()
    return f"https://colab.research.google.com/github/{_org_repo(url)}/blob/{BRANCH}/{notebook}"


def binder_url(path: str = "notebooks", url: str | None = None) -> str:
    url = url or repository_url()
    return f"https://mybinder.org/v2/gh/{_org_repo(url)}/{BRANCH}?urlpath=lab/tree/{path}"


def setup_cell_source(url: str | None = None) -> str:
    url = url or repository_url()
    return (
        "# On Google Colab, install the course package; everywhere else this\n"
        "# cell does nothing (the course is already installed).\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    subprocess.run(\n"
        '        [sys.executable, "-m", "pip", "install", "-q",\n'
        f'         "course-utils @ git+{url}@{BRANCH}"],\n'
        "        check=True,\n"
        "    )"
    )


def readme_block(notebooks: list[Path], url: str | None = None) -> str:
    url = url or repository_url()
    lines = [
        README_START,
        f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(url=url)})",
        "",
        "| Notebook | Colab | Binder |",
        "|---|---|---|",
    ]
    badge = "https://colab.research.google.com/assets/colab-badge.svg"
    for nb in notebooks:
        # Learners open their own copy (exercises blank) in the cloud.
        rel = f"notebooks/student/{nb.name}"
        colab = f"[![Open in Colab]({badge})]({colab_url(rel, url)})"
        lines.append(f"| `{nb.name}` | {colab} | [launch]({binder_url(rel, url)}) |")
    lines.append(README_END)
    return "\n".join(lines)


def _notebooks() -> list[Path]:
    from .exercises import source_notebooks

    return source_notebooks()


def stale_files() -> list[str]:
    """Files whose links or setup cell do not follow pyproject's address."""
    stale = []
    source = setup_cell_source()
    for path in _notebooks():
        nb = nbformat.read(path, as_version=4)
        cells = [c for c in nb.cells if SETUP_TAG in c.metadata.get("tags", [])]
        if len(cells) != 1 or cells[0].source != source:
            stale.append(path.name)
    text = README.read_text(encoding="utf-8") if README.exists() else ""
    if readme_block(_notebooks()) not in text:
        stale.append(README.name)
    return stale


def write() -> None:
    """Rewrite the setup cells and the README block from pyproject's address."""
    source = setup_cell_source()
    for path in _notebooks():
        nb = nbformat.read(path, as_version=4)
        cells = [c for c in nb.cells if SETUP_TAG in c.metadata.get("tags", [])]
        if len(cells) != 1:
            raise ValueError(f"{path.name} needs exactly one cell tagged {SETUP_TAG!r}")
        if cells[0].source != source:
            cells[0].source = source
            nbformat.write(nb, path)
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md lacks the {README_START} ... {README_END} block")
    README.write_text(
        pattern.sub(lambda _: readme_block(_notebooks()), text), encoding="utf-8"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update the files")
    args = parser.parse_args(argv)
    if args.write:
        write()
        return 0
    stale = stale_files()
    print("stale: " + ", ".join(stale) if stale else "links are up to date")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
