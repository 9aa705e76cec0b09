"""course_utils.launch: one repository address, followed everywhere."""

import subprocess
import sys

import pytest

from course_utils import launch


def test_address_comes_from_pyproject(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project.urls]\nRepository = "https://github.com/a/b/"\n')
    assert launch.repository_url(pyproject) == "https://github.com/a/b"
    pyproject.write_text("[project]\nname = 'x'\n")
    with pytest.raises(ValueError, match="no 'Repository"):
        launch.repository_url(pyproject)


def test_links_follow_the_address():
    url = "https://github.com/org/repo"
    assert launch.colab_url("notebooks/01.ipynb", url) == (
        "https://colab.research.google.com/github/org/repo/blob/main/notebooks/01.ipynb"
    )
    assert launch.binder_url("notebooks", url) == (
        "https://mybinder.org/v2/gh/org/repo/main?urlpath=lab/tree/notebooks"
    )
    assert f"git+{url}@main" in launch.setup_cell_source(url)


def test_setup_cell_is_a_no_op_outside_colab():
    namespace = {}
    exec(launch.setup_cell_source(), namespace)
    assert "google.colab" not in sys.modules


def test_readme_and_notebooks_follow_pyproject():
    assert launch.stale_files() == [], "run: python -m course_utils.launch --write"


def test_command_line_check_exits_zero_when_in_sync():
    result = subprocess.run([sys.executable, "-m", "course_utils.launch"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
