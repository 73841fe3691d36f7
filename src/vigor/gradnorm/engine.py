"""The batched per-sample gradient-norm engine.

One forward and one backward per micro-batch. The backward differentiates only with respect
to activations: every module that owns a selected parameter gets a forward hook that wraps
its output in a "tap" (an identity autograd node that saves the module input A and hands the
output gradient G to the module's rule, see `rules.py`). All taps feed a zero scalar "sink",
and `torch.autograd.grad(loss, sink)` runs the backward: autograd then skips every weight
gradient (no weight is asked for), never touches `param.grad` (so DDP/FSDP/DeepSpeed hooks do
not fire and a trainer's accumulated gradients are safe), and never forms a full per-sample
gradient. Each rule turns (A, G) into per-sample squared norms as soon as G exists.

The per-sample loss is the mean NLL over that sample's targets; the backward runs on the sum
of the per-sample losses, whose gradient at sample b's activations is exactly sample b's.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from vigor.gradnorm.common import (
    iter_chunks,
    masked_mean_nll,
    model_mode_for_norms,
    real_token_positions,
    resolve_params,
    validate_batch,
)
from vigor.gradnorm.registry import find_rule, sample_interaction
from vigor.gradnorm.rules import Rule, UnsupportedModuleError, tied_head_rows
from vigor.gradnorm.taps import EngineProfile, LookupTap, Tap, sync

HOW_TO_ADD = "add a rule with vigor.gradnorm.register_rule (see docs/gradnorm.md)"


class UnsupportedParameterError(ValueError):
    """A trainable parameter the engine cannot account for exactly."""


@dataclass
class GradNormResult:
    norms: torch.Tensor  # [B]
    sq_norms_by_param: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> [B]

    def sq_norms_by_module(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for name, value in self.sq_norms_by_param.items():
            module = name.rsplit(".", 1)[0] if "." in name else ""
            out[module] = out.get(module, 0) + value
        return out


@dataclass
class _Site:
    """One hooked module: its rule, the parameters it accounts for, and its running state."""

    engine: "_Pass"
    qualname: str
    module: nn.Module
    rule: Rule
    params: dict[str, str]  # local name -> qualified parameter name
    tied_role: str | None = None  # "embedding" or "head" of a tied pair
    calls: int = 0
    flat: bool = False  # this pass's input is [B * T, ...], batch-major

    @property
    def sink_dtype(self):
        return self.engine.acc

    def on_grad(self, saved, grad_out):
        self.engine.on_grad(self, saved, grad_out)


class _Pass:
    """State of one micro-batch pass."""

    def __init__(self, acc: torch.dtype, batch: int, seq: int, profile: EngineProfile | None = None):
        self.acc, self.batch, self.seq = acc, batch, seq
        self.profile = profile
        self.in_backward = False
        self.in_rule = False  # a rule re-running a module must not be tapped again
        self.sq: dict[str, torch.Tensor] = {}
        self.tied_ids: torch.Tensor | None = None
        self.tied_rows: torch.Tensor | None = None

    def add(self, name: str, value: torch.Tensor):
        self.sq[name] = self.sq.get(name, 0) + value

    def on_grad(self, site: _Site, saved, grad_out):
        if site.flat:
            saved = saved.reshape(self.batch, -1, *saved.shape[1:])
            grad_out = grad_out.reshape(self.batch, -1, *grad_out.shape[1:])
        wanted = set(site.params)
        self.in_rule = True
        if self.profile is not None:
            sync(grad_out.device)
            start = time.perf_counter()
        try:
            self._account(site, saved, grad_out, wanted)
        finally:
            self.in_rule = False
        if self.profile is not None:
            sync(grad_out.device)
            name = site.rule.name
            self.profile.rule_s[name] = self.profile.rule_s.get(name, 0.0) + time.perf_counter() - start

    def _account(self, site: _Site, saved, grad_out, wanted):
        if site.tied_role == "head":
            # Cross term piece: rows of this sample's head gradient at its input tokens.
            self.tied_rows = tied_head_rows(self.tied_ids, saved, grad_out, self.acc)
        for local, value in site.rule.sq_norms(site.module, saved, grad_out, wanted, self.acc).items():
            self.add(site.params[local], value)
        if site.tied_role == "embedding" and self.tied_rows is not None:
            ids = saved.reshape(self.batch, -1)
            g = site.rule.row_grads(site.module, grad_out).reshape(self.batch, ids.shape[1], -1).to(self.acc)
            keep = site.rule.valid(site.module, ids).to(self.acc).unsqueeze(-1)
            self.add(site.params["weight"], 2 * (g * self.tied_rows * keep).sum((1, 2)))
            self.tied_rows = None


def _required_inputs(module: nn.Module) -> int:
    """Positional inputs the module's forward requires (no default value)."""
    try:
        sig = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in sig.parameters.values() if p.kind in kinds and p.default is inspect.Parameter.empty)


