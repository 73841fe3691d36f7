"""CPU runs compute in float32 unless bf16 is asked for; every run says where and in what precision."""

import os
import subprocess
import sys

import pytest
import torch
from transformers import TrainerCallback

from tests.training.training_helpers import tiny_run_options

ON_CPU = not torch.cuda.is_available()


@pytest.mark.skipif(not ON_CPU, reason="the CPU resolution is what is tested")
def test_cpu_configs_resolve_to_float32(tiny_model_dir, prompts_file, tmp_path):
    from vigor.cli import build_parser
    from vigor.demo import preset_settings
    from vigor.demo.run import training_config
    from vigor.training import VigorGRPOConfig
    from vigor.training.cli import build_config

    assert VigorGRPOConfig(output_dir=str(tmp_path), use_cpu=True).bf16 is False  # TRL's default would be True
    assert VigorGRPOConfig(output_dir=str(tmp_path)).bf16 is False
    assert VigorGRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=True).bf16 is True  # asked for: kept
    args = build_parser().parse_args(["train", "--model", tiny_model_dir, "--dataset", prompts_file,
                                      "--output-dir", str(tmp_path), "--use-cpu", "true"])
    assert build_config(args).bf16 is False
    demo = training_config(preset_settings("default"), tiny_model_dir, prompts_file, tmp_path)
    assert demo.use_cpu and demo.bf16 is False and demo.fp16 is False
    assert VigorGRPOConfig(output_dir=str(tmp_path)).dataloader_pin_memory is False  # no GPU: nothing to pin for


def test_a_cpu_run_prints_no_pin_memory_warning(tiny_model_dir, prompts_file, tmp_path):
    import warnings

    from tests.training.training_helpers import tiny_run_options
    from vigor.training import VigorGRPOConfig, train

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(VigorGRPOConfig(**tiny_run_options(tiny_model_dir, prompts_file, tmp_path / "out", use_cpu=False)))
    assert not [w for w in caught if "pin_memory" in str(w.message)]


def test_fp16_on_a_cpu_is_refused(tmp_path):
    from vigor.training import VigorGRPOConfig

    with pytest.raises(ValueError, match="fp16: float16 mixed precision needs a GPU"):
        VigorGRPOConfig(output_dir=str(tmp_path), use_cpu=True, fp16=True)


class LogitDtypes(TrainerCallback):
    """Records the dtype of every output of the model's LM head (the logits) during training."""

    def __init__(self):
        self.dtypes = set()

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        model.get_output_embeddings().register_forward_hook(lambda module, inputs, output:
                                                            self.dtypes.add(output.dtype))


@pytest.mark.parametrize("bf16, expected", [(None, torch.float32), (True, torch.bfloat16)])
def test_a_cpu_training_step_computes_logits_in(bf16, expected, tiny_model_dir, prompts_file, tmp_path, capsys):
    from vigor.training import VigorGRPOConfig, train

    options = tiny_run_options(tiny_model_dir, prompts_file, tmp_path / "out")
    if bf16 is not None:
        options["bf16"] = bf16
    recorder = LogitDtypes()
    train(VigorGRPOConfig(**options), callbacks=[recorder])
    assert recorder.dtypes == {expected}  # the bf16 run shows the hook would see autocast
    banner = [line for line in capsys.readouterr().out.splitlines() if line.startswith("vigor: device")]
    assert banner == [f"vigor: device cpu ({torch.get_num_threads()} threads), weights float32, autocast "
                      f"{'none' if bf16 is None else 'bfloat16'}, torch CPU capability "
                      f"{torch.backends.cpu.get_cpu_capability()}"]


def test_bf16_on_an_avx2_cpu_warns_in_one_line(tiny_model_dir, prompts_file, tmp_path):
    """A real `vigor train --bf16 true` with torch's kernels limited to AVX2 (as on a CPU without native bf16)."""
    from tests.training.training_helpers import as_cli_args

    options = tiny_run_options(tiny_model_dir, prompts_file, tmp_path / "out", bf16=True)
    env = dict(os.environ, ATEN_CPU_CAPABILITY="avx2")
    done = subprocess.run([sys.executable, "-m", "vigor.cli", "train", *as_cli_args(options)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    warnings = [line for line in done.stderr.splitlines() if "without native bfloat16" in line]
    assert warnings == ["bf16 on a CPU without native bfloat16 (torch CPU capability AVX2): every matrix product "
                        "is emulated, several times slower than float32; drop --bf16 to train in float32"]
    assert "autocast bfloat16, torch CPU capability AVX2" in done.stdout
