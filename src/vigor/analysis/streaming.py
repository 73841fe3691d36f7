"""`vigor analyze`'s main loop: sample, grade and score batch by batch, so that it can say early what to expect.

Once the first group (G completions of one prompt) is sampled, graded and at least one micro-batch scored, it prints
the expected time: (sampling seconds per completion + scoring seconds per completion, as measured so far) x all
completions. When the first group holds no mixed group (its completions all correct or all incorrect) it says so at
once: no within-group AUROC can come from such groups. `--stop-if-unmixed N` ends the run when the first N groups are
all unmixed (N consecutive unmixed groups from the start; after one mixed group it never stops early); the outputs are
then written for the groups done.

The numbers are those of sampling everything, then scoring everything: the sampler keeps its own seeded random stream
(`iter_sampled_batches`) and scoring runs on the same micro-batches (rows k*M .. k*M+M-1, M = --micro-batch-size).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

UNMIXED_ADVICE = "no AUROC can be computed from these; an easier task or more samples would"


@dataclass
class StreamedRun:
    prompt_ids: list = field(default_factory=list)
    completion_ids: list = field(default_factory=list)
    texts: list = field(default_factory=list)
    verdicts: list = field(default_factory=list)
    signals: dict = field(default_factory=dict)
    groups: int = 0             # groups sampled and graded
    stopped: str | None = None  # why it ended early, if it did


def unmixed_line(groups: int, group_size: int, correct: int) -> str:
    n = groups * group_size
    return (f"the first {groups} group{'s' if groups > 1 else ''} ({n} completions, {correct} correct) "
            f"hold{'' if groups > 1 else 's'} no mixed group (both correct and incorrect completions): {UNMIXED_ADVICE}")


def sample_grade_and_score(model, tokenizer, records, prompts, settings) -> StreamedRun:
    from tqdm.auto import tqdm

    from vigor.analysis.sampling import iter_sampled_batches
    from vigor.analysis.signals import compute_signals
    from vigor.evaluation.grading import grade_math_many

    s, G = settings, settings.num_generations
    total = len(prompts) * G
    step = s.micro_batch_size or total
    run, parts = StreamedRun(), []
    sample_s = score_s = 0.0
    scored, all_unmixed, estimated = 0, True, False
    bar = tqdm(total=total, desc="sampling, grading, scoring", unit="completion", disable=not s.progress)

    def score(upto: int) -> None:
        nonlocal scored, score_s
        if upto > scored:
            began = time.perf_counter()
            parts.append(compute_signals(model, tokenizer, run.prompt_ids[scored:upto], run.completion_ids[scored:upto],
                                         micro_batch_size=s.micro_batch_size, progress=False))
            score_s += time.perf_counter() - began
            scored = upto

    began = time.perf_counter()
    batches = iter_sampled_batches(model, tokenizer, prompts, num_generations=G, max_new_tokens=s.max_new_tokens,
                                   temperature=s.temperature, top_k=s.top_k, batch_size=s.batch_size, seed=s.seed)
    for batch_prompts, batch_completions in batches:
        sample_s += time.perf_counter() - began
        run.prompt_ids += batch_prompts
        run.completion_ids += batch_completions
        bar.update(len(batch_completions))
        score(len(run.completion_ids) // step * step)
        while (run.groups + 1) * G <= len(run.completion_ids):
            rows = slice(run.groups * G, (run.groups + 1) * G)
            texts = tokenizer.batch_decode(run.completion_ids[rows], skip_special_tokens=True)
            verdicts = grade_math_many([(t, records[run.groups].answer) for t in texts])
            run.texts += texts
            run.verdicts += verdicts
            run.groups += 1
            mixed = len({bool(v.correct) for v in verdicts}) == 2
            all_unmixed = all_unmixed and not mixed
            correct = sum(bool(v.correct) for v in run.verdicts)
            if all_unmixed and run.groups == 1:
                print(f"vigor analyze: {unmixed_line(1, G, correct)}", flush=True)
            if all_unmixed and s.stop_if_unmixed is not None and run.groups >= s.stop_if_unmixed:
                run.stopped = f"stopped by --stop-if-unmixed {s.stop_if_unmixed}: {unmixed_line(run.groups, G, correct)}"
                break
        if run.stopped:
            print(f"vigor analyze: {run.stopped}", flush=True)
            batches.close()
            break
        if not estimated and run.groups >= 1 and scored > 0:
            estimated = True
            per = sample_s / len(run.completion_ids) + score_s / scored
            print(f"vigor analyze: expected time about {per * total / 60:.1f} min for {total} completions "
                  f"(sampling {sample_s / len(run.completion_ids):.2f} s + scoring {score_s / scored:.2f} s a "
                  f"completion, measured on the first {len(run.completion_ids)})", flush=True)
        began = time.perf_counter()
    bar.close()
    done = run.groups * G
    run.prompt_ids, run.completion_ids = run.prompt_ids[:done], run.completion_ids[:done]
    score(done)  # the rest; a stop inside a scored micro-batch keeps only whole groups' rows below
    signals = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]} if parts else {}
    run.signals = {key: values[:done] for key, values in signals.items()}
    return run
