"""`run_analysis`: does an intrinsic reward tell correct from incorrect completions for this
model on this data, before any training? Sample G completions per prompt, grade them against
the gold answers, compute every signal, summarise (see `vigor.analysis.stats`) and write
analysis.json, analysis.md and gradnorm_vs_correct.png."""

from __future__ import annotations

import json
import pathlib
import time
from dataclasses import dataclass

import numpy as np

from vigor.analysis.signals import signal_names
from vigor.analysis.stats import signal_summary

DEFAULT_DATASET = "gsm_symbolic"


@dataclass(frozen=True)
class AnalysisSettings:
    """What `vigor analyze` runs, built once by its command line (vigor.analysis.cli) and read by `run_analysis`.
    The defaults are the command's."""
    output_dir: str
    model: str | None = None             # folder or hub id; None or "default": the embedded SmolLM2-135M-Instruct
    dataset: str | None = None           # None: DEFAULT_DATASET
    prompt_column: str | None = None     # auto-detected when None
    answer_column: str | None = None
    num_prompts: int = 16
    num_generations: int = 8             # G completions per prompt
    max_new_tokens: int = 256
    temperature: float = 0.9
    top_k: int = 50
    system_prompt: str | None = "boxed"
    batch_size: int = 8                  # completions generated at once
    micro_batch_size: int = 8            # completions per gradient-norm pass
    bootstrap_resamples: int = 1000      # --bootstrap
    seed: int = 0
    progress: bool = True
    attn_implementation: str = "sdpa"
    device: str = "auto"                 # see vigor.precision.resolve_device_and_dtype
    dtype: str = "auto"
    grad_params: tuple[str, ...] = ()    # --grad-params, repeatable: VIGOR over these parameter subsets too
    stop_if_unmixed: int | None = None   # --stop-if-unmixed N: stop when the first N groups are all unmixed

    def check(self) -> None:
        """Fail fast, before any model is loaded, naming the bad setting."""
        if self.num_prompts < 1:
            raise ValueError(f"--num-prompts must be >= 1, got {self.num_prompts}")
        if self.num_generations < 2:
            raise ValueError("--num-generations must be >= 2 to compare completions within a group, "
                             f"got {self.num_generations}")
        if self.max_new_tokens < 1:
            raise ValueError(f"--max-new-tokens must be >= 1, got {self.max_new_tokens}")
        if not self.temperature > 0:
            raise ValueError(f"--temperature must be > 0 (the G samples of a prompt must differ), got {self.temperature}")
        if self.bootstrap_resamples < 1:
            raise ValueError(f"--bootstrap must be >= 1, got {self.bootstrap_resamples}")
        if self.stop_if_unmixed is not None and self.stop_if_unmixed < 1:
            raise ValueError(f"--stop-if-unmixed must be >= 1 (groups), got {self.stop_if_unmixed}")
        from vigor.gradnorm import parameter_pattern

        for pattern in self.grad_params:
            try:
                parameter_pattern(pattern)
            except ValueError as err:
                raise ValueError(f"--grad-params: {err}") from None


def load_prompts(dataset: str | None, num_prompts: int, *, seed: int = 0, prompt_column: str | None = None,
                 answer_column: str | None = None):
    """The first `num_prompts` records with a gold answer (the training split for a procedural set); the columns
    are auto-detected unless named."""
    from vigor.data import load_records_and_format

    source = dataset or DEFAULT_DATASET
    procedural = source == DEFAULT_DATASET or source.startswith("reasoning-gym:")
    records, data_format = load_records_and_format(source, limit=num_prompts, seed=seed,
                                                   split="train" if procedural else None,
                                                   prompt_column=prompt_column, answer_column=answer_column)
    if data_format is not None:
        print(f"vigor analyze: data {source}: {len(records)} rows, {data_format.describe()}", flush=True)
    with_answer = [r for r in records if r.answer not in (None, "")]
    if not with_answer:
        raise ValueError(f"--dataset {source}: none of its first {len(records)} records has a gold answer; "
                         "analyze needs answers to know which completions are correct")
    return source, with_answer


