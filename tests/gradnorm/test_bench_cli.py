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
                  "max relative error", "CPU time (median)", "(b)/(c): CPU time"):
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


def test_bench_profile_prints_the_split(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "vigor.cli", "bench", "gradnorm", "--shape", "tiny", "--batch", "2",
         "--prompt-len", "4", "--completion-len", "8", "--repeats", "2", "--methods", "b", "--profile",
         "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    for label in ("engine time split", "forward (model + loss)", "backward, autograd without rules",
                  "rule: linear", "rule: rmsnorm", "rule: embedding"):
        assert label in proc.stdout, proc.stdout
    profile = json.loads(out.read_text())["profile"]
    # tiny shape: 2 layers x (q, k, v, o, gate, up, down) linears + tied head, 2 x 2 + 1 RMSNorms,
    # the tied embedding (its site is the embedding's; the head shares it).
    assert profile["rule_modules"] == {"linear": 15, "rmsnorm": 5, "embedding": 1}
    assert profile["forward_s"] > 0 and profile["backward_s"] >= sum(profile["rule_s"].values()) > 0
