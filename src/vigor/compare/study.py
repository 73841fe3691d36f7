"""A study: one `vigor train` run per (reward, seed), resumable, with a manifest.

OUT/study.json        what the study is (model, data, every training and evaluation setting) and its
                      rewards, seeds and benchmarks; a later invocation with other settings is refused
OUT/base/             the base model's held-out evaluation, made once and used as step 0 of every run
OUT/<arm>/seed<k>/    one run (metrics.jsonl, eval/step-N/, best/, the final model, run.json when done); an arm is a
                      `--rewards` entry, a reward with optional settings (vigor.compare.arms), its folder the entry
                      made file-system safe (study.json's "arms" records each arm's folder and settings)
OUT/study.log.jsonl   one line per run and invocation: skip, train or resume (from which step)

All runs train on the same prompts (loaded with the study's data seed) and differ only in the
arm (its reward and settings) and the seed (sampling, shuffling, the random reward). A run with run.json is finished and
skipped; one with a complete checkpoint resumes from the last one; any other folder starts afresh (its files
deleted first, so vigor train's refusal of a folder holding another run never fires here).
Checkpoints are saved at each evaluation (unless the preset, recipe or command line sets save_strategy,
save_steps or save_total_limit: those are kept) and deleted once the run is finished (best/ and the final
model stay).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

MANIFEST = "study.json"
LOG = "study.log.jsonl"
BASE_DIR = "base"
RUN_FILE = "run.json"
# config fields that do not change what a run computes, or that differ between the runs of one study
NOT_IDENTITY = {"output_dir", "logging_dir", "run_name", "resume", "seed", "reward", "eval_initial_dir", "save_best",
                "report_to", "disable_tqdm", "dataloader_num_workers", "save_total_limit", "log_level",
                "logging_steps", "save_steps", "save_strategy", "reward_dump", "push_to_hub", "hub_token",
                "per_device_eval_batch_size",
                "dataloader_pin_memory"}  # moves no number; vigor turned it off on CPUs after studies had recorded it


class StudyError(ValueError):
    """A one-line problem with the study's input or output folder, found before any training."""


@dataclasses.dataclass
class RunSpec:
    reward: str
    seed: int
    folder: Path

    @property
    def name(self) -> str:
        return f"{self.reward}/seed{self.seed}"


def run_specs(out: Path, rewards: list[str], seeds: list[int]) -> list[RunSpec]:
    """One run per arm (a `--rewards` entry, vigor.compare.arms) and seed, in OUT/<the arm's folder>/seed<k>."""
    from vigor.compare.arms import arm_folder

    return [RunSpec(r, s, out / arm_folder(r) / f"seed{s}") for r in rewards for s in seeds]


def file_digest(path: str) -> str | None:
    """sha256 of a data file (a folder or a name: None), so a changed file under the same name is noticed."""
    if not os.path.isfile(path):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def identity(config) -> dict:
    """What makes two invocations the same study: every setting but the per-run and cosmetic ones."""
    values = {k: v for k, v in config.to_dict().items() if k not in NOT_IDENTITY}
    values["dataset_sha256"] = file_digest(config.dataset) if config.dataset else None
    return json.loads(json.dumps(values, default=str))


def check_study_folder(out: Path) -> None:
    """A study goes into a new or empty folder, or one holding a study (its manifest)."""
    if not (out / MANIFEST).exists() and out.exists() and any(p.name != LOG for p in out.iterdir()):
        raise StudyError(f"--output-dir {out} is not empty and holds no {MANIFEST}; choose an empty or new folder")


