"""Every bad file and bad setting is one line from the CLI (exit 2) before any model loads, and no output
folder is left behind: `vigor train`, `vigor analyze`, `vigor eval --predictions`. Real files, written here."""

import gzip
import io
import json

import pytest

from vigor.cli import main
from vigor.data.records import CSV_FIELD_LIMIT

ROWS = [{"question": f"What is {i}+{i}?", "answer": str(2 * i)} for i in range(8)]
PREDICTIONS = [{"id": str(i), "completion": f"The answer is {2 * i}."} for i in range(8)]


def jsonl(rows) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def parquet(rows) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


def first_half(data: bytes) -> bytes:
    return data[:len(data) // 2]


def unclosed_csv(rows) -> bytes:
    """A CSV whose second record opens a quote that never closes: one field past the raised limit."""
    header = ",".join(rows[0]) + "\n" + ",".join(map(str, rows[0].values())) + "\n"
    return (header + '"' + ("z" * 1023 + "\n") * (CSV_FIELD_LIMIT // 1024 + 1)).encode()


BAD_FILES = {  # name: (content from good rows, what the error says)
    "latin1.jsonl": (lambda rows: jsonl(rows[:2]) + b'{"x": "caf\xe9"}\n', "not UTF-8 text: byte 0xe9 at byte offset"),
    "fake.jsonl.gz": (jsonl, "not a gzip file although the name ends in .gz"),
    "cut.jsonl.gz": (lambda rows: first_half(gzip.compress(jsonl(rows * 300))), "gzip data truncated or corrupt after"),
    "cut.parquet": (lambda rows: parquet(rows)[:-40], "not a readable Parquet file"),
    "unclosed.csv": (unclosed_csv, f"a CSV field is longer than {CSV_FIELD_LIMIT:,} characters"),
}


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from vigor.tiny import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"), max_positions=512)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    (folder / "bench.jsonl").write_bytes(jsonl(ROWS))
    (folder / "predictions.jsonl").write_bytes(jsonl(PREDICTIONS))
    for name, (make, _) in BAD_FILES.items():
        (folder / name).write_bytes(make(ROWS))
        (folder / f"pred-{name}").write_bytes(make(PREDICTIONS))
    return folder


def one_line_error(argv, capsys, monkeypatch, out) -> str:
    """Run the CLI, expecting exit 2 with one line on stderr, no model loaded and no output folder."""
    import transformers

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_loading)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"vigor {argv[0]}: error: ") and "\n" not in err, err
    assert not out.exists(), f"{argv[0]} created {out} although it failed validation"
    return err


def train_argv(model, data, out, *extra):
    return ["train", "--model", model, "--dataset", str(data), "--output-dir", str(out), "--use-cpu", "true",
            "--max-completion-length", "8", "--num-generations", "2", "--per-device-train-batch-size", "2",
            "--report-to", "none", *extra]


def analyze_argv(model, data, out, *extra):
    # --num-prompts past the end of every file here: analyze reads only that many rows
    return ["analyze", "--model", model, "--dataset", str(data), "--output-dir", str(out), "--num-prompts", "10000",
            "-G", "2", "--max-new-tokens", "8", "--no-progress", *extra]


@pytest.mark.parametrize("name", BAD_FILES)
@pytest.mark.parametrize("command", ["train", "analyze", "eval-predictions", "eval-benchmark"])
def test_bad_file(command, name, tiny_model_dir, files, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    bad = files / name
    if command == "train":
        argv = train_argv(tiny_model_dir, bad, out)
    elif command == "analyze":
        argv = analyze_argv(tiny_model_dir, bad, out)
    elif command == "eval-predictions":
        bad = files / f"pred-{name}"
        argv = ["eval", "--benchmark", str(files / "bench.jsonl"), "--predictions", str(bad), "--output-dir", str(out)]
    else:
        argv = ["eval", "--benchmark", str(bad), "--predictions", str(files / "predictions.jsonl"),
                "--output-dir", str(out)]
    err = one_line_error(argv, capsys, monkeypatch, out)
    assert str(bad) in err and BAD_FILES[name][1] in err, err


def test_the_good_files_score(files, tmp_path):
    """The fixture's good files really are good: the failures above come from the damage alone."""
    out = tmp_path / "out"
    assert main(["eval", "--benchmark", str(files / "bench.jsonl"), "--predictions", str(files / "predictions.jsonl"),
                 "--output-dir", str(out)]) == 0
    [summary] = json.loads((out / "summary.json").read_text()).values()
    assert summary["accuracy"] == 1.0 and summary["n"] == len(ROWS)


@pytest.mark.parametrize("recipe, message", [
    ("learning_rate: [1, 2]\n", "learning_rate: expected a float, got list [1, 2]"),
    ("max_steps: 1.5\n", "max_steps: expected an int, got float 1.5"),
    ("use_peft: 1\n", "use_peft: expected a bool, got int 1"),
    ("report_to: 3\n", "report_to: expected null or a str or a list of str, got int 3"),
    ("lora_target_modules: {q: 1}\n", "lora_target_modules: expected a list of str or null, got dict"),
])
def test_recipe_value_of_the_wrong_type(recipe, message, tiny_model_dir, files, tmp_path, capsys, monkeypatch):
    path = tmp_path / "recipe.yaml"
    path.write_text(recipe)
    out = tmp_path / "out"
    err = one_line_error(train_argv(tiny_model_dir, files / "bench.jsonl", out, "--config", str(path)),
                         capsys, monkeypatch, out)
    assert f"--config {path}: {message}" in err


def test_recipe_strings_and_numbers_still_convert(tmp_path):
    from vigor.cli import build_parser
    from vigor.training.cli import build_config

    path = tmp_path / "recipe.yaml"
    path.write_text("learning_rate: 2e-6\nnum_train_epochs: 2\nmax_steps: '3'\nuse_peft: 'true'\n"
                    "lora_target_modules: all-linear\nreport_to: [tensorboard]\nuse_cpu: true\n")
    args = build_parser().parse_args(["train", "--dataset", "d.jsonl", "--output-dir", str(tmp_path / "o"),
                                      "--config", str(path)])
    config = build_config(args)
    assert (config.learning_rate, config.num_train_epochs, config.max_steps, config.use_peft) == (2e-6, 2.0, 3, True)
    assert config.lora_target_modules == "all-linear" and config.report_to == ["tensorboard"]


@pytest.mark.parametrize("extra", [["--max-steps", "-5"], ["--max-steps", "0"], ["--max-steps=-1"]])
def test_max_steps_below_one(extra, tiny_model_dir, files, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    err = one_line_error(train_argv(tiny_model_dir, files / "bench.jsonl", out, *extra), capsys, monkeypatch, out)
    assert f"--max-steps must be >= 1, got {extra[-1].split('=')[-1]}" in err


def test_max_steps_from_a_recipe(tiny_model_dir, files, tmp_path, capsys, monkeypatch):
    path = tmp_path / "recipe.yaml"
    path.write_text("max_steps: 0\n")
    out = tmp_path / "out"
    argv = train_argv(tiny_model_dir, files / "bench.jsonl", out, "--config", str(path))
    assert "--max-steps must be >= 1, got 0" in one_line_error(argv, capsys, monkeypatch, out)


@pytest.fixture(scope="module")
def fifty_mb_prompt(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.jsonl"
    path.write_bytes(jsonl(ROWS[:2]) + jsonl([{"question": "x" * (50 * 2**20), "answer": "1"}]) + jsonl(ROWS[2:]))
    return path


def test_fifty_mb_prompt_fails_by_its_length_alone(fifty_mb_prompt, tiny_model_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    for argv in (train_argv(tiny_model_dir, fifty_mb_prompt, out), analyze_argv(tiny_model_dir, fifty_mb_prompt, out)):
        err = one_line_error(argv, capsys, monkeypatch, out)
        assert f"{fifty_mb_prompt}:3: prompt of 52,4" in err, err  # 50 MiB and the template's text
        assert " characters is longer than the model's context of 512 tokens less " in err, err


def test_prompt_longer_than_max_prompt_length(tiny_model_dir, files, tmp_path, capsys, monkeypatch):
    path = tmp_path / "long.jsonl"
    path.write_bytes(jsonl([ROWS[0], {"question": "long " * 20, "answer": "1"}, ROWS[1]]))
    out = tmp_path / "out"
    from transformers import AutoTokenizer

    from vigor.data import format_prompt

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)  # the model folder's tokenizer, as training loads it
    lengths = [len(tok(format_prompt(text, tok, system_prompt=""), add_special_tokens=False)["input_ids"])
               for text in (ROWS[0]["question"], "long " * 20)]
    assert lengths[0] <= 60 < lengths[1]
    argv = train_argv(tiny_model_dir, path, out, "--max-prompt-length", "60", "--system-prompt", "")
    err = one_line_error(argv, capsys, monkeypatch, out)
    assert f"{path}:2: prompt of {lengths[1]} tokens is longer than max_prompt_length=60 tokens (1 of 3 prompts are); " \
           "pass --long-prompts drop to train on the others" in err
    argv = train_argv(tiny_model_dir, path, out, "--max-completion-length", "512")
    assert "max_completion_length=512 leaves no room for a prompt in the model's context of 512 tokens" in \
        one_line_error(argv, capsys, monkeypatch, out)
    argv = train_argv(tiny_model_dir, path, out, "--max-prompt-length", "10", "--long-prompts", "drop")
    assert "(3 of 3 prompts are)" in one_line_error(argv, capsys, monkeypatch, out)


def test_long_prompts_drop_keeps_the_others(tiny_model_dir, tmp_path, capsys):
    from vigor.training import VigorGRPOConfig
    from vigor.training.run import check_before_loading

    path = tmp_path / "long.jsonl"
    path.write_bytes(jsonl([ROWS[0], {"question": "long " * 20, "answer": "1"}, ROWS[1]]))
    config = VigorGRPOConfig(model_name_or_path=tiny_model_dir, dataset=str(path), output_dir=str(tmp_path / "o"),
                             use_cpu=True, num_generations=2, per_device_train_batch_size=2, max_completion_length=8,
                             max_prompt_length=60, long_prompts="drop", system_prompt="", report_to="none")
    records, prompts = check_before_loading(config)[:2]
    assert [r.prompt for r in records] == [ROWS[0]["question"], ROWS[1]["question"]]
    assert prompts == [f"<|im_start|>user\n{r.prompt}<|im_end|>\n<|im_start|>assistant\n" for r in records]
    assert "data " + str(path) + ": 3 rows, format plain text; prompt: 'question' (text); gold: 'answer'" in \
        capsys.readouterr().out
    assert not (tmp_path / "o").exists()


def test_verl_parquet_trains_and_prints_its_format(tiny_model_dir, tmp_path, capsys):
    """A real (seconds-long) GRPO run on a verl-style Parquet file: the format line, and the gold answers
    reach the accuracy monitor."""
    rows = [{"data_source": "sums", "prompt": [{"role": "user", "content": f"{i}+{i}="}],
             "reward_model": {"style": "rule", "ground_truth": str(2 * i)}, "extra_info": {"index": i}}
            for i in range(4)]
    path = tmp_path / "verl.parquet"
    path.write_bytes(parquet(rows))
    out = tmp_path / "run"
    argv = train_argv(tiny_model_dir, path, out, "--max-steps", "1", "--save-strategy", "no", "--system-prompt", "",
                      "--disable-tqdm", "true", "--dataloader-num-workers", "0")
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert f"vigor train: data {path}: 4 rows, format verl; prompt: 'prompt' (chat messages); " \
           "gold: 'reward_model.ground_truth', data source 'data_source'" in stdout
    [metrics] = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "gold_accuracy" in metrics


def test_analyze_reads_a_trl_conversational_file_and_prints_its_format(tiny_model_dir, tmp_path, capsys):
    rows = [{"prompt": [{"role": "user", "content": f"{i}+{i}="}], "answer": str(2 * i)} for i in range(2)]
    path = tmp_path / "trl.jsonl"
    path.write_bytes(jsonl(rows))
    out = tmp_path / "analysis"
    assert main(analyze_argv(tiny_model_dir, path, out, "--bootstrap", "10")) == 0
    assert f"vigor analyze: data {path}: 2 rows, format TRL conversational; prompt: 'prompt' (chat messages); " \
           "gold: 'answer'" in capsys.readouterr().out
    completions = json.loads((out / "analysis.json").read_text())["completions"]
    assert [c["gold"] for c in completions] == ["0", "0", "2", "2"]
