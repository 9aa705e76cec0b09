"""The install paths: pyproject, constraints, Binder's files, README and CI."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def pyproject_dependencies():
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)\]", text, re.S | re.M).group(1)
    return [re.match(r"[a-z0-9_-]+", d.strip().strip('",')).group(0)
            for d in block.splitlines() if d.strip()]


def test_constraints_pin_torch():
    lines = [line for line in (ROOT / "constraints.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert "torch==2.13.0" in lines


def test_binder_environment_has_no_local_paths_and_the_cpu_torch():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert not any(p.startswith(("-e", ".", "/")) for p in pip)
    assert "torch==2.13.0+cpu" in pip
    assert "--index-url https://download.pytorch.org/whl/cpu" in pip
    names = {re.match(r"[a-z0-9_-]+", d).group(0) for d in conda} | {"torch"}
    assert set(pyproject_dependencies()) <= names


def test_binder_installs_the_package_without_dependencies():
    post_build = (ROOT / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post_build
    assert not (ROOT / "binder").exists(), "a binder/ folder hides root files"


def test_readme_has_exactly_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    setup = re.search(r"## Start(.*?)\n## ", readme, re.S).group(1)
    commands = re.findall(r"```bash\n(.*?)\n```", setup, re.S)
    expected = ["python3 scripts/course.py lab", "python3 scripts/course.py test"]
    assert commands == expected
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"notebook-table:start -->(.*?)<!--", readme, re.S).group(1)
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        assert path.name in table
