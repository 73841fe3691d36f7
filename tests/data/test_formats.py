"""The data formats users already have: TRL conversational rows, verl rows and plain text, as real JSONL and
Parquet files, templated once by a real chat template; any other shape is an error naming the first bad row."""

import json

import pytest

from vigor.data import DataError, format_prompt, load_records, load_records_and_format
from vigor.data.templates import SYSTEM_PROMPTS
from vigor.tiny import char_tokenizer

CONVERSATION = [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "2+2?"}]


def trl_rows():
    return [{"prompt": [{"role": "user", "content": f"What is {i}+{i}?"}], "solution": str(2 * i)} for i in range(3)] + \
           [{"prompt": [CONVERSATION[0], {**CONVERSATION[1], "name": "alice"}], "solution": "4"}]


def verl_rows():
    return [{"data_source": "openai/gsm8k", "ability": "math",
             "prompt": [{"role": "user", "content": f"Natalia sold {i} clips. Let's think step by step."}],
             "reward_model": {"style": "rule", "ground_truth": f"{1000 + i}"},
             "extra_info": {"split": "train", "index": i}} for i in range(3)]


def write(tmp_path, name, rows):
    path = tmp_path / name
    if name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_trl_conversational_rows(tmp_path, suffix):
    records, fmt = load_records_and_format(write(tmp_path, "trl" + suffix, trl_rows()))
    assert fmt.describe() == "format TRL conversational; prompt: 'prompt' (chat messages); gold: 'solution'"
    assert [r.answer for r in records] == ["0", "2", "4", "4"]
    assert [r.prompt for r in records] == ["What is 0+0?", "What is 1+1?", "What is 2+2?", "2+2?"]  # last user turn
    assert records[0].messages == [{"role": "user", "content": "What is 0+0?"}]
    # only role and content are kept: Parquet gives every row's messages a 'name' key (None where absent)
    assert records[3].messages == CONVERSATION
    assert records[2].where.endswith(f"trl{suffix}:3")


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_verl_rows(tmp_path, suffix):
    records, fmt = load_records_and_format(write(tmp_path, "verl" + suffix, verl_rows()))
    assert fmt.name == "verl"
    assert fmt.describe() == ("format verl; prompt: 'prompt' (chat messages); "
                              "gold: 'reward_model.ground_truth', data source 'data_source'")
    assert [r.answer for r in records] == ["1000", "1001", "1002"]
    assert records[1].meta == {"data_source": "openai/gsm8k", "ability": "math",
                               "extra_info": {"split": "train", "index": 1}}
    assert records[1].messages == verl_rows()[1]["prompt"]
    # a verl row with an answer-like column still takes its gold from reward_model, unless told otherwise
    with_solution = [{**row, "solution": "worked solution"} for row in verl_rows()]
    path = write(tmp_path, "verl-solution" + suffix, with_solution)
    assert [r.answer for r in load_records(path)] == ["1000", "1001", "1002"]
    records, fmt = load_records_and_format(path, answer_column="solution")
    assert fmt.name == "TRL conversational" and records[0].answer == "worked solution"


def test_plain_text_and_benchmark_formats_are_described(tmp_path):
    path = write(tmp_path, "plain.jsonl", [{"question": "1+1?", "target": 2}])
    records, fmt = load_records_and_format(path)
    assert fmt.describe() == "format plain text; prompt: 'question' (text); gold: 'target'"
    assert (records[0].prompt, records[0].answer, records[0].messages) == ("1+1?", "2", None)
    assert load_records_and_format(path, prompt_column="question")[1].gold is None  # no answer column guessed
    assert load_records_and_format("gsm8k", limit=1)[1].describe() == \
        "format gsm8k; prompt: 'question'; gold: after '####' in 'answer'"


