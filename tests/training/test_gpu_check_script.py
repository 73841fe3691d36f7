"""scripts/gpu_check.sh (run once on a GPU machine): what a CPU can check of it."""

import os
import pathlib
import subprocess
import sys

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"


def test_scripts_parse():
    for script in (SCRIPT, ROOT / "scripts" / "fetch_device_wheels.sh", ROOT / "scripts" / "gpu_check_dry.sh"):
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0, script


def device_command() -> str:
    """The command to paste into a device call, from the block at the top of the script."""
    lines = SCRIPT.read_text().splitlines()
    start = lines.index("# ---- device command (paste as is) ----")
    assert lines[start + 2] == "# ---- end ----"
    return lines[start + 1].removeprefix("# ")


def test_the_device_command_fits_a_call_and_is_the_one_documented():
    command = device_command()
    assert len(command) < 2000  # the device tool's limit on a command line
    assert "--target /tmp/site .whl/*.whl" in command and "PYTHON=python3" in command
    assert "PYTHONPATH=$PWD/src:/tmp/site" in command and command.endswith("bash scripts/gpu_check.sh")
    assert command in (ROOT / "docs" / "benchmarks.md").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the script would run for real")
def test_script_refuses_without_a_gpu_in_one_line(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path / "out"), PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"gpu_check.sh: error: no CUDA GPU visible to torch ({sys.executable}); this script measures GPU speed"]


def test_every_bench_step_option_in_the_script_is_a_config_field():
    import dataclasses
    import re

    from vigor.training import VigorGRPOConfig

    fields = {f.name for f in dataclasses.fields(VigorGRPOConfig)}
    bench_options = {"--model", "--dataset", "--reward", "--baseline-reward", "--steps", "--warmup-steps", "--json",
                     "--config", "--shape", "--device", "--repeats", "--methods", "--output-dir", "--max-steps",
                     "--num-generations", "--batch", "--prompt-len", "--completion-len", "--profile",
                     "--no-index", "--no-deps", "--no-compile", "--no-cache-dir", "--upgrade", "--target",  # pip
                     "--standalone", "--nproc-per-node"}  # torchrun
    options = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", SCRIPT.read_text())) - bench_options
    assert {o for o in options if o[2:].replace("-", "_") not in fields} <= {"--query-gpu", "--format"}  # nvidia-smi
