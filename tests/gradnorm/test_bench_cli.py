"""`vigor bench gradnorm` runs end to end and prints its table (a smoke test, not a timing)."""

import json
import subprocess
import sys


def test_bench_gradnorm_prints_table(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "vigor.cli", "bench", "gradnorm", "--shape", "tiny", "--batch", "3",
         "--prompt-len", "4", "--completion-len", "12", "--repeats", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    for label in ("(a) reference loop", "(b) engine", "(c) plain forward+backward", "(b)/(c)", "(a)/(b)",
                  "max relative error"):
        assert label in proc.stdout
    summary = json.loads(out.read_text())["summary"]
    assert summary["max_rel_error"] < 1e-4  # float32 engine against the float32 reference loop
    assert summary["engine_over_baseline_time"] > 0


def test_bench_rejects_bad_methods():
    proc = subprocess.run(
        [sys.executable, "-m", "vigor.cli", "bench", "gradnorm", "--methods", "xz"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "--methods" in proc.stderr
