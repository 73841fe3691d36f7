"""The Python floor: pyproject.toml, the README and the pinned dependencies agree, and scripts/bootstrap.sh refuses an
older interpreter in one line before it creates or installs anything.

The script runs in a copy (tmp_path/scripts/bootstrap.sh beside a copy of pyproject.toml), with fake interpreters:
tiny shell scripts that report a version to `-c` and log every call, so nothing is ever installed.
"""

import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
FLOOR = Version(re.fullmatch(r">=(\d+\.\d+)", PYPROJECT["requires-python"]).group(1))


def lowest_python(spec: str) -> Version:
    """The lowest 3.x minor version a Requires-Python specifier admits."""
    return next(Version(f"3.{minor}") for minor in range(0, 30) if Version(f"3.{minor}.99") in SpecifierSet(spec))


def test_requires_python_is_the_floor_of_the_exact_pins_and_the_readme_and_classifiers_say_the_same():
    pinned = [Requirement(d) for d in PYPROJECT["dependencies"]]
    pinned = [r for r in pinned if any(s.operator == "==" for s in r.specifier)]
    floors = {r.name: lowest_python(metadata(r.name)["Requires-Python"] or ">=3") for r in pinned}
    assert floors["trl"] == Version("3.11"), floors  # the reason for the floor: trl==1.16.0 needs 3.11
    assert FLOOR == max(floors.values()), floors     # no higher than the pins need, no lower
    classified = [Version(c.rsplit(" ", 1)[1]) for c in PYPROJECT["classifiers"]
                  if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert min(classified) == FLOOR and Version("3.13") in classified
    assert Version(f"{sys.version_info.major}.{sys.version_info.minor}") >= FLOOR  # the suite runs above it
    readme = (ROOT / "README.md").read_text()
    assert f"Python ≥ {FLOOR}" in readme and "PYTHON=python3.12 bash scripts/demo.sh" in readme
    assert "≥ 3.10" not in readme and ">= 3.10" not in readme


def fake_python(folder: Path, name: str, version: str, log: Path) -> Path:
    """An interpreter that answers `-c ...` with `version` and fails anything else (`-m venv`, `-m pip`)."""
    path = folder / name
    path.write_text(f'#!/bin/sh\necho "$0 $*" >> "{log}"\n[ "$1" = "-c" ] && {{ echo {version}; exit 0; }}\nexit 3\n')
    path.chmod(0o755)
    return path


@pytest.fixture
def repo_copy(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", tmp_path / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "bin").mkdir()
    return tmp_path


def bootstrap(repo: Path, python: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(repo / "scripts" / "bootstrap.sh")], env={"PATH": "/usr/bin:/bin", "PYTHON": python},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("version", ["3.10", "3.9", "2.7"])
def test_an_older_interpreter_is_refused_in_one_line_before_anything_is_created(repo_copy, version):
    log = repo_copy / "calls.log"
    python = fake_python(repo_copy / "bin", f"python{version}", version, log)
    done = bootstrap(repo_copy, str(python))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"is Python {version}; vigor needs Python >= {FLOOR}" in done.stderr
    assert "PYTHON=python3.12 bash scripts/demo.sh" in done.stderr
    assert not (repo_copy / ".venv").exists()
    assert [line.split(" ", 2)[1] for line in log.read_text().splitlines()] == ["-c"]  # asked, nothing more


def test_a_missing_interpreter_is_refused_in_one_line(repo_copy):
    done = bootstrap(repo_copy, "python3.99-nowhere")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "python3.99-nowhere does not run; vigor needs Python >= " in done.stderr
    assert not (repo_copy / ".venv").exists()


@pytest.mark.parametrize("version", ["3.11", "3.13", "3.14"])
def test_the_floor_and_newer_pass_the_check_and_go_on_to_create_the_venv(repo_copy, version):
    log = repo_copy / "calls.log"
    python = fake_python(repo_copy / "bin", f"python{version}", version, log)
    done = bootstrap(repo_copy, str(python))
    # the fake fails `-m venv`, so the script stops at the step after the check, having installed nothing
    assert done.returncode == 3 and "vigor needs Python" not in done.stderr, done.stderr
    assert [line.split(" ", 3)[1:3] for line in log.read_text().splitlines()] == [["-c", "import"], ["-m", "venv"]]


def test_an_existing_venv_made_with_an_older_python_is_named(repo_copy):
    log = repo_copy / "calls.log"
    (repo_copy / ".venv" / "bin").mkdir(parents=True)
    fake_python(repo_copy / ".venv" / "bin", "python", "3.10", log)
    good = fake_python(repo_copy / "bin", "python3.12", "3.12", log)
    done = bootstrap(repo_copy, str(good))
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert ".venv/bin/python is Python 3.10" in done.stderr and "remove .venv" in done.stderr
    assert "-m pip" not in log.read_text()


PYENV = Path.home() / ".pyenv" / "versions"


@pytest.mark.parametrize("minor, accepted", [(10, False), (13, True)])
def test_real_interpreters_where_pyenv_has_them(repo_copy, minor, accepted):
    """3.10 is refused before the venv; 3.13 passes the check. For 3.13 the copy holds a .venv whose python is the
    real 3.13 and an install stamp that matches the script, so bootstrap has nothing left to do and installs nothing."""
    found = sorted(PYENV.glob(f"3.{minor}.*/bin/python3.{minor}"))
    if not found:
        pytest.skip(f"no Python 3.{minor} under {PYENV}")
    if accepted:
        (repo_copy / ".venv" / "bin").mkdir(parents=True)
        (repo_copy / ".venv" / "bin" / "python").symlink_to(found[0])
        stamp = (repo_copy / "pyproject.toml").read_bytes() + (repo_copy / "scripts" / "bootstrap.sh").read_bytes()
        (repo_copy / ".venv" / ".vigor-install-stamp").write_text(hashlib.sha256(stamp).hexdigest()[:16] + "\n")
    done = bootstrap(repo_copy, str(found[0]))
    if accepted:
        assert done.returncode == 0 and done.stderr == "", done.stderr
    else:
        assert done.returncode == 1 and f"is Python 3.{minor}; vigor needs Python >= {FLOOR}" in done.stderr
        assert not (repo_copy / ".venv").exists()
