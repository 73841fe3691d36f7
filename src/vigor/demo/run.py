"""`run_demo`: evaluate the model on held-out problems, train it with VIGOR (or another reward),
evaluate again, and write a run folder a newcomer can read:

  report.md, demo.json             what was run, measured and concluded
  metrics.jsonl, rewards.jsonl     per-step metrics; every gathered raw reward of every completion
  tensorboard/                     TensorBoard events (tensorboard --logdir RUN/tensorboard)
  *.png                            curves against step; gradient norm against correctness
  eval_before/, eval_after/        every held-out completion with its verdict
  model/                           the trained model (a full Hugging Face folder, LoRA merged)
  data/                            the exact training and held-out problems
"""

from __future__ import annotations

import json
import pathlib
import shutil
import time

from vigor.demo.settings import DemoSettings

def monitored_rewards() -> list[str]:
    """The intrinsic rewards the report compares: every registered reward read off the model (logits or
    gradients) that needs no gold answer, each scored at weight 0 beside the training reward."""
    from vigor.rewards import reward_names

    return reward_names(needs=("logits", "gradients"), gold=False)


def demo_rewards(spec: str) -> tuple:
    """The demo's `--reward`, parsed once (`vigor.rewards.parse_rewards`), plus the weight-0 monitors."""
    from vigor.rewards import parse_rewards, with_monitor

    try:
        terms = parse_rewards(spec)
    except ValueError as err:
        raise ValueError(f"--reward: {str(err).strip().splitlines()[0]}") from err
    for name in monitored_rewards():
        terms = with_monitor(terms, name)
    return terms


def spec_of(terms) -> str:
    """The spec `vigor train` reads back (`vigor.rewards.spec` grammar) for parsed terms."""
    return ",".join(t.source if t.weight == 1 else f"{t.source}:{int(t.weight) if t.weight.is_integer() else t.weight!r}"
                    for t in terms)


def write_records(path: pathlib.Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": r.id, "problem": r.prompt, "answer": r.answer}) + "\n"
                            for r in records))


# What a demo run writes in its folder (and *.png); anything else means the folder is not a demo's.
DEMO_ENTRIES = {"data", "model", "lora_adapters", "eval_before", "eval_after", "tensorboard", "metrics.jsonl",
                "rewards.jsonl", "report.md", "demo.json"}


class DemoInputError(ValueError):
    """Bad settings, reward, task, model or output folder, found before any long work; one line."""


def prepare(settings: DemoSettings, out: pathlib.Path, *, overwrite: bool) -> tuple[str, pathlib.Path, pathlib.Path, tuple]:
    """Check everything and write the data; return (model path, train file, held-out file, parsed rewards)."""
    from vigor.data import reasoning_gym_records
    from vigor.models import resolve_model_path

    try:
        settings.check()
        rewards = demo_rewards(settings.reward)
        foreign = sorted(p.name for p in out.iterdir() if p.name not in DEMO_ENTRIES and p.suffix != ".png") \
            if out.is_dir() else []
        if foreign:  # e.g. a vigor train run, whose metrics.jsonl the demo would replace
            raise ValueError(f"--output-dir {out} holds {', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}, "
                             "which a demo run does not write; choose another folder")
        if (out / "report.md").exists() or (out / "model").exists():
            if not overwrite:
                raise ValueError(f"--output-dir {out} already holds a demo run; choose another folder or pass "
                                 "--overwrite")
            for name in ("model", "lora_adapters", "eval_before", "eval_after", "tensorboard"):
                shutil.rmtree(out / name, ignore_errors=True)
            for name in ("metrics.jsonl", "rewards.jsonl", "report.md", "demo.json"):
                (out / name).unlink(missing_ok=True)
        train = reasoning_gym_records(settings.task, size=settings.train_size, seed=settings.seed)
        heldout = reasoning_gym_records(settings.task, size=settings.eval_size, seed=settings.seed, split="heldout")
        model_path = resolve_model_path(settings.model)  # converts the embedded model once (~20 s)
    except ValueError as err:  # DataError is a ValueError
        raise DemoInputError(str(err).strip().splitlines()[0]) from err
    train_path, heldout_path = out / "data" / "train.jsonl", out / "data" / "heldout.jsonl"
    write_records(train_path, train)
    write_records(heldout_path, heldout)
    return model_path, train_path, heldout_path, rewards


