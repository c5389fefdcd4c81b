"""A fresh clone passes on its own: tests read only what the repository holds."""

from __future__ import annotations

import re
from pathlib import Path

from tests import reads

ROOT = Path(__file__).resolve().parent.parent


def test_the_watcher_tells_a_sibling_folder_from_the_clone(tmp_path: Path) -> None:
    # A clone in a folder of its own (wherever this one lies: directly in the temp folder, every other entry
    # there is the tests' scratch space, so the layout is built here).
    clone = tmp_path / "datahub"
    assert reads.outside_clone(str(tmp_path / "shared" / "data" / "x.csv"), clone)
    assert reads.outside_clone(str(clone) + "-copy/x", clone)  # a sibling whose name starts like the clone's
    assert not reads.outside_clone(str(clone / "tests" / "data" / "nab" / "speed_6005.csv"), clone)
    assert not reads.outside_clone("/usr/share/zoneinfo/UTC", clone)
    # This clone: its own data and the tests' scratch files are inside.
    assert not reads.outside_clone(str(ROOT / "tests" / "data" / "nab" / "speed_6005.csv"))
    assert not reads.outside_clone(str(tmp_path / "catalog.yaml"))


def test_no_test_names_a_path_outside_the_clone() -> None:
    """Native readers (Polars) open files the watcher cannot see: their paths come from the tests' own code."""
    pattern = re.compile(r"ROOT\.parent|parent\.parent\.parent|/work/|shared[/\"' ]+data|SHARED_DATA")
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path.name in {"test_self_contained.py", "reads.py"}:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_real_data_lives_in_the_repository(real_data: Path) -> None:
    assert real_data == ROOT / "tests" / "data"
    readme = (real_data / "README.md").read_text(encoding="utf-8")
    for folder in sorted(p.name for p in real_data.iterdir() if p.is_dir()):
        assert f"`{folder}/`" in readme, f"tests/data/README.md does not describe {folder}/"


def test_no_test_read_outside_the_clone() -> None:
    """Runs last (see conftest): every file any earlier test opened from Python lay inside the clone."""
    assert reads.outside_reads() == []
