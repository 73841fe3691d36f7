"""Per-layer rules: the per-sample squared gradient norm of a module's own parameters from
its input A and its output gradient G (one small rule per layer type, as in Opacus).

Shapes: A is the module's input [B, T, d_in] (token ids [B, T] for embeddings), G the
gradient of the summed per-sample losses with respect to its output [B, T, d_out]. Because
samples do not interact, G[b] is exactly the gradient of sample b's own loss. Every rule
returns {local parameter name: [B] squared norms} in the accumulation dtype `acc`.

Formulas (per sample, dropping the index b):
  linear weight  ||G^T A||_F^2 = <A A^T, G G^T>          ("ghost norm": two T x T Grams)
  linear bias    ||sum_t G_t||^2
  embedding      sum_v ||sum_{t: x_t = v} G_t||^2         (rows hit by the sample's tokens)
  tied emb/head  ||g_emb + g_head||^2 = ||g_emb||^2 + ||g_head||^2 + 2 <g_emb, g_head>,
                 <g_emb, g_head> = sum_t <G_emb_t, R_t>,  R_t = sum_s G_head[s, x_t] A_head_s
  RMSNorm        ||sum_t G_t * x_hat_t||^2, x_hat = x / sqrt(mean(x^2) + eps) (w x_hat and (1 + w) x_hat)
  LayerNorm      weight ||sum_t G_t * x_hat_t||^2, bias ||sum_t G_t||^2
  anything else  per-sample vector-Jacobian products of the module itself (torch.func.vmap)

Rules are looked up in one registry (`registry.py`); a rule's `check(module)` can refuse a
module before any forward, and its class attributes declare its role for tied weights and
lookups. Modules in which samples interact have a `SampleInteraction` rule and are refused
wherever they appear.
"""

from __future__ import annotations

import torch
from torch import nn

# Bytes of fp32 scratch one rule may allocate for Grams or per-sample weight gradients;
# larger batches are processed a few samples at a time.
SCRATCH_BYTES = 256 * 2**20


def gram(x: torch.Tensor, acc: torch.dtype) -> torch.Tensor:
    """x @ x^T per sample, accumulated in `acc`. On CUDA, bf16/fp16 inputs go to the tensor
    cores with an fp32 output (no upcast copy); elsewhere the inputs are upcast first."""
    if x.dtype != acc and x.is_cuda and x.dtype in (torch.bfloat16, torch.float16) and acc == torch.float32:
        try:
            return torch.bmm(x, x.mT, out_dtype=torch.float32)
        except (TypeError, RuntimeError):
            pass
    x = x.to(acc)
    return torch.bmm(x, x.mT)


def cross(a: torch.Tensor, b: torch.Tensor, acc: torch.dtype) -> torch.Tensor:
    """a^T @ b per sample ([B, T, m], [B, T, n] -> [B, m, n]) accumulated in `acc`."""
    if a.dtype != acc and a.is_cuda and a.dtype in (torch.bfloat16, torch.float16) and acc == torch.float32:
        try:
            return torch.bmm(a.mT, b, out_dtype=torch.float32)
        except (TypeError, RuntimeError):
            pass
    return torch.bmm(a.mT.to(acc), b.to(acc))


def batched_dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """<x[b], y[b]> for each b. An elementwise product and torch's pairwise-summed `sum`: a
    single bmm dot product avoids the temporary but, accumulating ~1e5 terms in one fp32 chain on
    the CPU, measured 1e-5 relative error against the reference instead of 2e-7."""
    n = x.shape[0]
    return (x.reshape(n, -1) * y.reshape(n, -1)).sum(1)