def fitting_prompts(model: str | None, records, *, system_prompt: str | None, max_new_tokens: int):
    """(records, templated prompts, the model's tokenizer), by the tokenizer alone, before the weights load; a
    prompt that with max_new_tokens overruns the model's context (`vigor.data.lengths.prompt_budget`) is a
    one-line error naming its row."""
    from vigor.data import format_prompt
    from vigor.data.lengths import fit_prompts, prompt_budget
    from vigor.models import load_tokenizer_and_context

    tokenizer, context = load_tokenizer_and_context(model)
    prompts = [format_prompt(r.messages or r.prompt, tokenizer, system_prompt=system_prompt) for r in records]
    budget, what = prompt_budget(context, max_new_tokens, f"--max-new-tokens {max_new_tokens}")
    if budget is None:
        return records, prompts, tokenizer
    return (*fit_prompts(records, prompts, tokenizer, budget, what), tokenizer)


def run_analysis(settings: AnalysisSettings) -> dict:
    """Sample, grade and score; the model runs on `settings.device` in `settings.dtype`
    (`vigor.precision.resolve_device_and_dtype`: auto = float32 on a CPU, bfloat16 on a GPU that supports it), which
    the gradient norms are computed in too."""
    s = settings
    s.check()
    from vigor.analysis.streaming import sample_grade_and_score
    from vigor.models import check_attn_implementation, load_model_and_tokenizer
    from vigor.precision import resolve_device_and_dtype, show_banner

    device, dtype = resolve_device_and_dtype(s.device, s.dtype)
    check_attn_implementation(s.attn_implementation, on_cuda=device.type == "cuda")

    start = time.time()
    output_dir = pathlib.Path(s.output_dir)
    source, records = load_prompts(s.dataset, s.num_prompts, seed=s.seed, prompt_column=s.prompt_column,
                                   answer_column=s.answer_column)
    records, prompts, tokenizer = fitting_prompts(s.model, records, system_prompt=s.system_prompt,
                                                  max_new_tokens=s.max_new_tokens)
    lm, tokenizer = load_model_and_tokenizer(s.model, dtype=dtype, device=device,
                                             attn_implementation=s.attn_implementation, tokenizer=tokenizer)
    show_banner(device=lm.device, weights=lm.dtype)  # analyze never autocasts
    run = sample_grade_and_score(lm, tokenizer, records, prompts, s)
    records = records[:run.groups]
    result = summarise_completions(records, run.texts, run.verdicts, run.signals, s.num_generations,
                                   resamples=s.bootstrap_resamples, seed=s.seed)
    if s.grad_params:
        from vigor.analysis.subsets import subset_norms, subset_report

        norms, seconds = subset_norms(lm, tokenizer, run.prompt_ids, run.completion_ids, s.grad_params,
                                      micro_batch_size=s.micro_batch_size)
        result["grad_params"] = subset_report(norms, seconds, s.num_generations)
        for i, row in enumerate(result["completions"]):
            row["grad_norm_corrected_subsets"] = {p: _num(norms[p][i]) for p in s.grad_params}
            row["grad_norm_corrected_full"] = _num(norms["full"][i])
    if run.stopped:
        result["stopped"] = run.stopped
    signals = run.signals
    result["settings"] = dict(model=s.model or "default", dataset=source, num_prompts=len(records),
                              num_generations=s.num_generations, max_new_tokens=s.max_new_tokens,
                              temperature=s.temperature, top_k=s.top_k, system_prompt=s.system_prompt,
                              bootstrap_resamples=s.bootstrap_resamples, seed=s.seed)
    result["seconds"] = round(time.time() - start, 1)
    write_outputs(result, signals, output_dir)
    return result