def _refuse_sample_interaction(model: nn.Module) -> None:
    """The engine's one assumption is that samples do not interact in the forward."""
    for name, module in model.named_modules():
        problem = sample_interaction(module)
        if problem:
            raise UnsupportedParameterError(
                f"module {name!r} ({type(module).__name__}) {problem}; the engine needs samples that "
                f"do not interact in the forward"
            )


def _no_rule_message(site, why: str) -> str:
    return (
        f"module {site.qualname!r} ({type(site.module).__name__}) owns trainable parameters "
        f"{sorted(site.params.values())} but no rule covers it ({why}; the generic per-sample rule "
        f"needs exactly one tensor input): {HOW_TO_ADD}"
    )


class GradNormEngine:
    """Reusable engine for one model and one parameter selection.

    Construction maps every selected parameter to the module that owns it and to a rule, and
    raises `UnsupportedParameterError` for anything it cannot account for exactly.
    """

    def __init__(self, model: nn.Module, params=None):
        self.model = model
        self.named_params = resolve_params(model, params)
        self.subset = params is not None  # a chosen subset: the forward records no graph below it
        self._prune_forward = False  # set by each `compute` call: a subset, and no gradient checkpointing
        wanted = {id(p): name for name, p in self.named_params}
        owners: dict[int, list[tuple[str, nn.Module, str]]] = {}
        for mod_name, module in model.named_modules(remove_duplicate=False):
            for local, p in module._parameters.items():
                if p is not None and id(p) in wanted:
                    owners.setdefault(id(p), []).append((mod_name, module, local))
        sites: dict[int, _Site] = {}
        _refuse_sample_interaction(model)

        def site_for(mod_name, module) -> _Site:
            if id(module) not in sites:
                try:
                    rule = find_rule(module)
                except UnsupportedModuleError as err:
                    raise UnsupportedParameterError(f"module {mod_name!r} ({err})") from None
                sites[id(module)] = _Site(None, mod_name, module, rule, {})  # type: ignore[arg-type]
            return sites[id(module)]

        self.tied: tuple[_Site, _Site] | None = None
        for pid, name in wanted.items():
            found = owners.get(pid, [])
            # One module object reached under two names is the same owner.
            unique = list({id(m): (n, m, l) for n, m, l in found}.values())
            if len(unique) == 1:
                mod_name, module, local = unique[0]
                site = site_for(mod_name, module)
                if local not in site.rule.param_names(module):
                    raise UnsupportedParameterError(
                        f"parameter {name!r} of module {mod_name!r} ({type(module).__name__}) is not "
                        f"covered by the {site.rule.name} rule"
                    )
                site.params[local] = name
            elif len(unique) == 2 and self.tied is None:
                self.tied = self._tie(name, unique, site_for)
            else:
                places = ", ".join(f"{n}.{l} ({type(m).__name__})" for n, m, l in unique) or "no module"
                raise UnsupportedParameterError(
                    f"parameter {name!r} is shared by {places}; only an input embedding tied to an "
                    f"output projection is supported"
                )
        for site in sites.values():  # caught here, before any forward, where the signature shows it
            inputs = _required_inputs(site.module)
            if site.rule.single_input and inputs > 1:
                raise UnsupportedParameterError(_no_rule_message(site, f"its forward takes {inputs} inputs"))
        self.sites = list(sites.values())
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        accepted = inspect.signature(base.forward).parameters
        self._pass_positions = "position_ids" in accepted
        self._pass_logits_to_keep = "logits_to_keep" in accepted
        first = self.named_params[0][1]
        self.acc = torch.float64 if first.dtype == torch.float64 else torch.float32

    @staticmethod
    def _tie(name, owners, site_for):
        by_role = {}
        for mod_name, module, local in owners:
            rule = site_for(mod_name, module).rule  # refusals become UnsupportedParameterError, naming the module
            by_role[rule.tie_role] = (mod_name, module, local)
        if set(by_role) != {"embedding", "head"} or any(l != "weight" for _, _, l in owners):
            places = ", ".join(f"{n}.{l} ({type(m).__name__})" for n, m, l in owners)
            raise UnsupportedParameterError(
                f"parameter {name!r} is shared by {places}; only an input embedding tied to an "
                f"output projection is supported"
            )
        emb = site_for(*by_role["embedding"][:2])
        head = site_for(*by_role["head"][:2])
        emb.params["weight"] = name
        head.params["weight"] = name
        emb.tied_role, head.tied_role = "embedding", "head"
        return emb, head

    # ------------------------------------------------------------------ hooks
    def _tap(self, site: _Site, state: _Pass, sink: torch.Tensor, saved: torch.Tensor, output):
        """Checks common to every tapped call, then the tap itself."""
        if not state.in_backward:  # not a gradient-checkpointing recompute
            site.calls += 1
            if site.calls > 1:
                raise UnsupportedParameterError(
                    f"module {site.qualname!r} ({type(site.module).__name__}) ran {site.calls} times in "
                    f"one forward; per-sample norms of a reused module are not supported"
                )
            # Inputs flattened to [B * T, ...] (OPT's MLP) are taken to be batch-major, as a
            # reshape of [B, T, ...] makes them: rows b*T .. b*T + T - 1 are sample b's.
            site.flat = saved.shape[0] != state.batch and saved.shape[0] == state.batch * state.seq
            if saved.shape[0] != state.batch and not site.flat:
                raise UnsupportedParameterError(
                    f"module {site.qualname!r} got input of shape {tuple(saved.shape)}: the first "
                    f"dimension is neither the batch ({state.batch}) nor batch x sequence"
                )
            if site.tied_role == "embedding":
                state.tied_ids = saved.reshape(state.batch, -1)
        return Tap.apply(output, sink, site, saved)

    def _hooks(self, site: _Site, state: _Pass, sink: torch.Tensor) -> list:
        module = site.module
        if site.rule.taps_lookups:
            modes: list[LookupTap] = []

            def tap_lookup(ids, weight, out):
                if weight is not module.weight or state.in_rule:
                    return out
                return self._tap(site, state, sink, ids, out)

            def enter(mod, args):
                modes.append(LookupTap(tap_lookup))
                modes[-1].__enter__()

            def leave(mod, args, output):
                modes.pop().__exit__(None, None, None)

            return [module.register_forward_pre_hook(enter),
                    module.register_forward_hook(leave, always_call=True)]

        def hook(mod, args, kwargs, output):
            if state.in_rule:
                return None
            if not isinstance(output, torch.Tensor):
                raise UnsupportedParameterError(
                    f"module {site.qualname!r} ({type(mod).__name__}) returned "
                    f"{type(output).__name__}, not a tensor; its parameters cannot be accounted for"
                )
            if site.rule.single_input and (len(args) != 1 or kwargs):
                raise UnsupportedParameterError(
                    _no_rule_message(site, f"it is called with {len(args)} positional and {len(kwargs)} "
                                           f"keyword arguments")
                )
            return self._tap(site, state, sink, site.rule.saved_input(mod, args, kwargs), output)

        return [module.register_forward_hook(hook, with_kwargs=True)]

    def _stop_below_first_site(self, state: _Pass) -> list:
        """For a chosen subset (`params=`, e.g. `select_parameters`): the model's forward runs
        without recording a graph until the first module that owns a selected parameter starts,
        so nothing below the earliest selected layer is kept for, or reached by, the backward
        (autograd.grad already skips nodes that do not lead to a tap; this also spares their
        graph and saved activations). Not under gradient checkpointing, whose recompute must see
        the grad mode of the original forward; the backward is still pruned there (`compute` looks
        for it once per call, in `_prune_forward`)."""
        if not self._prune_forward:
            return []

        def grad_mode(enabled):
            def hook(module, args):
                if not state.in_backward:  # not when a rule re-runs a module in the backward
                    torch.set_grad_enabled(enabled)  # returns None: the arguments stay as they are

            return hook

        handles = [self.model.register_forward_pre_hook(grad_mode(False))]
        handles += [site.module.register_forward_pre_hook(grad_mode(True)) for site in self.sites]
        return handles

    # ------------------------------------------------------------------ main
    def compute(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        loss_mask: torch.Tensor,
        *,
        micro_batch_size: int | None = None,
        temperature: float = 1.0,
        logits_callback=None,
        profile: EngineProfile | None = None,
    ) -> GradNormResult:
        """`logits_callback(rows: slice, logits)`, if given, receives each micro-batch's
        detached logits of its last K positions ([b, K, V], K as in `masked_mean_nll`), so
        that other model-based rewards are computed from this same forward. It is called after
        the micro-batch's backward, once its norms are known to be finite (see `_micro_batch`). `profile`, if
        given, accumulates the time split (see `EngineProfile`)."""
        input_ids, attention_mask, loss_mask = validate_batch(input_ids, attention_mask, loss_mask)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if profile is not None:
            for site in self.sites:
                profile.rule_modules[site.rule.name] = profile.rule_modules.get(site.rule.name, 0) + 1
        by_param: dict[str, list[torch.Tensor]] = {}
        want_logits = logits_callback is not None
        # per call, not in __init__: checkpointing may be switched on or off between calls (see _stop_below_first_site)
        self._prune_forward = self.subset and not any(
            getattr(m, "gradient_checkpointing", False) is True for m in self.model.modules())
        with model_mode_for_norms(self.model, keep_checkpointing=True):
            for s in iter_chunks(input_ids.shape[0], micro_batch_size):
                sq, logits = self._micro_batch(input_ids[s], attention_mask[s], loss_mask[s], temperature, profile,
                                               want_logits)
                if want_logits:
                    logits_callback(s, logits)
                del logits  # not held across micro-batches: one [b, K, V] tensor less at the next one's peak
                for name, _ in self.named_params:
                    value = sq.get(name)
                    if value is None:
                        value = torch.zeros(s.stop - s.start, dtype=self.acc, device=input_ids.device)
                    by_param.setdefault(name, []).append(value)
        sq_by_param = {n: torch.cat(v) for n, v in by_param.items()}
        total = torch.stack(list(sq_by_param.values())).sum(0)
        out_dtype = torch.float64 if self.acc == torch.float64 else torch.float32
        # Rounding can leave a tiny negative total when the true norm is ~0.
        return GradNormResult(total.clamp(min=0).sqrt().to(out_dtype), sq_by_param)

    def _model_kwargs(self, input_ids, attention_mask, loss_mask, *, all_logits=False) -> dict:
        kwargs = dict(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        if self._pass_positions:
            kwargs["position_ids"] = real_token_positions(attention_mask)
        if self._pass_logits_to_keep and bool(loss_mask.any()) and not all_logits:
            kwargs["logits_to_keep"] = self._logits_kept(loss_mask)
        return kwargs

    def _logits_kept(self, loss_mask) -> int:
        first_target = int(loss_mask.any(0).nonzero()[0])
        return loss_mask.shape[1] - first_target + 1

    def _micro_batch(self, input_ids, attention_mask, loss_mask, temperature, profile, want_logits):
        """Squared norms by parameter and the detached logits of this micro-batch (None unless
        `want_logits`).

        Padding must contribute exactly nothing. Finite values in padding rows do not (their
        attention weights are exactly 0), but a fully masked row (leading padding) can hold NaN
        (eager attention), and 0 * NaN reaches the real rows. If any sample with targets gets a
        non-finite norm and the batch has leading padding, the micro-batch is computed again
        with every row's padding moved to its end (each sample then runs exactly as it would
        alone, with no fully masked row), and the logits are moved back for the caller."""
        sq, logits = self._pass(input_ids, attention_mask, loss_mask, temperature, profile, want_logits)
        has_targets = loss_mask.bool().any(1)
        if sq and bool((attention_mask[:, 0] == 0).any()):
            total = torch.stack(list(sq.values())).sum(0)
            if not bool(torch.isfinite(total[has_targets]).all()):
                lead = (attention_mask.cumsum(1) == 0).sum(1, keepdim=True)  # leading pads per row
                cols = torch.arange(input_ids.shape[1], device=input_ids.device)
                to_end = (cols + lead) % input_ids.shape[1]  # rolled[t] = original[(t + lead) % T]
                sq, rolled_logits = self._pass(
                    *(t.gather(1, to_end) for t in (input_ids, attention_mask, loss_mask)), temperature, profile,
                    want_logits, all_logits=True,
                )
                if want_logits:
                    back = (cols - lead) % input_ids.shape[1]
                    logits = rolled_logits.gather(1, back.unsqueeze(-1).expand(-1, -1, rolled_logits.shape[-1]))
                    logits = logits[:, -self._kept_len(logits, loss_mask):]
        if sq and not bool(has_targets.all()):
            # A sample without targets has norm 0 exactly, whatever its padding rows computed.
            zero = torch.zeros((), dtype=self.acc, device=input_ids.device)
            sq = {n: torch.where(has_targets, v, zero) for n, v in sq.items()}
        return sq, logits

    def _kept_len(self, logits, loss_mask) -> int:
        return self._logits_kept(loss_mask) if self._pass_logits_to_keep and bool(loss_mask.any()) else logits.shape[1]

    def _pass(self, input_ids, attention_mask, loss_mask, temperature, profile, want_logits, *, all_logits=False):
        batch = input_ids.shape[0]
        state = _Pass(self.acc, batch, input_ids.shape[1], profile)
        kwargs = self._model_kwargs(input_ids, attention_mask, loss_mask, all_logits=all_logits)
        if not bool(loss_mask.any()):  # nothing to differentiate: every norm is 0
            if not want_logits:
                return {}, None
            with torch.no_grad():
                return {}, self.model(**kwargs).logits.detach()
        sink = torch.zeros((), dtype=self.acc, device=input_ids.device, requires_grad=True)
        handles = []
        for site in self.sites:
            site.engine, site.calls, site.flat = state, 0, False
            handles.extend(self._hooks(site, state, sink))
        handles.extend(self._stop_below_first_site(state))
        try:
            if profile is not None:
                sync(input_ids.device)
                start = time.perf_counter()
            with torch.enable_grad():
                logits = self.model(**kwargs).logits
                torch.set_grad_enabled(True)  # whatever the forward's hooks left (see `_stop_below_first_site`)
                losses = masked_mean_nll(logits, input_ids, loss_mask, temperature=temperature)
                if profile is not None:
                    sync(input_ids.device)
                    middle = time.perf_counter()
                    profile.forward_s += middle - start
                state.in_backward = True
                if losses.requires_grad:  # not when no selected module ran (all norms then 0)
                    torch.autograd.grad(losses.sum(), [sink], allow_unused=True)
            if profile is not None:
                sync(input_ids.device)
                profile.backward_s += time.perf_counter() - middle
                profile.micro_batches += 1
        finally:
            for h in handles:
                h.remove()
            for site in self.sites:
                site.engine = None  # type: ignore[assignment]
        return state.sq, logits.detach() if want_logits else None


def per_sample_grad_norms(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    loss_mask: torch.Tensor,
    *,
    params=None,
    micro_batch_size: int | None = None,
    temperature: float = 1.0,
    logits_callback=None,
) -> torch.Tensor:
    """Per-sample L2 norm of the gradient of each sample's mean NLL over its targets.

    `loss_mask[b, t] == 1` marks token `input_ids[b, t]` as a target predicted from the
    positions before it. The norm is over `params` (default: every parameter with
    requires_grad; for a PEFT model, its adapters). Returns [B] float32 (float64 for a float64
    model); a sample without targets gets 0. One batched forward and backward per micro-batch
    of `micro_batch_size` samples (default: all at once). `logits_callback(rows, logits)`
    sees each micro-batch's detached logits (see `GradNormEngine.compute`).
    """
    return per_sample_grad_norm_breakdown(
        model, input_ids, attention_mask, loss_mask, params=params, micro_batch_size=micro_batch_size,
        temperature=temperature, logits_callback=logits_callback,
    ).norms


def per_sample_grad_norm_breakdown(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    loss_mask: torch.Tensor,
    *,
    params=None,
    micro_batch_size: int | None = None,
    temperature: float = 1.0,
    logits_callback=None,
) -> GradNormResult:
    """Like `per_sample_grad_norms`, also returning the squared norm of each parameter
    (`.sq_norms_by_param`, name -> [B]; `.sq_norms_by_module()` groups them) for diagnostics."""
    return GradNormEngine(model, params).compute(
        input_ids, attention_mask, loss_mask, micro_batch_size=micro_batch_size, temperature=temperature,
        logits_callback=logits_callback,
    )