def _chunks(batch: int, per_sample_bytes: int):
    step = max(1, min(batch, SCRATCH_BYTES // max(1, per_sample_bytes)))
    for start in range(0, batch, step):
        yield slice(start, min(batch, start + step))


def use_ghost(tokens: int, d_in: int, d_out: int) -> bool:
    """Ghost norm costs ~T^2 (d_in + d_out) multiply-adds per sample, forming G^T A costs
    ~T d_in d_out: take whichever is cheaper for this layer at this sequence length."""
    return tokens * (d_in + d_out) < d_in * d_out


def linear_weight_sq_norms(a: torch.Tensor, g: torch.Tensor, acc: torch.dtype) -> torch.Tensor:
    batch = a.shape[0]
    a = a.reshape(batch, -1, a.shape[-1])
    g = g.reshape(batch, -1, g.shape[-1])
    tokens, d_in, d_out = a.shape[1], a.shape[2], g.shape[2]
    out = torch.empty(batch, dtype=acc, device=a.device)
    if use_ghost(tokens, d_in, d_out):
        for s in _chunks(batch, 2 * tokens * tokens * 4):
            out[s] = batched_dot(gram(a[s], acc), gram(g[s], acc))
    else:
        for s in _chunks(batch, d_in * d_out * 4):
            w = cross(g[s], a[s], acc)  # per-sample weight gradients of this layer only
            out[s] = w.reshape(w.shape[0], -1).pow(2).sum(1)  # as accurate as batched_dot(w, w), no product temporary
    return out


def bias_sq_norms(g: torch.Tensor, acc: torch.dtype) -> torch.Tensor:
    g = g.reshape(g.shape[0], -1, g.shape[-1])
    return g.sum(1, dtype=acc).pow(2).sum(1)


class Rule:
    """How to account for the parameters a module owns directly.

    Subclass it and register it with `register_rule(ModuleClass)` to add a layer type.
    `sq_norms` sees the module's saved input A (`saved_input`) and the gradient G of the summed
    per-sample losses with respect to the module's output; it must return per-sample squared
    norms, [B] in dtype `acc`, for the wanted local parameter names. `check(module)` returns
    why this rule cannot handle that particular module (None when it can), before any forward.
    """

    name = "rule"
    # When `check` refuses a module, use the exact generic per-sample rule instead of failing
    # (a closed form that does not recognise a module's formula is only an optimisation).
    falls_back_to_generic = False
    # Roles the engine reads (declared here, so that the engine names no rule class):
    # tie_role: the side this rule can take when one weight is both an input embedding and an
    #   output projection: "embedding" (the rule then provides `row_grads` and `valid`) or "head"
    #   (its A is the head's input and G the gradient of the logits).
    tie_role: str | None = None
    # taps_lookups: the engine taps the `F.embedding` lookups of the module's own weight made
    #   inside its forward (ids saved as A), instead of the module's output.
    taps_lookups = False
    # single_input: the rule re-runs the module on its saved input, so the module must be called
    #   with exactly one tensor.
    single_input = False

    def check(self, module: nn.Module) -> str | None:
        return None

    def for_own_forward(self, module: nn.Module) -> Rule | None:
        """The rule for a subclass of the registered class that has a forward of its own (None:
        this registration does not apply to it)."""
        return None

    def interaction(self, module: nn.Module) -> str | None:
        """Why samples interact in this module's forward (the engine then refuses the model), or None."""
        return None

    def param_names(self, module: nn.Module) -> tuple[str, ...]:
        return tuple(n for n, p in module.named_parameters(recurse=False))

    def saved_input(self, module: nn.Module, args: tuple, kwargs: dict) -> torch.Tensor:
        return args[0] if args else next(iter(kwargs.values()))

    def sq_norms(self, module, a, g, wanted: set[str], acc) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class LinearRule(Rule):
    """nn.Linear (y = A W^T + b) and transformers' Conv1D (y = A W + b)."""

    name = "linear"
    tie_role = "head"

    def sq_norms(self, module, a, g, wanted, acc):
        out = {}
        if "weight" in wanted:
            out["weight"] = linear_weight_sq_norms(a, g, acc)
        if "bias" in wanted:
            out["bias"] = bias_sq_norms(g, acc)
        return out


class EmbeddingRule(Rule):
    """nn.Embedding lookups; `scale_attr` names a factor the module multiplies its output by
    (Gemma's scaled word embedding), so the table's gradient is scale * G."""

    name = "embedding"
    tie_role = "embedding"

    def __init__(self, scale_attr: str | None = None):
        self.scale_attr = scale_attr

    def check(self, module: nn.Module) -> str | None:
        if getattr(module, "max_norm", None) is not None:
            return "max_norm renormalises the table during the lookup"
        if getattr(module, "sparse", False):
            return "sparse gradients are not supported"
        return None

    def for_own_forward(self, module):
        return _LOOKUP  # OPT's learned positions: the embedding formula on the lookups it makes

    def row_grads(self, module, g: torch.Tensor) -> torch.Tensor:
        if self.scale_attr is None:
            return g
        return g * getattr(module, self.scale_attr).to(g.dtype)

    def valid(self, module, ids: torch.Tensor) -> torch.Tensor:
        pad = getattr(module, "padding_idx", None)
        # nn.Embedding never writes a gradient into its padding_idx row.
        return torch.ones_like(ids, dtype=torch.bool) if pad is None else ids != pad

    def sq_norms(self, module, ids, g, wanted, acc):
        if "weight" not in wanted:
            return {}
        batch, vocab = ids.shape[0], module.weight.shape[0]
        ids = ids.reshape(batch, -1)
        g = self.row_grads(module, g).reshape(batch, ids.shape[1], -1)
        keep = self.valid(module, ids)
        sample = torch.arange(batch, device=ids.device).unsqueeze(1).expand_as(ids)
        key = (sample * vocab + ids)[keep]
        rows, inverse = torch.unique(key, return_inverse=True)
        summed = torch.zeros(rows.shape[0], g.shape[-1], dtype=acc, device=g.device)
        summed.index_add_(0, inverse, g[keep].to(acc))
        out = torch.zeros(batch, dtype=acc, device=g.device)
        out.index_add_(0, rows // vocab, summed.pow(2).sum(1))
        return {"weight": out}


def tied_head_rows(ids: torch.Tensor, head_input: torch.Tensor, head_grad: torch.Tensor, acc) -> torch.Tensor:
    """R[b, t] = sum_s G_head[b, s, ids[b, t]] * A_head[b, s]: the rows of sample b's output-
    embedding gradient at its own input tokens, [B, T, d] (what the cross term needs)."""
    batch, seq = ids.shape
    head_input = head_input.reshape(batch, -1, head_input.shape[-1])
    head_grad = head_grad.reshape(batch, -1, head_grad.shape[-1])
    picked = torch.gather(head_grad, 2, ids.unsqueeze(1).expand(batch, head_grad.shape[1], seq))
    return torch.bmm(picked.mT.to(acc), head_input.to(acc))


class GenericRule(Rule):
    """Any other module with parameters of its own (GroupNorm, a norm whose formula the closed
    forms do not recognise, ...), called with a single tensor: per-sample gradients by vmap over
    vector-Jacobian products of the module on one sample at a time; a plain loop over samples if vmap cannot batch its ops."""

    name = "per-sample vjp"
    single_input = True

    def sq_norms(self, module, a, g, wanted, acc):
        from torch.func import functional_call, vjp, vmap

        params = {n: p.detach() for n, p in module.named_parameters(recurse=False) if n in wanted}

        def one(a1, g1):
            _, pull = vjp(lambda p: functional_call(module, p, (a1.unsqueeze(0),)), params)
            (grads,) = pull(g1.unsqueeze(0))
            return {n: grads[n].to(acc).pow(2).sum() for n in params}

        with torch.enable_grad():
            if not getattr(module, "_vigor_vmap_failed", False):
                try:
                    return vmap(one)(a.detach(), g)
                except Exception:  # ops vmap cannot batch: fall back to the exact loop
                    module._vigor_vmap_failed = True
            out = {n: torch.empty(a.shape[0], dtype=acc, device=a.device) for n in params}
            for b in range(a.shape[0]):
                for n, v in one(a[b].detach(), g[b]).items():
                    out[n][b] = v
            return out


def _summed_products(g: torch.Tensor, xhat: torch.Tensor, dim: int, acc) -> torch.Tensor:
    """sum over every token (and head) of G * x_hat, per sample: [B, dim] in `acc`."""
    batch = g.shape[0]
    return (g.to(acc) * xhat.to(acc)).reshape(batch, -1, dim).sum(1)


# Probe tolerances (relative) for `check`: wide enough for the module's own rounding, far
# below the O(1) difference a different formula or epsilon makes.
_PROBE_RTOL = {torch.float64: 1e-5, torch.float32: 1e-4, torch.bfloat16: 3e-2, torch.float16: 3e-3}


def _module_eps(module: nn.Module) -> float | None:
    for attr in ("variance_epsilon", "eps"):
        value = getattr(module, attr, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


class RMSNormRule(Rule):
    """RMSNorm as the model families write it. With x_hat = x / sqrt(mean(x^2) + eps) over the
    last dimension (computed in float32 by all of them, whatever the model's dtype):
      "scale" form   y = w * x_hat        (Llama, Qwen2/Qwen3, Mistral, Phi-3, OLMo-2)
      "offset" form  y = (1 + w) * x_hat  (Gemma, Gemma 2/3)
    and in both  dL/dw = sum_t G_t * x_hat_t  per sample (summed over heads too for a per-head
    QK-norm, input [B, T, H, D], weight [D]). x_hat is the module itself evaluated at its
    neutral weight (1 or 0): the module's own epsilon and arithmetic, no copy of its formula.
    `check` probes the module on random inputs and accepts it only if its output is w * x_hat
    or (1 + w) * x_hat with x_hat the RMS normalisation under its own `eps`/`variance_epsilon`.
    """

    name = "rmsnorm"
    falls_back_to_generic = True

    def __init__(self):
        import weakref

        # module -> (eps, neutral weight value 1. or 0.) as found by the probe
        self._neutral: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def check(self, module):
        weight = getattr(module, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.dim() != 1 or self.param_names(module) != ("weight",):
            return "not a single 1-D weight"
        eps = _module_eps(module)
        if eps is None:
            return "no eps / variance_epsilon attribute"
        known = self._neutral.get(module)
        if known is not None and known[0] == eps:
            return None
        form = self._probe(module, eps)
        if form is None:
            return f"output is neither w * x_hat nor (1 + w) * x_hat with x_hat = x / sqrt(mean(x^2) + {eps:g})"
        self._neutral[module] = (eps, form)
        return None

    @staticmethod
    def _probe(module, eps: float) -> float | None:
        from torch.func import functional_call

        w = module.weight
        dim, rtol = w.shape[0], _PROBE_RTOL.get(w.dtype, 3e-2)
        gen = torch.Generator().manual_seed(0)
        # Entries of magnitude 0.5..1.5 (no subnormals in fp16 after scaling), one sample at unit
        # scale and one at the scale of eps, where a different epsilon shows.
        x = (0.5 + torch.rand(2, 3, dim, generator=gen, dtype=torch.float64)) * torch.randn(
            2, 3, dim, generator=gen, dtype=torch.float64).sign()
        x[1] *= max(eps, 1e-30) ** 0.5
        rand_w = torch.randn(dim, generator=gen, dtype=torch.float64).to(w.dtype).double()  # as the module holds it
        xhat = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)

        def run(weight):
            with torch.no_grad():
                out = functional_call(module, {"weight": weight.to(w)}, (x.to(w),))
            return out.double().cpu() if isinstance(out, torch.Tensor) else None

        for neutral, factor in ((1.0, rand_w), (0.0, 1 + rand_w)):
            got_hat, got = run(torch.full((dim,), neutral, dtype=torch.float64)), run(rand_w)
            if got_hat is None or got is None or got.shape != x.shape:
                return None
            if torch.allclose(got_hat, xhat, rtol=rtol, atol=0) and torch.allclose(
                got, factor * xhat, rtol=rtol, atol=rtol * 1e-3 * float(xhat.abs().max())
            ):
                return neutral
        return None

    def sq_norms(self, module, a, g, wanted, acc):
        from torch.func import functional_call

        if "weight" not in wanted:
            return {}
        w = module.weight
        neutral = torch.full_like(w, self._neutral[module][1])
        xhat = functional_call(module, {"weight": neutral}, (a,))
        return {"weight": _summed_products(g, xhat, w.shape[0], acc).pow(2).sum(1)}


class LayerNormRule(Rule):
    """torch's nn.LayerNorm, y = x_hat * w + b, x_hat = (x - mean) / sqrt(var + eps) over
    `normalized_shape`: per sample dL/dw = sum_t G_t * x_hat_t and dL/db = sum_t G_t. x_hat is
    F.layer_norm with the module's own `normalized_shape` and `eps`, in `acc`."""

    name = "layernorm"

    def check(self, module):
        if not isinstance(getattr(module, "eps", None), float) or not hasattr(module, "normalized_shape"):
            return "no eps or normalized_shape"
        return None

    def sq_norms(self, module, a, g, wanted, acc):
        import torch.nn.functional as F

        out = {}
        dim = 1
        for n in module.normalized_shape:
            dim *= n
        if "weight" in wanted:
            xhat = F.layer_norm(a.to(acc), module.normalized_shape, None, None, module.eps)
            out["weight"] = _summed_products(g, xhat, dim, acc).pow(2).sum(1)
        if "bias" in wanted:
            out["bias"] = g.reshape(g.shape[0], -1, dim).sum(1, dtype=acc).pow(2).sum(1)
        return out


class UnsupportedModuleError(ValueError):
    """A module the engine refuses (its rule's `check` failed, or samples interact in it)."""


class LookupCapture(EmbeddingRule):
    """The embedding rule, for an nn.Embedding subclass with its own forward (OPT's learned
    positions take an attention mask and an offset): the engine taps the `F.embedding` lookups of
    the module's own weight made inside its forward, so the rule sees the ids actually looked up
    and the gradient of the looked-up rows, whatever the forward does around them."""

    taps_lookups = True

    def for_own_forward(self, module):
        return self


class SampleInteraction(GenericRule):
    """A module in which samples may interact in the forward (so G[b] would not be sample b's
    own gradient): `problem(module)` says why, or None when this module does not (BatchNorm with
    running statistics in eval mode). The engine refuses the model when it does; when it does
    not, the module's own parameters get the generic per-sample rule. Applies to subclasses with
    a forward of their own too."""

    def __init__(self, problem):
        self.problem = problem

    def for_own_forward(self, module):
        return self

    def interaction(self, module):
        return self.problem(module)


GENERIC = GenericRule()
_LOOKUP = LookupCapture()