def analyze_completions(model, tokenizer, records, prompt_ids, completion_ids, num_generations: int, *,
                        micro_batch_size: int = 8, resamples: int = 1000, seed: int = 0, progress: bool = True):
    """Grade and score given completions (rows i*G .. i*G+G-1 answer records[i]); returns
    (result dict with per-signal statistics and per-completion rows, signal arrays)."""
    from vigor.analysis.signals import compute_signals
    from vigor.evaluation.grading import grade_math_many

    if len(completion_ids) != len(records) * num_generations or len(prompt_ids) != len(completion_ids):
        raise ValueError(f"expected {len(records)} x {num_generations} completions and prompts, "
                         f"got {len(completion_ids)} completions and {len(prompt_ids)} prompts")
    texts = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
    golds = [r.answer for r in records for _ in range(num_generations)]
    verdicts = grade_math_many(list(zip(texts, golds)))
    signals = compute_signals(model, tokenizer, prompt_ids, completion_ids, micro_batch_size=micro_batch_size,
                              progress=progress)
    return summarise_completions(records, texts, verdicts, signals, num_generations, resamples=resamples,
                                 seed=seed), signals


def summarise_completions(records, texts, verdicts, signals, num_generations: int, *, resamples: int = 1000,
                          seed: int = 0) -> dict:
    """The result dict of graded, scored completions: per-signal statistics and per-completion rows."""
    golds = [r.answer for r in records for _ in range(num_generations)]
    result = summarise(signals, [v.correct for v in verdicts], num_generations, resamples=resamples, seed=seed)
    names = signal_names()
    result["completions"] = [
        dict(prompt_id=records[i // num_generations].id, sample=i % num_generations, gold=golds[i],
             extracted=verdicts[i].extracted, correct=bool(verdicts[i].correct), text=texts[i],
             truncated=bool(signals["truncated"][i]),
             grad_norm=_num(signals["grad_norm"][i]), grad_norm_corrected=_num(signals["grad_norm_corrected"][i]),
             **{name: _num(signals[name][i]) for name in names})
        for i in range(len(texts))]
    return result


def summarise(signals: dict[str, np.ndarray], correct, group_size: int, *, resamples: int = 1000,
              seed: int = 0) -> dict:
    """Per-signal statistics (see `signal_summary`) and the overall accuracy."""
    correct = np.asarray(correct, dtype=bool).reshape(-1, group_size)
    per_signal = {name: signal_summary(np.asarray(signals[name]).reshape(-1, group_size), correct,
                                       resamples=resamples, seed=seed) for name in signal_names()}
    return {"accuracy": float(correct.mean()), "n_completions": int(correct.size),
            "n_groups": int(correct.shape[0]), "group_size": group_size, "signals": per_signal}


MIN_MIXED_GROUPS = 5  # below this a bootstrap interval over prompts means little


def verdict(summary: dict) -> str:
    """One sentence on whether a signal's within-group AUROC is distinguishable from 0.5."""
    mixed = summary["n_groups_mixed"]
    if mixed == 0:
        return "not measurable: no prompt had both correct and incorrect completions"
    if mixed < MIN_MIXED_GROUPS:
        return f"too few prompts with both correct and incorrect completions ({mixed} < {MIN_MIXED_GROUPS}) to tell"
    low, high = summary["auroc_ci"]
    if low > 0.5:
        return "predicts correctness (AUROC CI above 0.5)"
    if high < 0.5:
        return "predicts the WRONG way (AUROC CI below 0.5)"
    return "inconclusive (AUROC CI contains 0.5)"


def write_outputs(result: dict, signals: dict, output_dir: pathlib.Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "analysis.json").write_text(json.dumps(_jsonable(result), indent=2) + "\n")
    (output_dir / "analysis.md").write_text(markdown_report(result))
    correct = np.array([c["correct"] for c in result["completions"]], dtype=bool)
    plot_gradnorm_vs_correct(signals["grad_norm"], signals["grad_norm_corrected"], correct,
                             output_dir / "gradnorm_vs_correct.png")


def markdown_report(result: dict) -> str:
    s = result["settings"]
    lines = [
        "# Does an intrinsic reward predict correctness here?", "",
        f"Model `{s['model']}`, data `{s['dataset']}`: {result['n_groups']} prompts x {result['group_size']} "
        f"completions (temperature {s['temperature']}, top-k {s['top_k']}, at most {s['max_new_tokens']} new tokens), "
        f"graded against the gold answers with math-verify. Accuracy of the samples: "
        f"{result['accuracy']:.1%}. Took {result.get('seconds', 0):.0f} s.", "",
        "Every signal is oriented so that higher = predicted better (VIGOR: minus the gradient norm). "
        "AUROC: the mean over prompts with both correct and incorrect completions of P(a correct completion "
        "outscores an incorrect one), ties counting 1/2; 0.5 = no information. Spearman: rank correlation "
        "of signal and correctness over all completions pooled. Top-1: how often the top-scored completion "
        "of a prompt is correct, against chance (the prompt's fraction correct). Brackets: 95 % bootstrap "
        f"intervals over prompts ({s['bootstrap_resamples']} resamples).", "",
    ] + signal_table(result["signals"])
    vigor = result["signals"]["vigor"]
    lines += ["", f"**VIGOR here:** {verdict(vigor)}."]
    if result.get("stopped"):
        lines += ["", f"**Ended early:** {result['stopped']}."]
    if result.get("grad_params"):
        from vigor.analysis.subsets import subset_table

        lines += ["", "## VIGOR over parameter subsets (`--grad-params`)", "",
                  "Corrected norms ||g_S|| sqrt(T) against the full ||g|| sqrt(T), within each group "
                  "(see vigor.analysis.subsets).", ""] + subset_table(result["grad_params"])
    if 0 < vigor["n_groups_mixed"] < 10:
        lines.append(f"Only {vigor['n_groups_mixed']} prompt(s) had both correct and incorrect completions; "
                     "use more prompts (--num-prompts) for a firmer answer.")
    lines += ["", "![corrected gradient norm against correctness](gradnorm_vs_correct.png)", ""]
    return "\n".join(lines)


def signal_table(signals: dict[str, dict]) -> list[str]:
    """Markdown table rows, one per signal (a `signal_summary` each). Below MIN_MIXED_GROUPS mixed
    prompts the AUROC is not printed: the verdict says there are too few to tell."""
    lines = ["| signal | AUROC | mixed prompts | Spearman | top-1 correct | chance | lift | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for name, m in signals.items():
        area = _ci(m["auroc"], m["auroc_ci"]) if m["n_groups_mixed"] >= MIN_MIXED_GROUPS else "-"
        lines.append(f"| {name} | {area} | {m['n_groups_mixed']} | "
                     f"{_ci(m['spearman'], m['spearman_ci'])} | {_ci(m['top1_correct'], m['top1_correct_ci'])} | "
                     f"{m['chance']:.3f} | {_ci(m['top1_lift'], m['top1_lift_ci'], signed=True)} | {verdict(m)} |")
    return lines


def plot_gradnorm_vs_correct(raw, corrected, correct, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharex=True)
    for ax, values, title in ((axes[0], corrected, "corrected  ||g|| * sqrt(T)  (VIGOR)"),
                              (axes[1], raw, "uncorrected  ||g||")):
        values = np.asarray(values, dtype=float)
        ok = np.isfinite(values)
        x = correct.astype(float) + rng.uniform(-0.15, 0.15, correct.size)
        for label, color in ((False, "tab:red"), (True, "tab:green")):
            sel = ok & (correct == label)
            ax.scatter(x[sel], values[sel], s=12, alpha=0.6, color=color,
                       label=f"{'correct' if label else 'incorrect'} (n={int(sel.sum())})")
        ax.set_xticks([0, 1], ["incorrect", "correct"])
        ax.set_xlim(-0.5, 1.5)
        ax.set_title(title, fontsize=10)
        if ok.any() and np.all(values[ok] > 0):
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("gradient norm (smaller = higher VIGOR reward)")
    fig.suptitle("Gradient norm of each sampled completion against its correctness")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ci(value, ci, signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    fmt = "{:+.3f}" if signed else "{:.3f}"
    low, high = ci
    interval = f" [{fmt.format(low)}, {fmt.format(high)}]" if np.isfinite(low) else ""
    return fmt.format(value) + interval


def _num(x):
    x = float(x)
    return x if np.isfinite(x) else None


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
