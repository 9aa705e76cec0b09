"""The exercise gate, and course_utils.exercises (learner copies).

For every exercise in every source notebook: the solution passes its check,
the learner stub fails it as "not attempted", and the committed learner
copies are what the sources render to. Known wrong answers are tested per
notebook in tests/test_checks_nbNN.py.
"""

import nbformat
import pytest

from course_utils import exercises
from course_utils.checks import CheckFailed, strict_checks


def exercise_pairs():
    """(notebook, solution cell, its check cells) for every exercise."""
    pairs = []
    for path in exercises.source_notebooks():
        cells = nbformat.read(path, as_version=4).cells
        for i, cell in enumerate(cells):
            if not exercises.is_solution_cell(cell):
                continue
            checks = []
            for later in cells[i + 1 :]:
                if exercises.is_check_cell(later):
                    checks.append(later)
                elif later.cell_type == "code" or checks:
                    break
            pairs.append((path.name, cell, checks))
    return pairs


PAIRS = exercise_pairs()
IDS = [f"{name}:{cell.metadata.nbgrader.grade_id}" for name, cell, _ in PAIRS]


def run_exercise(solution_source, checks):
    namespace = {"__name__": "__exercise__"}
    exec(compile(solution_source, "<solution>", "exec"), namespace)
    with strict_checks():
        for check in checks:
            exec(compile(check.source, "<check>", "exec"), namespace)


def test_every_notebook_has_at_least_three_exercises():
    counts = {p.name: 0 for p in exercises.source_notebooks()}
    for name, _, _ in PAIRS:
        counts[name] += 1
    assert counts, "no source notebooks found"
    assert all(n >= 3 for n in counts.values()), counts


def test_grade_ids_are_unique():
    ids = []
    for path in exercises.source_notebooks():
        for cell in nbformat.read(path, as_version=4).cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id:
                ids.append(grade_id)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name,cell,checks", PAIRS, ids=IDS)
def test_solution_passes_its_check(name, cell, checks, capsys):
    assert checks, "every solution cell needs a graded check cell right after it"
    for check in checks:
        assert check.metadata.nbgrader.get("points", 0) > 0
        assert "check_" in check.source
    run_exercise(cell.source, checks)
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("name,cell,checks", PAIRS, ids=IDS)
def test_learner_stub_fails_its_check(name, cell, checks, capsys):
    stub = exercises.stub_solution(cell.source)
    assert "### BEGIN SOLUTION" not in stub
    with pytest.raises(CheckFailed) as failed:
        run_exercise(stub, checks)
    assert failed.value.outcome == "not_attempted"
    assert "not attempted yet" in capsys.readouterr().out


def test_learner_copies_are_up_to_date():
    assert exercises.stale_learner_versions() == [], (
        "run: python -m course_utils.exercises --write"
    )


def test_learner_copy_has_stubs_and_no_outputs(tmp_path):
    nb = nbformat.v4.new_notebook()
    solution = nbformat.v4.new_code_cell(
        "import numpy as np\n\ndef double(x):\n    ### BEGIN SOLUTION\n"
        "    return 2 * x\n    ### END SOLUTION\n",
        metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "a"}},
    )
    plain = nbformat.v4.new_code_cell("print(1)")
    plain.outputs = [nbformat.v4.new_output("stream", text="1\n")]
    plain.execution_count = 3
    nb.cells = [solution, plain]
    path = tmp_path / "01_demo.ipynb"
    nbformat.write(nb, path)

    [written] = exercises.write_learner_versions([path], tmp_path / "student")
    copy = nbformat.read(written, as_version=4)
    assert copy.cells[0].source == (
        "import numpy as np\n\ndef double(x):\n    # YOUR CODE HERE\n"
        "    raise NotImplementedError()\n"
    )
    assert copy.cells[1].outputs == [] and copy.cells[1].execution_count is None
    assert nb.cells[0].source.count("return 2 * x") == 1  # the source is untouched


def test_several_blocks_in_one_cell_are_all_stubbed():
    source = (
        "def f():\n    ### BEGIN SOLUTION\n    a = 1\n    ### END SOLUTION\n"
        "    return a\n\ndef g():\n    ### BEGIN SOLUTION\n    return 2\n"
        "    ### END SOLUTION"
    )
    stubbed = exercises.stub_solution(source)
    assert stubbed.count("raise NotImplementedError()") == 2
    assert "return 2" not in stubbed and "return a" in stubbed


@pytest.mark.parametrize("source", [
    "def f():\n    return 1\n",
    "def f():\n    ### BEGIN SOLUTION\n    return 1\n",
    "def f():\n    return 1\n    ### END SOLUTION\n",
])
def test_missing_or_unbalanced_markers_are_errors(source):
    with pytest.raises(ValueError, match="SOLUTION"):
        exercises.stub_solution(source)


def test_learner_work_is_never_overwritten_without_force(tmp_path):
    source = tmp_path / "01_demo.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, source)
    out = tmp_path / "student"
    [copy] = exercises.write_learner_versions([source], out)
    exercises.write_learner_versions([source], out)  # an untouched copy: fine

    worked = nbformat.read(copy, as_version=4)
    worked.cells[0].source = "x = 2  # my answer"
    worked.cells[0].execution_count = 1
    nbformat.write(worked, copy)
    with pytest.raises(FileExistsError, match="01_demo.ipynb.*--force"):
        exercises.write_learner_versions([source], out)
    assert "my answer" in copy.read_text()
    exercises.write_learner_versions([source], out, force=True)
    assert "my answer" not in copy.read_text()
