"""Files that cannot be read are one-line DataErrors naming the file and where (line, byte offset), and the
prompt-length check never tokenizes a prompt whose length alone proves it too long."""

import csv
import gzip
import json
import random

import pytest

from vigor.data import DataError, load_records, read_rows
from vigor.data.lengths import SLACK, max_token_chars, prompts_over
from vigor.data.records import CSV_FIELD_LIMIT
from vigor.tiny import char_tokenizer

GOOD = [{"question": f"q{i}", "answer": str(i)} for i in range(4)]


def jsonl_bytes(rows) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def one_line_error(path) -> str:
    with pytest.raises(DataError) as info:
        load_records(str(path))
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    return message


@pytest.mark.parametrize("name", ["bad.jsonl", "bad.json", "bad.csv", "bad.jsonl.gz"])
def test_non_utf8_bytes_name_the_byte_offset(tmp_path, name):
    if name.endswith(".csv"):
        good = b"question,answer\nq0,0\n"
    elif ".json" in name and "jsonl" not in name:
        good = b'[{"question": "q0", "answer": "0"},\n'
    else:
        good = jsonl_bytes(GOOD[:2])
    data = good + b'{"question": "caf\xe9", "answer": "1"}\n'  # Latin-1, not UTF-8
    offset = len(good) + data[len(good):].index(b"\xe9")
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    message = one_line_error(path)
    assert f"not UTF-8 text: byte 0xe9 at byte offset {offset}" in message
    line = good.count(b"\n") + 1
    assert f"{path}:{line}:" in message
    assert ("of the decompressed data" in message) == name.endswith(".gz")


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfquestion,answer\nq0,7\n")
    assert [(r.prompt, r.answer) for r in load_records(str(path))] == [("q0", "7")]


def test_gz_that_is_not_gzip_or_is_truncated(tmp_path):
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_bytes(jsonl_bytes(GOOD))
    assert "not a gzip file although the name ends in .gz" in one_line_error(fake)
    whole = gzip.compress(jsonl_bytes(GOOD * 200))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[:len(whole) // 2])
    assert "gzip data truncated or corrupt after line" in one_line_error(cut)
    fine = tmp_path / "fine.csv.gz"
    fine.write_bytes(gzip.compress(b"question,answer\nq,1\n"))
    assert [r.answer for r in load_records(str(fine))] == ["1"]


def test_truncated_or_fake_parquet(tmp_path):
    import pandas as pd

    whole = tmp_path / "whole.parquet"
    pd.DataFrame(GOOD * 50).to_parquet(whole)
    data = whole.read_bytes()
    for name, content in (("cut.parquet", data[:len(data) // 2]), ("tail.parquet", data[:-3]),
                          ("text.parquet", jsonl_bytes(GOOD)), ("empty.parquet", b"")):
        path = tmp_path / name
        path.write_bytes(content)
        assert "not a readable Parquet file" in one_line_error(path), name


def test_csv_field_limit_raised_and_still_bounded(tmp_path):
    assert csv.field_size_limit() == 131072  # the module's default, restored after every read
    big = "x" * 200_000  # over the csv module's default 128 KiB: now read
    path = tmp_path / "big.csv"
    path.write_text(f"question,answer\n{big},1\n")
    assert load_records(str(path))[0].prompt == big
    assert csv.field_size_limit() == 131072
    # an unclosed quote turns the rest of the file into one field: past the raised limit it is a clear error
    huge = tmp_path / "unclosed.csv"
    with open(huge, "w") as f:
        f.write('question,answer\nq0,0\n"q1,1\n')
        f.write(("y" * 1023 + "\n") * (CSV_FIELD_LIMIT // 1024 + 1))
    message = one_line_error(huge)
    assert f"{huge}:" in message and f"a CSV field is longer than {CSV_FIELD_LIMIT:,} characters" in message
    assert csv.field_size_limit() == 131072


def test_read_rows_errors_before_the_first_bad_row_only(tmp_path):
    path = tmp_path / "late.jsonl"
    path.write_bytes(jsonl_bytes(GOOD) + b"\xff\n")
    rows = read_rows(path)
    assert [next(rows)[0] for _ in range(4)] == [1, 2, 3, 4]  # the good rows come first
    with pytest.raises(DataError, match=r"late.jsonl:5: not UTF-8 text: byte 0xff at byte offset"):
        next(rows)


def exact_over(prompts, tokenizer, max_tokens):
    """Reference: tokenize everything and count."""
    return {i for i, p in enumerate(prompts) if len(tokenizer(p, add_special_tokens=False)["input_ids"]) > max_tokens}


def test_prompts_over_matches_the_exact_count_and_skips_tokenizing_huge_prompts(monkeypatch):
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    tok = char_tokenizer()
    alphabet = "ab c\n<|im_start|>"
    prompts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60))) for _ in range(200)]
    for max_tokens in (1, 10, 25, 40):
        got = prompts_over(prompts, tok, max_tokens)
        assert set(got) == exact_over(prompts, tok, max_tokens), f"seed {seed}, max_tokens {max_tokens}"
        bound = max_tokens * max_token_chars(tok) * SLACK
        assert all(v.endswith(" tokens") == (len(prompts[i]) <= bound) for i, v in got.items()), f"seed {seed}"
    # a prompt past the character bound is rejected without being tokenized
    bound = 10 * max_token_chars(tok) * SLACK
    calls = []
    real_call = type(tok).__call__

    def counting(self, texts, **kw):
        calls.append(max(map(len, texts)))
        return real_call(self, texts, **kw)
    monkeypatch.setattr(type(tok), "__call__", counting)
    got = prompts_over(["short", "z" * (bound + 1), "q" * 11], tok, 10)
    assert got == {1: f"{bound + 1:,} characters", 2: "11 tokens"}
    assert calls == [11], "the over-long prompt was tokenized"


def test_csv_row_longer_than_its_header(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("question,answer\nq0,0\nq1,1,extra\n")
    assert one_line_error(path).endswith("ragged.csv:3: 3 fields, but the header has 2")


def test_truncated_saved_dataset_folder(tmp_path):
    import datasets

    folder = tmp_path / "saved"
    datasets.Dataset.from_list(GOOD * 100).save_to_disk(str(folder))
    [arrow] = folder.glob("*.arrow")
    arrow.write_bytes(arrow.read_bytes()[:arrow.stat().st_size // 2])
    assert "not a readable saved dataset" in one_line_error(folder)