def check_manifest(out: Path, config, rewards: list[str], seeds: list[int], benchmarks: list[dict],
                   arms: dict | None = None) -> dict:
    """The manifest to write: refuses a folder holding another study, or an arm (an entry of `rewards`) whose
    settings are not those it was trained with; adds new arms and seeds to the old. `arms`: {entry: its record
    (vigor.compare.arms.arm_record)}; an arm's identity is the study's plus its record."""
    arms = arms or {}
    new = {"identity": identity(config), "rewards": rewards, "seeds": seeds, "benchmarks": benchmarks, "arms": arms}
    path = out / MANIFEST
    check_study_folder(out)
    if not path.exists():
        return new
    old = json.loads(path.read_text())
    # settings both invocations know (a field added by a newer vigor is not a difference), model and data first
    shared = (set(old["identity"]) & set(new["identity"])) | {"model_name_or_path", "dataset", "dataset_sha256"}
    for key in sorted(shared, key=lambda k: (k != "model_name_or_path", k != "dataset", k)):
        before, now = old["identity"].get(key), new["identity"].get(key)
        if before != now:
            raise StudyError(f"--output-dir {out} holds a different study ({key} was {before!r}, now {now!r}); "
                             "use another folder")
    for entry, record in arms.items():
        before = old.get("arms", {}).get(entry)
        if before is not None and before != record:
            key = next(k for k in record if before.get(k) != record[k])
            raise StudyError(f"--output-dir {out}: arm {entry} was trained with {key} {before.get(key)!r}, now "
                             f"{record[key]!r}; use another folder")
    new["arms"] = {**old.get("arms", {}), **arms}
    new["rewards"] = list(dict.fromkeys(old["rewards"] + rewards))
    new["seeds"] = list(dict.fromkeys(old["seeds"] + seeds))
    return new


def log_event(out: Path, run: RunSpec, action: str, **extra) -> None:
    with open(out / LOG, "a") as f:
        f.write(json.dumps({"run": run.name, "action": action, "time": time.time(), **extra}) + "\n")


def evaluate_base(out: Path, config, model_path: str, log=print) -> Path:
    """The base model's held-out evaluation, once per study (OUT/base/summary.json marks it done)."""
    folder = out / BASE_DIR
    if (folder / "summary.json").exists():
        return folder
    from vigor.models import load_model_and_tokenizer
    from vigor.training.heldout import evaluate_model

    log(f"evaluating the base model on {', '.join(config.eval_benchmark)}")
    # where and how training's own step-0 evaluation would run: the trainer's device and attention kernel
    model, tokenizer = load_model_and_tokenizer(model_path, dtype=config.model_dtype, device=config.device,
                                                attn_implementation=config.attn_implementation)
    partial = out / (BASE_DIR + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    evaluate_model(model, tokenizer, config, str(partial))
    partial.rename(folder)
    return folder


def run_state(run: RunSpec) -> tuple[str, int]:
    """('done', steps) | ('resume', checkpoint step) | ('train', 0)."""
    from vigor.training import last_checkpoint

    if (run.folder / RUN_FILE).exists():
        return "done", json.loads((run.folder / RUN_FILE).read_text()).get("steps", 0)
    checkpoint = last_checkpoint(str(run.folder))
    if checkpoint is not None:
        return "resume", int(checkpoint.rsplit("-", 1)[-1])
    return "train", 0


def train_run(run: RunSpec, config, out: Path, log=print) -> dict:
    """Train (or resume, or skip) one run; return its run.json."""
    from vigor.training import TrainingStopped, train

    state, step = run_state(run)
    if state == "done":
        log_event(out, run, "skip")
        log(f"{run.name}: finished earlier, skipped")
        return json.loads((run.folder / RUN_FILE).read_text())
    if state == "train":
        shutil.rmtree(run.folder, ignore_errors=True)  # a start that never reached a checkpoint
    config.resume = state == "resume"
    log_event(out, run, state, from_step=step)
    log(f"{run.name}: {'resuming from step ' + str(step) if state == 'resume' else 'training'}")
    started, stopped = time.time(), None
    try:
        train(config)
    except TrainingStopped as err:
        stopped = str(err)
    from vigor.training.callbacks import read_metrics

    steps = max((r.get("step", 0) for r in read_metrics(str(run.folder))), default=0)
    result = {"reward": run.reward, "seed": run.seed, "steps": steps, "stopped": stopped,
              "wall_s": round(time.time() - started, 1), "resumed_from": step if state == "resume" else None}
    for checkpoint in run.folder.glob("checkpoint-*"):
        shutil.rmtree(checkpoint, ignore_errors=True)
    (run.folder / RUN_FILE).write_text(json.dumps(result, indent=1) + "\n")
    log_event(out, run, "done", steps=steps)
    return result
