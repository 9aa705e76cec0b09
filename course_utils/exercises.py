"""Learner copies of the notebooks, written from the sources with nbformat.

Source notebooks mark solutions the way nbgrader does: inside a code cell whose
`metadata.nbgrader.solution` is true, the lines from `### BEGIN SOLUTION` to
`### END SOLUTION` are the answer. A learner copy replaces each such block by
a stub that raises NotImplementedError (nbgrader's own stub), and clears all
outputs. Instructors can run nbgrader on the same source files unchanged.

    python -m course_utils.exercises --write      # notebooks/student/*.ipynb
                                                  # (never over copies that were run)
    python -m course_utils.exercises --check      # fail if those are stale
    python -m course_utils.exercises --execute [NOTEBOOK ...]   # store outputs
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
STUDENT = NOTEBOOKS / "student"

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
_BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)" + re.escape(BEGIN) + r"[^\n]*\n.*?^[ \t]*"
    + re.escape(END) + r"[^\n]*(\n|$)",
    re.MULTILINE | re.DOTALL,
)


def source_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The course's source notebooks, in order (learner copies excluded)."""
    return sorted(p for p in folder.glob("[0-9]*.ipynb"))


def is_solution_cell(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def is_check_cell(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade"))


def stub_solution(source: str) -> str:
    """Replace every BEGIN/END SOLUTION block in `source` by the stub."""
    if BEGIN not in source:
        raise ValueError("a solution cell must contain a '### BEGIN SOLUTION' block")

    def replace(match: re.Match) -> str:
        indent = match.group("indent")
        stub = "\n".join(indent + line for line in STUB.splitlines())
        return stub + ("\n" if match.group(0).endswith("\n") else "")

    stubbed, count = _BLOCK.subn(replace, source)
    if BEGIN in stubbed or END in stubbed:
        raise ValueError("unbalanced BEGIN/END SOLUTION markers in:\n" + source)
    assert count > 0
    return stubbed


def learner_version(nb):
    """A copy of notebook `nb` with solutions stubbed and outputs cleared."""
    nb = nbformat.from_dict(nb)  # a deep copy
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)  # timestamps of the author's run
        if is_solution_cell(cell):
            cell.source = stub_solution(cell.source)
    return nb


def has_work(path: Path) -> bool:
    """True if the notebook at `path` has been run (a learner may have worked in it)."""
    nb = nbformat.read(path, as_version=4)
    return any(
        cell.cell_type == "code" and (cell.outputs or cell.execution_count)
        for cell in nb.cells
    )


def write_learner_versions(
    sources: Iterable[Path] | None = None, out_dir: Path = STUDENT, force: bool = False
) -> list[Path]:
    """Write a learner copy of each source notebook into `out_dir`.

    A fresh copy has no outputs. A copy that has outputs has been run, maybe
    with a learner's answers in it, so it is not overwritten unless `force`.
    """
    sources = list(sources) if sources is not None else source_notebooks()
    targets = [out_dir / path.name for path in sources]
    worked = [t.name for t in targets if t.exists() and has_work(t)]
    if worked and not force:
        raise FileExistsError(
            f"learner copies in {out_dir} have been run and may hold your answers: "
            f"{', '.join(worked)}; move them elsewhere, or pass --force to overwrite"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, target in zip(sources, targets, strict=True):
        nb = nbformat.read(path, as_version=4)
        nbformat.write(learner_version(nb), target)
    return targets


def stale_learner_versions(out_dir: Path = STUDENT) -> list[str]:
    """Names of learner copies missing or differing from a fresh rendering."""
    stale = []
    for path in source_notebooks():
        fresh = nbformat.writes(learner_version(nbformat.read(path, as_version=4)))
        target = out_dir / path.name
        if not target.exists() or target.read_text(encoding="utf-8") != fresh + "\n":
            stale.append(target.name)
    return stale


def execute(paths: Iterable[Path], timeout: int = 900) -> None:
    """Run each notebook top to bottom in a fresh kernel and store its outputs."""
    from nbclient import NotebookClient

    for path in paths:
        path = Path(path)
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", record_timing=False,
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute()
        nbformat.write(nb, path)
        print(f"executed {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="write learner copies")
    group.add_argument("--check", action="store_true", help="fail if copies are stale")
    group.add_argument("--execute", nargs="*", metavar="NOTEBOOK",
                       help="execute notebooks in place (default: all sources)")
    parser.add_argument("--force", action="store_true",
                        help="with --write: overwrite learner copies that were run")
    args = parser.parse_args(argv)

    if args.write:
        try:
            written = write_learner_versions(force=args.force)
        except FileExistsError as err:
            print(err)
            return 1
        for path in written:
            print(f"wrote {path.relative_to(ROOT)}")
    elif args.check:
        stale = stale_learner_versions()
        if stale:
            print("stale learner copies (run --write): " + ", ".join(stale))
            return 1
        print("learner copies are up to date")
    else:
        execute([Path(p) for p in args.execute] or source_notebooks())
    return 0


if __name__ == "__main__":
    sys.exit(main())