def test_template_applied_once_with_the_system_prompt_only_when_the_data_has_none():
    tok = char_tokenizer()
    messages = [{"role": "user", "content": "2+2?"}]
    # no system message in the data: vigor's system prompt is added, as for plain text; one template pass
    assert format_prompt(messages, tok) == format_prompt("2+2?", tok) == tok.apply_chat_template(
        [{"role": "system", "content": SYSTEM_PROMPTS["boxed"]}, *messages], tokenize=False, add_generation_prompt=True)
    # the data's own system message wins; the conversation is templated exactly as given
    text = format_prompt(CONVERSATION, tok)
    assert text == tok.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True)
    assert text.count("<|im_start|>") == 3 and text.count("<|im_start|>assistant") == 1
    assert SYSTEM_PROMPTS["boxed"] not in text
    multi = [*CONVERSATION, {"role": "assistant", "content": "four"}, {"role": "user", "content": "and 3+3?"}]
    assert format_prompt(multi, tok).count("<|im_start|>") == 5
    # a base model (no template) takes [system?, user] as the plain prompt; longer conversations are an error
    assert format_prompt(CONVERSATION, tok, chat=False) == "Answer in one word.\n\nQuestion: 2+2?\nAnswer:"
    with pytest.raises(ValueError, match="conversation of 3 turns .* needs a tokenizer with a chat template"):
        format_prompt(multi, tok, chat=False)


@pytest.mark.slow  # converts the embedded GGUF once (shared with the other tests of the default model)
def test_real_smollm2_template_on_a_conversational_file(tmp_path):
    from transformers import AutoTokenizer

    from vigor.models import default_model_dir

    tok = AutoTokenizer.from_pretrained(default_model_dir())
    records = load_records(write(tmp_path, "trl.parquet", trl_rows()))
    for record in records:
        text = format_prompt(record.messages, tok, system_prompt="boxed")
        has_system = record.messages[0]["role"] == "system"
        expected = record.messages if has_system else [{"role": "system", "content": SYSTEM_PROMPTS["boxed"]},
                                                       *record.messages]
        assert text == tok.apply_chat_template(expected, tokenize=False, add_generation_prompt=True)
        assert text.count("<|im_start|>system") == 1 and text.endswith("<|im_start|>assistant\n")
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == text  # the special tokens are real tokens, not text to be templated again


@pytest.mark.parametrize("rows, message", [
    # a row of another shape than the first
    ([{"prompt": [{"role": "user", "content": "a"}]}, {"prompt": "b"}],
     r"bad.jsonl:2: 'prompt' is text, but the first row held chat messages"),
    ([{"prompt": "a"}, {"prompt": [{"role": "user", "content": "b"}]}],
     r"bad.jsonl:2: 'prompt' holds chat messages, but the first row held text"),
    ([{"prompt": "a"}, {"prompt": {"role": "user"}}], r"bad.jsonl:2: 'prompt' must be text or a list of"),
    # malformed messages
    ([{"prompt": []}], r"bad.jsonl:1: 'prompt' must be a non-empty list of \{role, content\} messages"),
    ([{"prompt": [{"role": "user", "content": "a"}]}, {"prompt": [{"role": "user"}]}],
     r"bad.jsonl:2: 'prompt' message 1 must be an object with 'role' and 'content', got \['role'\]"),
    ([{"prompt": [{"role": "user", "content": [{"type": "text", "text": "a"}]}]}],
     r"bad.jsonl:1: 'prompt' message 1 \(user\): 'content' must be text, got list"),
    ([{"prompt": [{"role": "system", "content": "s"}]}], r"bad.jsonl:1: 'prompt' has no 'user' message"),
    ([{"prompt": [{"role": "user", "content": "  "}]}], r"bad.jsonl:1: empty or non-text prompt"),
    # verl rows without a usable ground truth
    ([{"prompt": [{"role": "user", "content": "a"}], "reward_model": {"style": "rule"}}],
     r"bad.jsonl:1: 'reward_model' must be an object with a 'ground_truth' field, got \['style'\]"),
    ([verl_rows()[0], {**verl_rows()[1], "reward_model": {"ground_truth": ["1", "2"]}}],
     r"bad.jsonl:2: 'reward_model.ground_truth' must be a final answer \(text or a number\)"),
    ([verl_rows()[0], {k: v for k, v in verl_rows()[1].items() if k != "reward_model"}],
     r"bad.jsonl:2: record has no 'reward_model' field"),
])
def test_other_shapes_name_the_first_bad_row(tmp_path, rows, message):
    with pytest.raises(DataError, match=message):
        load_records(write(tmp_path, "bad.jsonl", rows))
