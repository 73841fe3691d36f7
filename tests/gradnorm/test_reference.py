"""The reference itself against an independent computation: zero_grad/backward per sample on
an unpadded copy, reading `param.grad` (a different code path from autograd.grad)."""

import torch

from vigor.gradnorm import reference_grad_norms
from vigor.tiny import tiny_causal_lm


def test_reference_matches_backward_per_sample():
    model = tiny_causal_lm("qwen2", vocab_size=50, dtype=torch.float64, seed=7)
    g = torch.Generator().manual_seed(int(torch.randint(0, 10**6, (1,))))
    lengths, prompts = [9, 14, 6], [3, 5, 2]
    seq = max(lengths)
    ids = torch.zeros(3, seq, dtype=torch.long)
    attention = torch.zeros_like(ids)
    loss = torch.zeros_like(ids)
    expected = []
    for b, (n, p) in enumerate(zip(lengths, prompts)):
        row = torch.randint(3, 50, (n,), generator=g)
        ids[b, seq - n :] = row
        attention[b, seq - n :] = 1
        loss[b, seq - n + p :] = 1
        model.zero_grad()
        logits = model(row.unsqueeze(0)).logits[0]
        nll = torch.nn.functional.cross_entropy(logits[p - 1 : -1], row[p:])  # mean over targets
        nll.backward()
        expected.append(sum(q.grad.pow(2).sum() for q in model.parameters()).sqrt())
    got = reference_grad_norms(model, ids, attention, loss)
    assert torch.allclose(got, torch.stack(expected), rtol=1e-10, atol=0)
