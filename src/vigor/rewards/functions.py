"""TRL reward functions as vigor rewards: `--reward vigor,my_rewards.py:format_reward:0.5`.

Any callable TRL's GRPOTrainer accepts as a reward function works: it is called by keyword with
`prompts`, `completions`, `completion_ids`, every dataset column but the prompt, `trainer_state`,
`log_extra` and `log_metric` (TRL 1.16's `_calculate_rewards`), and returns one float or None per
completion. As in TRL, None means "does not apply": the completion is left out of this reward's
group mean and std and gets no advantage from it (a completion no reward applies to gets no
advantage at all). Unlike TRL, each function gets its own group advantage, like every vigor
reward (see vigor.rewards.combine).

A wrong number of values, a NaN or infinite value, a value that is not a number, or an exception is a
`RewardFunctionError` naming the reward and the step.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import numbers
import os
import sys

import torch

from vigor.rewards.base import Reward

# keywords TRL passes to every reward function, whatever the dataset
ALWAYS_PASSED = ("prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric")


class RewardFunctionError(RuntimeError):
    """A TRL reward function failed or returned something unusable during training."""


def load_target(target: str):
    """The object `target` names: 'path.py:name' (a file, relative to the working folder) or
    'package.module:name'. Loading the file runs its `register_reward` decorators."""
    where, _, func_name = target.rpartition(":")
    if where.endswith(".py"):
        path = os.path.abspath(where)
        if not os.path.isfile(path):
            raise ValueError(f"reward {target!r}: no such file {where!r}")
        module_name = "vigor_reward_" + hashlib.sha1(path.encode()).hexdigest()[:12]
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module  # before running it, so its classes can name their module
            try:
                spec.loader.exec_module(module)
            except Exception as err:  # the user's module: report its first line, whatever it is
                del sys.modules[module_name]
                raise ValueError(f"reward {target!r}: importing {where} raised {type(err).__name__}: "
                                 f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}") from err
    else:
        try:
            module = importlib.import_module(where)
        except Exception as err:
            raise ValueError(f"reward {target!r}: cannot import module {where!r} "
                             f"({type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''})"
                             ) from err
    found = getattr(module, func_name, None)
    if found is None:
        raise ValueError(f"reward {target!r}: {where} has no function {func_name!r} (nor a Reward class of that name)")
    return found


def check_signature(func, target: str) -> None:
    """A one-line ValueError unless TRL could call `func` as a reward function."""
    if not callable(func):
        raise ValueError(f"reward {target!r}: {type(func).__name__} object is not callable")
    if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None)):
        raise ValueError(f"reward {target!r}: async reward functions are not supported; make it synchronous")
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        raise ValueError(f"reward {target!r}: cannot read its signature") from None
    positional_only = [p.name for p in signature.parameters.values()
                       if p.kind is p.POSITIONAL_ONLY and p.default is p.empty]
    if positional_only:
        raise ValueError(f"reward {target!r}: wrong signature {signature}: TRL passes everything by keyword, "
                         f"but {positional_only[0]!r} is positional-only")
    try:
        signature.bind_partial(**{name: None for name in ALWAYS_PASSED})
    except TypeError:
        raise ValueError(f"reward {target!r}: wrong signature {signature}: a TRL reward function must accept "
                         f"the keywords {', '.join(ALWAYS_PASSED)} and every dataset column; add **kwargs"
                         ) from None


class FunctionReward(Reward):
    """A TRL reward function; `name` is its term's (`vigor.rewards.spec.function_term`: its `__name__`, as in TRL,
    so the logs read rewards/<name>/...; checked there not to be a built-in reward's)."""

    needs = "text"

    def __init__(self, func, target: str, name: str):
        super().__init__()  # a TRL function takes no options
        self.func, self.target, self.name = func, target, name

    def score(self, rollouts, *, model=None, stats=None):
        n, where = len(rollouts), f"reward {self.name!r} ({self.target}) at step {rollouts.step}"
        if rollouts.reward_kwargs is None:
            raise ValueError(f"{where}: a TRL reward function needs the trainer's inputs (Rollouts.reward_kwargs)")
        try:
            values = self.func(**rollouts.reward_kwargs)
        except Exception as err:
            raise RewardFunctionError(f"{where} raised {type(err).__name__}: {err}") from err
        try:
            values = list(values)
        except TypeError:
            raise RewardFunctionError(f"{where} returned a {type(values).__name__}, not a list of floats") from None
        if len(values) != n:
            raise RewardFunctionError(f"{where} returned {len(values)} values for {n} completions")
        out = torch.full((n,), torch.nan, dtype=torch.float64)
        for i, value in enumerate(values):
            if value is None:
                continue  # does not apply, as in TRL
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                value = value.item()
            if not isinstance(value, numbers.Real):  # bool is a Real, as TRL accepts it
                raise RewardFunctionError(f"{where} returned {value!r} for completion {i}: not a number or None")
            if not math.isfinite(value):
                raise RewardFunctionError(f"{where} returned {value} for completion {i}; return None where the "
                                          f"reward does not apply")
            out[i] = float(value)
        return out
