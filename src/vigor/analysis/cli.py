"""`vigor analyze`: does an intrinsic reward predict correctness for this model and data?"""

from __future__ import annotations

import argparse
import os

from vigor.precision import add_device_options


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze", help="measure whether VIGOR and other intrinsic rewards predict correctness, before training",
        description="Sample G completions per prompt, grade them against the gold answers and report, per "
                    "intrinsic signal (VIGOR with and without the length correction, self-certainty, negative "
                    "entropy, log-likelihood, length), the within-group AUROC, Spearman correlation and top-1 "
                    "accuracy against chance with bootstrap intervals. Writes analysis.json, analysis.md and "
                    "gradnorm_vs_correct.png.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", nargs="?", const="default", default="default",
                   help="model folder or hub id; '%(default)s' or no value: the embedded SmolLM2-135M-Instruct "
                        "(the default)")
    p.add_argument("--dataset", default="gsm_symbolic",
                   help="prompts with gold answers: shipped benchmark (gsm8k, math500, ...), file, folder, "
                        "'gsm_symbolic' / 'reasoning-gym:NAME' (seeded), or hub id")
    p.add_argument("--prompt-column", help="the column holding the problem (auto-detected if not given)")
    p.add_argument("--answer-column", help="the column holding the gold answer (auto-detected if not given)")
    p.add_argument("--num-prompts", type=int, default=16)
    p.add_argument("--num-generations", "-G", type=int, default=8, help="completions per prompt (G)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.9)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--system-prompt", default="boxed", help="preset ('boxed', 'intuitor'), text, or 'none' (or '') for none")
    p.add_argument("--batch-size", type=int, default=8, help="completions generated at once")
    p.add_argument("--micro-batch-size", type=int, default=8, help="completions per gradient-norm pass")
    p.add_argument("--bootstrap", dest="bootstrap_resamples", metavar="BOOTSTRAP", type=int, default=1000,
                   help="bootstrap resamples for the intervals")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grad-params", action="append", default=[], metavar="REGEX",
                   help="also VIGOR over the trainable parameters whose names match (re.search), repeatable: "
                        "its rank agreement with the full norm (mean within-group Spearman, top-1) and its time")
    p.add_argument("--stop-if-unmixed", type=int, metavar="N",
                   help="stop when the first N groups are all unmixed (every completion correct, or none): "
                        "no AUROC can come from them")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_device_options(p, runs="samples and computes gradient norms",
                       dtype_use=", which the gradient norms are computed in (the VIGOR reference computes in bfloat16)")
    p.set_defaults(func=main)


def analysis_settings(args):
    """The AnalysisSettings of a parsed `vigor analyze` command line: each option's dest is its field's name."""
    import dataclasses

    from vigor.analysis.run import AnalysisSettings

    names = {f.name for f in dataclasses.fields(AnalysisSettings)} - {"progress", "grad_params"}
    return AnalysisSettings(**{name: getattr(args, name) for name in names}, progress=not args.no_progress,
                            grad_params=tuple(args.grad_params or ()))


def main(args) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see vigor.demo.cli: spinning threads stall shared CPUs
    from vigor.errors import UsageError

    try:
        from vigor.analysis.run import run_analysis
        from vigor.models import check_attn_implementation, resolve_model_path
        from vigor.precision import resolve_device_and_dtype

        settings = analysis_settings(args)
        settings.check()
        device, _ = resolve_device_and_dtype(settings.device, settings.dtype)
        check_attn_implementation(settings.attn_implementation, on_cuda=device.type == "cuda")
        if settings.model != "default":
            from vigor.rewards.intrinsic import check_parameter_patterns

            check_parameter_patterns(settings.grad_params, resolve_model_path(settings.model),
                                     what="--grad-params")
        result = run_analysis(settings)
    except ValueError as err:  # bad input (data, model path, settings): one line, exit 2
        raise UsageError(str(err)) from None
    from vigor.analysis.run import verdict

    vigor = result["signals"]["vigor"]
    print(f"accuracy of the samples {result['accuracy']:.1%} over {result['n_completions']} completions; "
          f"VIGOR within-group AUROC {vigor['auroc']:.3f} over {vigor['n_groups_mixed']} mixed prompts: "
          f"{verdict(vigor)}")
    for row in result.get("grad_params", []):
        print(f"--grad-params {row['grad_params']}: mean within-group Spearman with the full norm "
              f"{row['spearman']:.3f}, top-1 agreement {row['top1_agreement']:.3f}, "
              f"{row['seconds_per_completion']:.4f} s a completion (full norm {row['full_seconds_per_completion']:.4f} s)")
    if result.get("stopped"):
        print(f"vigor analyze: {result['stopped']}")
    print(f"wrote {args.output_dir}/analysis.md, analysis.json, gradnorm_vs_correct.png")
    return 0
