"""The engine's autograd pieces: the tap (an identity node that hands a module's saved input
and its output gradient to the module's rule), the lookup tap (the same for the `F.embedding`
calls a module makes inside its own forward) and the optional time split (`EngineProfile`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


def sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Tap(torch.autograd.Function):
    """Identity on `out`; in backward, gives (saved input, grad of out) to `site`."""

    @staticmethod
    def forward(ctx, out, sink, site, saved):
        ctx.site = site
        ctx.save_for_backward(saved)
        # A detached alias, not out.view_as(out): autograd forbids in-place changes to a view made
        # inside a custom Function, and models do modify layer outputs in place. A hook on the
        # alias still sees the gradient of the value the module returned.
        return out.detach()

    @staticmethod
    def backward(ctx, grad_out):
        (saved,) = ctx.saved_tensors
        ctx.site.on_grad(saved, grad_out)
        return grad_out, grad_out.new_zeros((), dtype=ctx.site.sink_dtype), None, None


@dataclass
class EngineProfile:
    """Where one `compute` spent its time (seconds, summed over micro-batches): the forward
    (model and loss), the backward excluding the rules, and each rule type's own time with
    the number of modules it accounts for. With a CUDA model every rule call is bracketed by
    synchronisations, so a profiled run is a little slower than an unprofiled one."""

    forward_s: float = 0.0
    backward_s: float = 0.0  # autograd.grad in total, rules included
    rule_s: dict[str, float] = field(default_factory=dict)
    rule_modules: dict[str, int] = field(default_factory=dict)
    micro_batches: int = 0

    @property
    def backward_without_rules_s(self) -> float:
        return self.backward_s - sum(self.rule_s.values())

    def table(self) -> str:
        total = self.forward_s + self.backward_s
        rows = [f"{'part':<34}{'seconds':>10}{'share':>8}{'modules':>9}"]

        def row(label, sec, count=""):
            rows.append(f"{label:<34}{sec:>10.4f}{100 * sec / max(total, 1e-12):>7.1f}%{count:>9}")

        row("forward (model + loss)", self.forward_s)
        row("backward, autograd without rules", self.backward_without_rules_s)
        for name in sorted(self.rule_s, key=self.rule_s.get, reverse=True):
            row(f"  rule: {name}", self.rule_s[name], str(self.rule_modules.get(name, 0)))
        row("total", total, str(sum(self.rule_modules.values())))
        return "\n".join(rows)


class LookupTap(TorchFunctionMode):
    """Active during the forward of a module whose rule `taps_lookups`: taps the `F.embedding` lookups of
    that module's own weight (ids saved, gradient of the looked-up rows to the rule)."""

    def __init__(self, tap):
        super().__init__()
        self.tap = tap

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is F.embedding:
            weight = args[1] if len(args) > 1 else (kwargs or {}).get("weight")
            ids = args[0] if args else (kwargs or {}).get("input")
            out = self.tap(ids, weight, out)
        return out
