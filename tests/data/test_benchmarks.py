"""The shipped evaluation sets: checksums and counts match PROVENANCE.md, licenses are present, the package sees them."""

import hashlib
import importlib.resources
import re

import pytest

from vigor.data import SHIPPED, benchmark_file


@pytest.mark.parametrize("name", SHIPPED)
def test_provenance_checksum_and_count(name):
    path = benchmark_file(name)
    provenance = (path.parent / "PROVENANCE.md").read_text()
    sha = re.search(r"^- sha256: `([0-9a-f]{64})`", provenance, re.MULTILINE).group(1)
    count = int(re.search(r"`test\.jsonl`, (\d+) records", provenance).group(1))
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha
    assert data.count(b"\n") == count
    licenses = list(path.parent.glob("LICENSE*"))
    assert licenses and all(p.stat().st_size > 500 for p in licenses)


def test_package_resources_hold_the_benchmarks():
    root = importlib.resources.files("vigor") / "data" / "benchmarks"
    for name in SHIPPED:
        assert (root / name / "test.jsonl").is_file() and (root / name / "PROVENANCE.md").is_file()


def test_no_training_sets_shipped():
    root = benchmark_file("gsm8k").parent.parent
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == sorted(SHIPPED)
    assert not list(root.rglob("*train*"))
