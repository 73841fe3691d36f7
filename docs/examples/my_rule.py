"""A gradient-norm rule of your own, in one file: a linear layer with a fixed output scale,
y = c (A W^T) + b (as in muP's scaled read-outs, or a LoRA layer's alpha / r).

Importing this file registers the rule; the engine then uses it for every ScaledLinear in the model.
Per sample (G = dL/dy, A = the layer's input, both [T, d]):
    dL/dW = c G^T A   ->  ||dL/dW||_F^2 = c^2 ||G^T A||_F^2   (the linear rule's formula, times c^2)
    dL/db = sum_t G_t ->  ||dL/db||^2                         (the bias formula, unchanged)
"""

import torch
from torch import nn

from vigor.gradnorm import Rule, register_rule
from vigor.gradnorm.rules import bias_sq_norms, linear_weight_sq_norms


class ScaledLinear(nn.Module):
    def __init__(self, d_in: int, d_out: int, scale: float, bias: bool = True):
        super().__init__()
        self.scale = scale  # a fixed number, not a parameter
        self.weight = nn.Parameter(torch.randn(d_out, d_in) / d_in ** 0.5)
        self.bias = nn.Parameter(torch.zeros(d_out)) if bias else None

    def forward(self, x):
        y = self.scale * (x @ self.weight.T)
        return y if self.bias is None else y + self.bias


@register_rule(ScaledLinear)
class ScaledLinearRule(Rule):
    name = "scaled_linear"        # how an EngineProfile (vigor bench gradnorm --profile) labels its time
    falls_back_to_generic = True  # a module `check` refuses is still covered, exactly, by the generic rule

    def check(self, module):
        return None if isinstance(module.scale, (int, float)) else "scale is not a fixed number"

    def sq_norms(self, module, a, g, wanted, acc):
        out = {}
        if "weight" in wanted:
            out["weight"] = module.scale ** 2 * linear_weight_sq_norms(a, g, acc)
        if "bias" in wanted:
            out["bias"] = bias_sq_norms(g, acc)
        return out
