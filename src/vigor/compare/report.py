"""The study's report: report.md, report.json, accuracy_by_step.png and stability.png.

Statistics (one implementation each, in vigor.analysis.stats):
- accuracy of a reward on a benchmark: the final evaluation's correct fraction over problems x seeds x
  samples; its 95 % interval is a percentile bootstrap over problems (`bootstrap_ci`), each problem
  keeping all its seeds and samples, because the same problem is shared by every seed;
- difference against the baseline: per problem, (mean correctness of the reward) - (that of the
  baseline), averaged; bootstrap interval over problems; exact McNemar test (`mcnemar_exact_p`) over the
  pairs (same problem, same seed, same sample index), counting reward-right/baseline-wrong against
  the reverse. That test holds the trained models fixed: it asks whether these runs differ on these
  problems, not whether another seed would reproduce the gap;
- the seed-level check: each run's accuracy (one value per seed), and a two-sided exact permutation test
  (`permutation_p`) of the reward's seeds against the baseline's. It carries the run-to-run spread, but
  with few seeds it cannot go below a floor (`smallest_permutation_p`: 0.1 for 3 seeds against 3). The
  verdict calls a difference established only when both tests are below 5 %;
- math / code average: the unweighted mean of the benchmarks' accuracies, as in the paper (CRUXEval counts as code: AVERAGED_AS);
- by category (vigor.compare.categories): the accuracy and difference statistics above over each category's
  problems (reasoning-gym's operation, MATH's type and level), read from the held-out records by problem id.
The statistics of one cell are in vigor.compare.cells.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vigor.analysis.stats import mcnemar_exact_p, smallest_permutation_p
from vigor.compare.arms import arm_folder
from vigor.compare.categories import (breakdown, category_indices, category_markdown, difference_row,
                                      evaluated_prompts, problem_categories)
from vigor.compare.cells import RESAMPLES, cell, paired, pct, seed_level  # noqa: F401 (RESAMPLES: for the tests)
from vigor.compare.curves import by_step
from vigor.compare.study import BASE_DIR, RUN_FILE
from vigor.evaluation.suites import AVERAGED_AS
from vigor.training.callbacks import COLLAPSE_FILE, read_metrics
from vigor.training.heldout import BEST_DIR, BEST_FILE, MEAN_KEY, step_dir

STABILITY = [("entropy", "mean token entropy", "nats"), ("completions/mean_length", "mean completion length", "tokens"),
             ("completions/repetition_ratio", "n-gram repetition ratio", "fraction"), ("kl", "KL to the initial model", "nats")]
ALPHA = 0.05


def read_outcomes(folder, key: str) -> dict[str, list[bool]]:
    """{problem id: [correct per sample, in sample order]} from an evaluation folder's <key>.samples.jsonl (the
    paired tests pair sample k with sample k, whatever order the rows were written in)."""
    by_id: dict[str, list[tuple[int, bool]]] = {}
    with open(Path(folder) / f"{key}.samples.jsonl") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                by_id.setdefault(str(row["id"]), []).append((int(row.get("sample", 0)), bool(row["correct"])))
    return {i: [correct for _, correct in sorted(samples, key=lambda s: s[0])] for i, samples in by_id.items()}


def outcome_array(by_id: dict, ids: list[str]) -> np.ndarray:
    """[problems, samples] booleans in the order of `ids`."""
    return np.array([by_id[i] for i in ids], dtype=bool)


def load_run(folder: Path, benchmarks: list[dict], ids: dict[str, list[str]]) -> dict:
    metrics = read_metrics(str(folder))
    evals = {r["step"]: r for r in metrics if MEAN_KEY in r}  # a step logged twice keeps its last record
    final = max(evals)
    run = {"folder": folder, "metrics": metrics, "evals": [evals[s] for s in sorted(evals)], "final_step": final,
           "outcomes": {b["key"]: outcome_array(read_outcomes(step_dir(str(folder), final), b["key"]), ids[b["key"]])
                        for b in benchmarks}}
    for name, path in (("best", folder / BEST_DIR / BEST_FILE), ("collapse", folder / COLLAPSE_FILE),
                       ("run", folder / RUN_FILE)):
        run[name] = json.loads(path.read_text()) if path.exists() else None
    accuracies = [e[MEAN_KEY] for e in run["evals"]]
    peak = int(np.argmax(accuracies))  # the earliest maximum
    run["peak"] = {"step": run["evals"][peak]["step"], "accuracy": accuracies[peak],
                   "final_accuracy": accuracies[-1], "drop": accuracies[peak] - accuracies[-1]}
    return run


def summarise(out: Path, manifest: dict, rewards: list[str], seeds: list[int]) -> dict:
    benchmarks = manifest["benchmarks"]
    base_outcomes = {b["key"]: read_outcomes(out / BASE_DIR, b["key"]) for b in benchmarks}
    ids = {k: sorted(v) for k, v in base_outcomes.items()}
    runs = {r: [load_run(out / arm_folder(r) / f"seed{s}", benchmarks, ids) for s in seeds] for r in rewards}
    stacked = {r: {b["key"]: np.stack([run["outcomes"][b["key"]] for run in runs[r]]) for b in benchmarks}
               for r in rewards}
    stacked["base model"] = {b["key"]: outcome_array(base_outcomes[b["key"]], ids[b["key"]])[None] for b in benchmarks}
    table = {}
    for row, by_bench in stacked.items():
        cells = {key: cell(o) for key, o in by_bench.items()}
        for kind in ("math", "code"):
            keys = [b["key"] for b in benchmarks if AVERAGED_AS.get(b["kind"]) == kind]
            if keys:
                cells[f"{kind} average"] = {"accuracy": float(np.mean([cells[k]["accuracy"] for k in keys]))}
        table[row] = cells
    baseline = manifest.get("baseline")
    versus = {}
    if baseline:
        for reward in rewards:
            if reward == baseline:
                continue
            rows = {b["key"]: paired(stacked[reward][b["key"]], stacked[baseline][b["key"]]) for b in benchmarks}
            gained, lost = sum(r["gained"] for r in rows.values()), sum(r["lost"] for r in rows.values())
            # a seed's overall accuracy: the mean over benchmarks of its accuracy on each
            seeds_of = {name: np.mean([stacked[name][b["key"]].mean(axis=(1, 2)) for b in benchmarks], axis=0)
                        for name in (reward, baseline)}
            rows["all benchmarks"] = {"difference": float(np.mean([r["difference"] for r in rows.values()])),
                                      "gained": gained, "lost": lost, "mcnemar_p": mcnemar_exact_p(gained, lost),
                                      **seed_level(seeds_of[reward], seeds_of[baseline])}
            versus[reward] = rows
    by_category, notes = categories_of(out, stacked, benchmarks, ids, manifest["identity"], rewards, baseline)
    curves = {r: {"accuracy": {b["key"]: by_step(runs[r], f"eval/{b['key']}/accuracy", evals=True) for b in benchmarks}
                  | {"mean": by_step(runs[r], MEAN_KEY, evals=True)},
                  "stability": {k: by_step(runs[r], k, evals=False) for k, _, _ in STABILITY}} for r in rewards}
    per_run = [{"run": f"{r}/seed{s}", "final_step": run["final_step"], "peak": run["peak"],
                "collapse": run["collapse"], "best": run["best"], "wall_s": (run["run"] or {}).get("wall_s"),
                "stopped": (run["run"] or {}).get("stopped")}
               for r in rewards for s, run in zip(seeds, runs[r])]
    return {"benchmarks": benchmarks, "rewards": rewards, "seeds": seeds, "baseline": baseline, "table": table,
            # every reward has the same seeds, so one floor holds for every seed-level test of the study
            "seed_p_floor": smallest_permutation_p(len(seeds), len(seeds)),
            "versus": versus, "by_category": by_category, "by_category_notes": notes, "curves": curves, "runs": per_run, "identity": manifest["identity"],
            "data_seed": manifest.get("data_seed")}


def categories_of(out, stacked, benchmarks, ids, identity, rewards, baseline) -> tuple[dict, dict]:
    """({benchmark key: breakdown by category} for the benchmarks whose problems carry categories,
    {benchmark key: why it has no breakdown} for those whose records could not be matched)."""
    from vigor.data import DataError

    by_category, notes = {}, {}
    for b in benchmarks:
        try:
            evaluated = evaluated_prompts(out / BASE_DIR / f"{b['key']}.samples.jsonl")
            categories = problem_categories(b, identity, evaluated)
            indices = category_indices(ids[b["key"]], categories)
        except DataError as err:
            notes[b["key"]] = f"its problems could not be loaded again as they were evaluated: {err}"
            continue
        except KeyError as err:
            notes[b["key"]] = f"problem {err.args[0]!r} of the evaluations is not among its records"
            continue
        if indices:
            by_category[b["key"]] = breakdown(stacked, b["key"], indices, rewards, baseline)
    return by_category, notes


def plots(result: dict, out: Path) -> list[str]:
    from vigor.evaluation.plots import plot_by_step

    keys = [b["key"] for b in result["benchmarks"]] + (["mean"] if len(result["benchmarks"]) > 1 else [])
    panels = [(f"held-out accuracy: {'mean over benchmarks' if k == 'mean' else k}", "accuracy",
               {r: result["curves"][r]["accuracy"][k] for r in result["rewards"]}) for k in keys]
    plot_by_step(out / "accuracy_by_step.png", panels)
    panels = []
    for key, title, unit in STABILITY:
        lines = {r: result["curves"][r]["stability"][key] for r in result["rewards"]
                 if result["curves"][r]["stability"][key][0]}
        # TRL logs no KL when beta = 0 (there is no reference model)
        panels.append((title if lines else f"{title}: not logged in these runs", unit, lines))
    plot_by_step(out / "stability.png", panels)
    return ["accuracy_by_step.png", "stability.png"]


def verdict(result: dict) -> str:
    table, baseline, versus = result["table"], result["baseline"], result["versus"]
    benches = ", ".join(b["key"] for b in result["benchmarks"])
    first = result["table"][result["rewards"][0]][result["benchmarks"][0]["key"]]
    steps = max(r["final_step"] for r in result["runs"])
    parts = [f"After {steps} training steps, with {len(result['seeds'])} seed(s) per reward and "
             f"{first['problems']} held-out problem(s) per benchmark ({benches}):"]
    mean_of = {row: np.mean([c["accuracy"] for k, c in cells.items() if not k.endswith("average")])
               for row, cells in table.items()}
    parts.append(", ".join(f"{row} {pct(mean_of[row])} %" for row in [*result["rewards"], "base model"]) +
                 " mean held-out accuracy.")
    detected, established = [], []
    for reward, rows in versus.items():
        overall = rows["all benchmarks"]
        ci = [rows[b["key"]]["ci95"] for b in result["benchmarks"]]
        interval = f" (95 % CI over problems {pct(ci[0][0])} to {pct(ci[0][1])})" if len(ci) == 1 else ""
        seeds = ""
        if len(overall["seed_accuracies"]) > 1 or len(overall["baseline_seed_accuracies"]) > 1:
            seeds = (f"; per seed {', '.join(pct(x) for x in overall['seed_accuracies'])} % against "
                     f"{', '.join(pct(x) for x in overall['baseline_seed_accuracies'])} %, seed-level permutation "
                     f"p = {overall['seed_p']:.2g}")
        parts.append(f"{reward} - {baseline}: {100 * overall['difference']:+.1f} points{interval}, paired exact "
                     f"McNemar p = {overall['mcnemar_p']:.2g}{seeds}.")
        if overall["mcnemar_p"] < ALPHA:
            detected.append(reward)
            if overall["seed_p"] < ALPHA:
                established.append(reward)
    floor = result["seed_p_floor"]
    if established:
        parts.append(f"Established at the {ALPHA:.0%} level over problems and over seeds: {', '.join(established)} "
                     f"against {baseline} (one test per reward, not corrected for multiple comparisons).")
    unconfirmed = [r for r in detected if r not in established]
    if unconfirmed:
        if len(result["seeds"]) < 2:
            why = "with one seed per reward the run-to-run spread is not measured"
        elif floor >= ALPHA:
            why = f"with {len(result['seeds'])} seeds per reward no seed-level p can go below {floor:.2g}"
        else:
            why = f"seed-level permutation p >= {ALPHA}"
        names = ", ".join(unconfirmed)
        parts.append(f"Over these problems {names} {'differs' if len(unconfirmed) == 1 else 'differ'} from "
                     f"{baseline} beyond chance (McNemar p < {ALPHA}), but that test holds the trained runs fixed. "
                     f"Across seeds the {'gap is' if len(unconfirmed) == 1 else 'gaps are'} not established ({why}), "
                     "so other seeds could close or reverse "
                     f"{'it' if len(unconfirmed) == 1 else 'them'}.")
        one_sided = [r for r in unconfirmed if len(result["seeds"]) > 1
                     and versus[r]["all benchmarks"]["seed_p"] <= floor + 1e-12]
        for reward in one_sided:
            side = "below" if versus[reward]["all benchmarks"]["difference"] < 0 else "above"
            parts.append(f"Every seed of {reward} is {side} every seed of {baseline}, the most one-sided result "
                         f"{len(result['seeds'])} seeds can give.")
    if versus and not detected:
        half = np.nanmean([(r[b["key"]]["ci95"][1] - r[b["key"]]["ci95"][0]) / 2 for r in versus.values()
                           for b in result["benchmarks"]])
        resolution = (f"; differences smaller than about +-{100 * half:.0f} points cannot be told apart from "
                      "noise with this many problems and seeds" if half > 0 else "")
        parts.append(f"No difference detectable at this size: no reward differs from {baseline} beyond chance "
                     f"(every p >= {ALPHA}){resolution}.")
    fell = [r for r in result["runs"] if r["peak"]["drop"] > 0]
    fired = [r for r in result["runs"] if r["collapse"]]
    parts.append(("Held-out accuracy peaked before the last evaluation and then fell in " +
                  ", ".join(f"{r['run']} (peak step {r['peak']['step']}, -{100 * r['peak']['drop']:.1f} points)"
                            for r in fell) + "." if fell else "No run's held-out accuracy fell after its peak."))
    parts.append(("The collapse guard fired in " + ", ".join(f"{r['run']} at step {r['collapse']['step']}"
                                                            for r in fired) + "." if fired else
                  "The collapse guard did not fire in any run."))
    parts.append("These numbers describe this model, data and training budget only; they do not show how the "
                 "rewards compare for larger models or longer training.")
    return " ".join(parts)


def markdown(result: dict, plot_files: list[str]) -> str:
    from vigor.training.config import heldout_token_limit

    keys = [b["key"] for b in result["benchmarks"]]
    averages = [k for k in ("math average", "code average") if k in result["table"]["base model"]]
    lines = ["# vigor compare", "", result["verdict"], "",
             "## Final held-out accuracy (%, 95 % bootstrap interval over problems)", "",
             "| reward | " + " | ".join(keys + averages) + " |", "|---|" + "---:|" * (len(keys) + len(averages))]
    for row, cells in result["table"].items():
        text = [f"{pct(cells[k]['accuracy'])} [{pct(cells[k]['ci95'][0])}, {pct(cells[k]['ci95'][1])}]" for k in keys]
        text += [pct(cells[k]["accuracy"]) for k in averages]
        lines.append(f"| {row} | " + " | ".join(text) + " |")
    lines += ["", "Accuracy: correct fraction over problems x seeds x samples at each run's last evaluation; "
              "the base model is the untrained model (step 0 of every run)."]
    if result["versus"]:
        lines += ["", f"## Difference against {result['baseline']} (points; paired over the same problems)", "",
                  "| reward | benchmark | difference | 95 % CI | reward right / baseline wrong | reverse | McNemar p "
                  "| per seed: reward / baseline (%) | seed-level p |",
                  "|---|---|---:|---|---:|---:|---:|---|---:|"]
        for reward, rows in result["versus"].items():
            for key, r in rows.items():
                lines.append(difference_row(reward, key, r))
        lines += ["", "McNemar: exact, over (problem, seed, sample) pairs; it holds the trained runs fixed. Seed-level: "
                  "exact permutation test of the per-seed accuracies, which carries the run-to-run spread; its "
                  f"smallest possible p here is {result['seed_p_floor']:.2g}."]
    lines += category_markdown(result)
    lines += ["", "## Accuracy by step and stability", ""] + [f"![{f}]({f})" for f in plot_files]
    lines += ["", "Lines: mean over seeds; bands: lowest to highest seed.", "",
              "## Runs: peak, drop after the peak, collapse guard, best checkpoint", "",
              "| run | peak step | peak acc. | final acc. | drop | collapse guard | best checkpoint | minutes |",
              "|---|---:|---:|---:|---:|---|---|---:|"]
    for r in result["runs"]:
        p, best, collapse = r["peak"], r["best"], r["collapse"]
        guard = f"step {collapse['step']}" if collapse else "did not fire"
        best_text = f"{r['run']}/best (step {best['step']}, {pct(best[MEAN_KEY])} %)" if best else "none"
        minutes = f"{r['wall_s'] / 60:.1f}" if r["wall_s"] is not None else ""
        lines.append(f"| {r['run']} | {p['step']} | {pct(p['accuracy'])} | {pct(p['final_accuracy'])} | "
                     f"{100 * p['drop']:.1f} | {guard} | {best_text} | {minutes} |")
    ident = result["identity"]
    lines += ["", "## Settings", "",
              f"- model: `{ident.get('model_name_or_path') or 'the embedded SmolLM2-135M-Instruct'}`; data: "
              f"`{ident.get('dataset')}` ({ident.get('max_samples') or 'all'} prompts, data seed "
              f"{result['data_seed']}); seeds {result['seeds']}",
              f"- {ident.get('max_steps')} steps, G = {ident.get('num_generations')}, batch "
              f"{ident.get('per_device_train_batch_size')}, at most {ident.get('max_completion_length')} new tokens, "
              f"lr {ident.get('learning_rate')}, beta {ident.get('beta')}, temperature {ident.get('temperature')}",
              f"- evaluation at step 0, every {int(ident.get('eval_steps') or ident.get('max_steps'))} steps and at "
              f"the end, {ident.get('eval_samples')} "
              f"sample(s) per problem, at most {heldout_token_limit(ident.get('eval_max_new_tokens'), ident.get('max_completion_length'))} "
              "new tokens; every setting is in study.json"]
    return "\n".join(lines) + "\n"


def write_report(out: Path, manifest: dict, *, rewards: list[str], seeds: list[int]) -> dict:
    from vigor.analysis.run import _jsonable

    result = summarise(out, manifest, rewards, seeds)
    result["verdict"] = verdict(result)
    files = plots(result, out)
    from vigor.compare.premise_report import premise_section

    text = markdown(result, files) + premise_section(out, manifest, result)  # adds result["premise"], ["arms"]
    (out / "report.md").write_text(text)
    (out / "report.json").write_text(json.dumps(_jsonable(result), indent=1, allow_nan=True) + "\n")
    return result