def run_demo(settings: DemoSettings, output_dir, *, overwrite: bool = False, progress: bool = True,
             log=print) -> dict:
    """Run the whole demo; return the numbers written to demo.json. Raises DemoInputError
    (before any long work) for bad input."""
    from vigor.evaluation.evaluate import EvalSettings, evaluate
    from vigor.precision import autocast_dtype, show_banner

    out = pathlib.Path(output_dir)
    started = time.time()
    timings: dict[str, float] = {}
    stages = 4
    log(f"[1/{stages}] preparing the model and {settings.train_size} training + {settings.eval_size} held-out "
        f"problems (reasoning-gym {settings.task}, seed {settings.seed})")
    model_path, train_path, heldout_path, rewards = prepare(settings, out, overwrite=overwrite)
    config = training_config(settings, model_path, train_path, out, progress=progress, rewards=rewards)
    show_banner(device=config.device, weights=config.model_dtype, autocast=autocast_dtype(config.bf16, config.fp16),
                log=log)
    timings["prepare"] = time.time() - started

    eval_settings = EvalSettings(max_new_tokens=settings.eval_max_new_tokens, batch_size=settings.eval_batch_size,
                                 seed=settings.seed, progress=progress)

    def evaluate_on_heldout(model, folder: str) -> dict:
        summary = evaluate(model, [str(heldout_path)], eval_settings, output_dir=out / folder)
        return next(iter(summary.values()))

    log(f"[2/{stages}] evaluating the untrained model on {settings.eval_size} held-out problems (greedy)")
    tick = time.time()
    before = evaluate_on_heldout(model_path, "eval_before")
    timings["eval_before"] = time.time() - tick
    log(f"      accuracy before: {before['accuracy']:.1%}")

    log(f"[3/{stages}] training {settings.steps} steps with reward '{settings.reward}', "
        f"G={settings.num_generations}, {'LoRA' if settings.lora else 'all weights'}")
    tick = time.time()
    train_model(settings, out, config=config, rewards=rewards, log=log, progress=progress)
    timings["train"] = time.time() - tick

    log(f"[4/{stages}] evaluating the trained model on the same {settings.eval_size} problems")
    tick = time.time()
    after = evaluate_on_heldout(str(out / "model"), "eval_after")
    timings["eval_after"] = time.time() - tick
    timings["total"] = time.time() - started

    from vigor.demo.report import summarise_run, write_report

    from vigor.training.recipe import departures

    result = summarise_run(settings, out, before, after, timings, model_path=model_path)
    # named as the user knows them: the embedded model, the reasoning-gym task (not the demo's data file)
    result["departures"] = departures({**config.to_dict(), "model_name_or_path": None,
                                       "dataset": f"reasoning-gym:{settings.task}"})
    write_report(result, out)
    log(result["headline"])
    log(f"wrote {out}/report.md (and plots, metrics.jsonl, tensorboard/, model/)")
    return result


def training_config(settings: DemoSettings, model_path: str, train_path, out: pathlib.Path, *, progress: bool = True,
                    rewards: tuple | None = None):
    import torch

    from vigor.training import VigorGRPOConfig

    # weight-0 monitors for the report's premise section; they share the VIGOR forward pass
    reward = spec_of(rewards or demo_rewards(settings.reward))
    return VigorGRPOConfig(
        output_dir=str(out / "model"), model_name_or_path=model_path, dataset=str(train_path), reward=reward,
        max_steps=settings.steps, num_generations=settings.num_generations,
        per_device_train_batch_size=settings.num_generations * settings.prompts_per_step,
        gradient_accumulation_steps=1, max_completion_length=settings.max_new_tokens,
        learning_rate=settings.lora_learning_rate if settings.lora else settings.learning_rate,
        use_peft=settings.lora, beta=settings.beta, warmup_steps=settings.warmup_steps,
        temperature=settings.temperature, seed=settings.seed,
        use_cpu=not torch.cuda.is_available(), save_strategy="no", reward_dump=True, logging_steps=1,
        report_to=["tensorboard"], disable_tqdm=not progress,  # --no-progress: the step logs without the bar
        gradient_checkpointing=False)  # TRL turns it on; a 135 M model fits easily, recomputing costs time


def train_model(settings: DemoSettings, out: pathlib.Path, *, config, rewards: tuple, log=print,
                progress: bool = True) -> None:
    """Train `config` (`training_config`'s) with the demo's step display and pace watch; `rewards`: its parsed terms."""
    from vigor.demo.pace import StepProgress, StepTimeWatch
    from vigor.training import train

    watch = StepTimeWatch(settings.step_budget_s, bf16_on_cpu=config.bf16 and config.device.type == "cpu", log=log)
    shown = StepProgress(rewards[0].name, bar=progress, log=log)
    train(config, callbacks=[shown, watch])
    model_dir = out / "model"
    for name in ("metrics.jsonl", "rewards.jsonl"):
        if (model_dir / name).exists():
            shutil.move(str(model_dir / name), str(out / name))
    events = sorted({p.parent for p in model_dir.rglob("events.out.tfevents*")})
    if events:
        (out / "tensorboard").mkdir(exist_ok=True)
        for folder in events:
            shutil.move(str(folder), str(out / "tensorboard" / folder.name))
        for leftover in ("runs", "logs"):
            if (model_dir / leftover).is_dir() and not any((model_dir / leftover).rglob("*.tfevents*")):
                shutil.rmtree(model_dir / leftover, ignore_errors=True)
    if settings.lora:
        merge_lora(model_dir)


def merge_lora(model_dir: pathlib.Path) -> None:
    """Replace the saved adapters by the merged full model, so `model/` is a plain model folder."""
    from vigor.models import load_model_and_tokenizer

    merged, tokenizer = load_model_and_tokenizer(model_dir)  # the adapters merged into their base
    adapters = model_dir.parent / "lora_adapters"
    shutil.rmtree(adapters, ignore_errors=True)
    model_dir.rename(adapters)
    merged.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
