"""A peer as an oracle: vigor's per-sample gradient norms against Opacus 1.6's.

Opacus (test-only dependency) computes per-sample gradient norms with its own code: ghost
clipping (norm samplers) for nn.Linear and nn.Embedding, per-sample gradients for
nn.LayerNorm and nn.RMSNorm. The model below is built only from layers both support, and both
get the same per-sample losses (vigor's token-mean NLL, summed for Opacus, whose
`loss_reduction="sum"` leaves each sample's gradient unscaled).

Tolerances (relative): 1e-9 in float64 (measured ~5e-16); 1e-5 in float32 (two independent
float32 computations; measured 1.4e-7 to 2.9e-7). Leaving out one small parameter (the
LayerNorm bias) changes the norms by ~3e-3, far above both.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

opacus = pytest.importorskip("opacus", minversion="1.6")

from opacus.grad_sample import GradSampleModuleFastGradientClipping  # noqa: E402

from tests.gradnorm.test_engine import random_batch, rel_err  # noqa: E402
from vigor.gradnorm import GradNormEngine, per_sample_grad_norms  # noqa: E402
from vigor.gradnorm.common import masked_mean_nll, real_token_positions  # noqa: E402

VOCAB, DIM, POSITIONS = 41, 16, 32


class Net(nn.Module):
    """Token and learned position embeddings, LayerNorm, a causal masked running mean (samples
    and future tokens do not mix), Linear + tanh, RMSNorm, a Linear head with bias."""

    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, DIM)
        self.positions = nn.Embedding(POSITIONS, DIM)
        self.ln = nn.LayerNorm(DIM)
        self.mix = nn.Linear(DIM, 2 * DIM)
        self.out = nn.Linear(2 * DIM, DIM, bias=False)
        self.rms = nn.RMSNorm(DIM, eps=1e-5)
        self.head = nn.Linear(DIM, VOCAB)

    def forward(self, input_ids, attention_mask, position_ids):
        h = self.ln(self.tokens(input_ids) + self.positions(position_ids))
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        running = (h * m).cumsum(1) / m.cumsum(1).clamp(min=1)
        h = h + self.out(torch.tanh(self.mix(running)))
        return self.head(self.rms(h))


class CausalLM(nn.Module):
    """The interface vigor's engine drives (input_ids, attention_mask, position_ids -> .logits)."""

    def __init__(self):
        super().__init__()
        self.net = Net()
        with torch.no_grad():  # LayerNorm/RMSNorm start at 1 and 0: make them matter
            for name, p in self.net.named_parameters():
                if "ln" in name or "rms" in name:
                    p.normal_(1.0, 0.3)

    def forward(self, input_ids, attention_mask=None, position_ids=None, use_cache=None):
        return SimpleNamespace(logits=self.net(input_ids, attention_mask, position_ids))


def opacus_norms(model: CausalLM, ids, attention, loss_mask) -> torch.Tensor:
    wrapped = GradSampleModuleFastGradientClipping(
        model.net, batch_first=True, loss_reduction="sum", use_ghost_clipping=True
    )
    wrapped.train()
    try:
        logits = wrapped(ids, attention, real_token_positions(attention))
        masked_mean_nll(logits, ids, loss_mask).sum().backward()
        return wrapped.get_norm_sample().detach()
    finally:
        wrapped._close()
        model.net.zero_grad(set_to_none=True)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-9), (torch.float32, 1e-5)], ids=["f64", "f32"])
@pytest.mark.parametrize("padding", ["left", "right"])
def test_vigor_equals_opacus(dtype, tol, padding):
    seed = int(torch.randint(0, 2**31 - 1, (1,)))
    torch.manual_seed(seed)
    model = CausalLM().to(dtype)
    ids, attention, loss = random_batch(seed, batch=6, seq=24, padding=padding)
    ids = ids % VOCAB
    rules_used = {s.rule.name for s in GradNormEngine(model).sites}
    assert rules_used == {"embedding", "layernorm", "linear", "rmsnorm"}  # closed forms, not the vmap fallback
    ours = per_sample_grad_norms(model, ids, attention, loss)
    theirs = opacus_norms(model, ids, attention, loss)
    assert bool((theirs > 0).all())
    assert rel_err(ours, theirs) <= tol, f"seed {seed}: {ours} vs {theirs}"
