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
  anything else  per-sample vector-Jacobian products of the module itself (torch.func.vmap)
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
            out[s] = batched_dot(w, w)
    return out


def bias_sq_norms(g: torch.Tensor, acc: torch.dtype) -> torch.Tensor:
    g = g.reshape(g.shape[0], -1, g.shape[-1])
    return g.sum(1, dtype=acc).pow(2).sum(1)


class Rule:
    """How to account for the parameters a module owns directly."""

    name = "rule"

    def param_names(self, module: nn.Module) -> tuple[str, ...]:
        return tuple(n for n, p in module.named_parameters(recurse=False))

    def saved_input(self, module: nn.Module, args: tuple, kwargs: dict) -> torch.Tensor:
        return args[0] if args else next(iter(kwargs.values()))

    def sq_norms(self, module, a, g, wanted: set[str], acc) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class LinearRule(Rule):
    """nn.Linear (y = A W^T + b) and transformers' Conv1D (y = A W + b)."""

    name = "linear"

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

    def __init__(self, scale_attr: str | None = None):
        self.scale_attr = scale_attr

    def check(self, module: nn.Module) -> str | None:
        if getattr(module, "max_norm", None) is not None:
            return "max_norm renormalises the table during the lookup"
        if getattr(module, "sparse", False):
            return "sparse gradients are not supported"
        return None

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
    """Any other module with parameters of its own (RMSNorm, LayerNorm, ...), called with a
    single tensor: per-sample gradients by vmap over vector-Jacobian products of the module
    on one sample at a time; a plain loop over samples if vmap cannot batch its ops."""

    name = "per-sample vjp"

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


def find_rule(module: nn.Module) -> Rule:
    """The rule for a module: by exact type, or for a subclass that keeps the base forward."""
    for cls, rule in _registry().items():
        if type(module) is cls or (isinstance(module, cls) and type(module).forward is cls.forward):
            return rule
    return _GENERIC


_GENERIC = GenericRule()
_REGISTRY: dict[type, Rule] | None = None


def _registry() -> dict[type, Rule]:
    global _REGISTRY
    if _REGISTRY is None:
        registry: dict[type, Rule] = {nn.Linear: LinearRule(), nn.Embedding: EmbeddingRule()}
        try:
            from transformers.pytorch_utils import Conv1D

            registry[Conv1D] = LinearRule()
        except ImportError:  # pragma: no cover - transformers is a dependency
            pass
        try:
            from transformers.models.gemma3.modeling_gemma3 import Gemma3TextScaledWordEmbedding

            registry[Gemma3TextScaledWordEmbedding] = EmbeddingRule(scale_attr="embed_scale")
        except ImportError:  # pragma: no cover
            pass
        _REGISTRY = registry
    return _REGISTRY
