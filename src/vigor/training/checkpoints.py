"""No run lost: where a run starts (fresh, `--resume`, `--overwrite`) and checkpoints written whole or not at all.

Starting: an output folder that holds another run's files (its checkpoints, metrics or model, `RUN_SIGNS`) is
refused unless `--resume` (go on from its last complete checkpoint) or `--overwrite` (delete the files a vigor
run writes, `run_entries`, and start again; any other file in the folder is kept). Both are checked before the
model loads (`start_checkpoint`); the files go only once every check has passed (`clear_for_overwrite`).

Saving: transformers writes a checkpoint file by file into `checkpoint-N` (weights, optimizer, scheduler, RNG,
trainer_state.json last), so a kill in between left a folder that `--resume` would load half of. vigor writes it
into OUTPUT_DIR/.checkpoint-staging/checkpoint-N and renames that into place once whole; a rename within one
file system is atomic, so a kill at any moment leaves the previous checkpoints or the new one as well. Older
checkpoints are rotated away (save_total_limit) only after the rename. A `checkpoint-N` left incomplete by a
vigor before this (no readable trainer_state.json of step N) is named and skipped by `--resume`.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import os
import re
import shutil

logger = logging.getLogger("vigor.training")

STAGING_DIR = ".checkpoint-staging"  # hidden, and not `checkpoint-*`: transformers' rotation never sees it
CHECKPOINT_NAME = re.compile(r"checkpoint-(\d+)")
STATE_FILE = "trainer_state.json"  # transformers writes it last into a checkpoint
WEIGHT_PATTERNS = ("model.safetensors", "model-*.safetensors", "model.safetensors.index.json",
                   "adapter_model.safetensors", "pytorch_model*.bin", "adapter_model.bin")
# what the final model save writes besides its weights (transformers and TRL), and TensorBoard's folder
MODEL_FILES = ("config.json", "generation_config.json", "adapter_config.json", "training_args.bin", "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "vocab.json", "merges.txt",
               "added_tokens.json", "tokenizer.model", "runs")


def run_signs() -> tuple[str, ...]:
    """Names (glob patterns) whose presence means the folder holds a run: checkpoints, metrics, weights."""
    from vigor.training.callbacks import METRICS_FILE, SAMPLED_FILES

    return ("checkpoint-*", STAGING_DIR, METRICS_FILE, *SAMPLED_FILES, *WEIGHT_PATTERNS)


def run_entries() -> tuple[str, ...]:
    """Every name (glob pattern) a vigor run writes at the top of its output folder: what --overwrite deletes."""
    from vigor.training.callbacks import COLLAPSE_FILE
    from vigor.training.heldout import BEST_DIR, EVAL_DIR

    return (*run_signs(), *MODEL_FILES, COLLAPSE_FILE, EVAL_DIR, BEST_DIR, "run.json")


def matching(output_dir: str, patterns) -> list[str]:
    """The names in `output_dir` that match one of `patterns`, checkpoints in step order first."""
    if not os.path.isdir(output_dir):
        return []
    names = [n for n in os.listdir(output_dir) if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    return sorted(names, key=lambda n: (step_of(n) is None, step_of(n) or 0, n))


def describe(names: list[str], most: int = 4) -> str:
    """Names for a one-line message: consecutive checkpoints as one range, at most `most` items."""
    steps = [step_of(n) for n in names if step_of(n) is not None]
    items = ([f"checkpoint-{steps[0]}..{steps[-1]}" if len(steps) > 1 else f"checkpoint-{steps[0]}"] if steps else []) \
        + [n for n in names if step_of(n) is None]
    return ", ".join(items[:most]) + (", ..." if len(items) > most else "")


def is_model_card(path: str) -> bool:
    """README.md as written beside a vigor run (TRL's card, tagged vigor), not a user's own README."""
    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(4000)
    except (OSError, UnicodeDecodeError):
        return False
    return head.startswith("---") and "- vigor" in head.split("\n---", 1)[0]


def step_of(name: str) -> int | None:
    match = CHECKPOINT_NAME.fullmatch(os.path.basename(os.path.normpath(name)))
    return int(match.group(1)) if match else None


def incomplete_reason(folder: str) -> str | None:
    """None for a whole checkpoint; else what is missing (what a kill during a save used to leave)."""
    path = os.path.join(folder, STATE_FILE)
    if not os.path.isfile(path):
        present = sorted(os.listdir(folder))
        held = f"only {', '.join(present[:3])}{', ...' if len(present) > 3 else ''}" if present else "nothing"
        return f"no {STATE_FILE}, {held}"
    try:
        with open(path, encoding="utf-8") as handle:
            step = json.load(handle)["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"{STATE_FILE} unreadable"
    expected = step_of(folder)
    if expected is not None and step != expected:
        return f"{STATE_FILE} is of step {step}"
    return None


def checkpoint_folders(output_dir: str) -> list[tuple[str, str | None]]:
    """[(checkpoint-N path, why incomplete or None)] in step order."""
    return [(os.path.join(output_dir, n), incomplete_reason(os.path.join(output_dir, n)))
            for n in matching(output_dir, ["checkpoint-*"])
            if step_of(n) is not None and os.path.isdir(os.path.join(output_dir, n))]


def last_checkpoint(output_dir: str) -> str | None:
    """The complete checkpoint-N with the highest N in `output_dir`, or None."""
    complete = [path for path, reason in checkpoint_folders(output_dir) if reason is None]
    return complete[-1] if complete else None


def given_checkpoint(config) -> str:
    """TRL's `resume_from_checkpoint` as vigor reads it: '' (not given), 'last' (true/last) or a folder."""
    given = (config.resume_from_checkpoint or "").strip()
    if given.lower() in ("", "false", "none"):
        return ""
    return "last" if given.lower() in ("true", "last") else given


def start_checkpoint(config) -> str | None:
    """The checkpoint to resume from (None: start at step 0), after checking the output folder; a one-line
    ValueError when the folder holds another run and neither --resume nor --overwrite says what to do with it."""
    given, out = given_checkpoint(config), config.output_dir
    if config.overwrite and (config.resume or given):
        raise ValueError("--overwrite and --resume: choose one (--resume goes on from the last checkpoint, "
                         "--overwrite deletes the earlier run and starts again)")
    if given and given != "last":
        if not os.path.isfile(os.path.join(given, STATE_FILE)) and (not os.path.isdir(given) or step_of(given) is None):
            raise ValueError(f"--resume-from-checkpoint {given}: not a checkpoint folder (no {STATE_FILE} in it); "
                             "give a checkpoint-N folder, or --resume for the last one in the output folder")
        reason = incomplete_reason(given)
        if reason:
            raise ValueError(f"--resume-from-checkpoint {given}: an incomplete checkpoint ({reason}: a kill while it "
                             "was saved); give a complete checkpoint-N folder, or --resume for the last complete one")
        return given
    if config.resume or given:
        return resume_point(out)
    found = matching(out, run_signs())
    if found and not config.overwrite:
        raise ValueError(f"--output-dir {out} holds another run ({describe(found)}); pass --resume to go on from its last "
                         "checkpoint, --overwrite to delete its files and start again, or choose another folder")
    return None


def resume_point(output_dir: str) -> str:
    """The last complete checkpoint in `output_dir`; incomplete later ones are named and skipped."""
    folders = checkpoint_folders(output_dir)
    complete = [path for path, reason in folders if reason is None]
    skipped = [f"{os.path.basename(path)} ({reason})" for path, reason in folders
               if reason is not None and (not complete or step_of(path) > step_of(complete[-1]))]
    if not complete:
        what = f"no complete checkpoint-N folder in {output_dir} to resume from (only {'; '.join(skipped)}: " \
               "left by a kill while saving)" if skipped else f"no checkpoint-N folder in {output_dir} to resume from"
        hint = "pass --overwrite instead to delete that run and start afresh" if matching(output_dir, run_signs()) \
            else "leave --resume out to start afresh"
        raise ValueError(f"--resume: {what}; {hint}")
    if skipped and os.environ.get("RANK", "0") == "0":
        print(f"vigor train: skipping {'; '.join(skipped)}: left by a kill while saving; resuming from "
              f"{os.path.basename(complete[-1])}", flush=True)
    return complete[-1]


def clear_for_overwrite(config) -> list[str]:
    """With --overwrite, delete the files of the earlier run in output_dir (once every check has passed, on the
    main process) and return their names; files a vigor run does not write stay."""
    out = config.output_dir
    if not config.overwrite or os.environ.get("RANK", "0") != "0":
        return []
    names = matching(out, run_entries())
    if os.path.isfile(os.path.join(out, "README.md")) and is_model_card(os.path.join(out, "README.md")):
        names.append("README.md")
    for name in names:
        path = os.path.join(out, name)
        shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
    if names:
        kept = sorted(set(os.listdir(out)))
        print(f"vigor train: --overwrite: deleted the earlier run's {describe(names, most=len(names))} from {out}"
              + (f" (kept {', '.join(kept)})" if kept else ""), flush=True)
    return names


@contextlib.contextmanager
def staged_checkpoint(trainer, run_dir: str):
    """Around transformers' `_save_checkpoint`: `trainer.checkpoint_staging` points its writes to
    RUN_DIR/.checkpoint-staging (the trainer's `_get_output_dir` returns it), which then becomes RUN_DIR/checkpoint-N
    by one rename, and only then are older checkpoints rotated. Rotation inside the save sees the staging folder,
    which holds the new checkpoint alone, so it deletes nothing."""
    from transformers.trainer_utils import rotate_checkpoints

    main = trainer.args.should_save
    staging = os.path.join(run_dir, STAGING_DIR)
    name = f"checkpoint-{trainer.state.global_step}"
    if main:
        shutil.rmtree(staging, ignore_errors=True)  # what a kill during an earlier save left
    trainer.accelerator.wait_for_everyone()
    trainer.checkpoint_staging = staging
    try:
        yield staging
    finally:
        trainer.checkpoint_staging = None
    trainer.accelerator.wait_for_everyone()  # every process has written its part
    if main:
        commit(os.path.join(staging, name), os.path.join(run_dir, name))
        best = trainer.state.best_model_checkpoint
        if best and os.path.dirname(os.path.normpath(best)) == os.path.normpath(staging):
            trainer.state.best_model_checkpoint = os.path.join(run_dir, os.path.basename(best))
        rotate_checkpoints(run_dir, trainer.args.save_total_limit, trainer.state.best_model_checkpoint,
                           use_mtime=True)  # as transformers rotates, now that the new checkpoint is whole
    trainer.accelerator.wait_for_everyone()


def commit(staged: str, final: str) -> None:
    """Rename the whole `staged` checkpoint to `final`. A folder already there (an incomplete one of an older kill,
    or a later step of a run resumed from before it) is first moved into the staging folder, and goes with it."""
    staging = os.path.dirname(staged)
    if os.path.lexists(final):
        os.rename(final, os.path.join(staging, "replaced"))
    os.rename(staged, final)
    shutil.rmtree(staging, ignore_errors=True)


def planned_steps_done(checkpoint: str | None, max_steps: int) -> bool:
    """Whether `checkpoint` is at the run's last step (`max_steps`, else the total its trainer_state planned):
    a run killed after its last checkpoint but before the final model was saved."""
    if checkpoint is None:
        return False
    with open(os.path.join(checkpoint, STATE_FILE), encoding="utf-8") as handle:
        state = json.load(handle)
    total = max_steps if max_steps > 0 else state.get("max_steps", 0)
    return 0 < total <= state["global_step"]


def train_from(trainer, checkpoint: str | None) -> None:
    """`trainer.train(resume_from_checkpoint=checkpoint)`, except from a checkpoint at the last step: transformers
    5.25 checks the step limit only after a step, so it would train one step more (measured: a 2-step run resumed
    from checkpoint-2 wrote checkpoint-3); the checkpoint's weights are loaded instead, for the final model."""
    if planned_steps_done(checkpoint, trainer.args.max_steps):
        if os.environ.get("RANK", "0") == "0":
            print(f"vigor train: {checkpoint} is the run's last step: nothing left to train; its weights are the "
                  "final model", flush=True)
        trainer._load_from_checkpoint(checkpoint)
        return
    trainer.train(resume_from_checkpoint=checkpoint)
