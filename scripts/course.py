"""Set up the course and run it: `python3 scripts/course.py lab` or `... test`.

Both commands create `.venv` beside this folder on first use and install the
course into it with the pinned versions of constraints.txt, so a fresh machine
needs nothing but Python 3.10+ and pip.

    lab      install (with JupyterLab) and open the notebooks
    test     install (without JupyterLab, so pytest starts faster) and run ruff,
             the unit tests, the exercise gate and strict nbval on every notebook
    execute  re-run notebooks and store their outputs (for authors)
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")

NBVAL_ARGS = [
    "--nbval",
    "--nbval-current-env",
    "--nbval-sanitize-with",
    "tests/nbval_sanitize.cfg",
    "--nbval-cell-timeout=900",
]


def run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True)


def install(extras: str) -> None:
    if not PY.exists():
        venv.create(VENV, with_pip=True)
    stamp = VENV / f".installed-{extras}"
    sources = [ROOT / "pyproject.toml", ROOT / "constraints.txt"]
    if stamp.exists() and all(
        s.stat().st_mtime <= stamp.stat().st_mtime for s in sources
    ):
        return
    run(PY, "-m", "pip", "install", "-q", "-c", "constraints.txt",
        "-e", f".[{extras}]")
    # matplotlib prints "building the font cache" once; do it before nbval looks.
    run(PY, "-c", "import matplotlib.pyplot")
    stamp.touch()


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    rest = argv[1:]
    os.environ.setdefault("PYTHONHASHSEED", "0")
    if command == "lab":
        # notebooks/student/ is committed and holds the learner's own work:
        # never regenerate it here.
        install("test,lab")
        is_root = hasattr(os, "geteuid") and os.geteuid() == 0
        as_root = ["--allow-root"] if is_root else []  # Jupyter refuses root otherwise
        run(BIN / "jupyter", "lab", "notebooks", *as_root, *rest)
    elif command == "test":
        install("test")
        run(PY, "-m", "ruff", "check", ".")
        run(PY, "-m", "pytest", "-p", "no:cacheprovider", *NBVAL_ARGS, *rest)
    elif command == "execute":
        install("test")
        run(PY, "-m", "course_utils.exercises", "--execute", *rest)
    else:
        print(__doc__)
        return 0 if command == "help" else 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
