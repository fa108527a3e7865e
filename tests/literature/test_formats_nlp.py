"""IOB / PubTator / JSONL readers and writers: round trips, offsets and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from genolm.io.errors import InputError
from genolm.literature import formats as F

DATA = Path(__file__).parents[1] / "data" / "literature" / "nlp"


def test_read_iob_real_slice_counts_and_roundtrip(tmp_path):
    sents = F.read_iob(DATA / "ncbi_devel_150.tsv")
    assert len(sents) == 150
    assert sents[0].line == 1
    n_b = sum(t.startswith("B-") for s in sents for t in s.tags)
    raw_b = (DATA / "ncbi_devel_150.tsv").read_text().count("\tB-Disease")
    assert n_b == raw_b > 0
    out = tmp_path / "o.tsv"
    F.write_iob(out, [(s.tokens, s.tags) for s in sents])
    assert out.read_text() == (DATA / "ncbi_devel_150.tsv").read_text()


@pytest.mark.parametrize(
    "content,line,msg",
    [
        ("a\tO\nb\tB-X\tEXTRA\n", 2, "3 tab-separated fields"),
        ("a\tO\nb\tBX\n", 2, "bad IOB tag"),
        ("a\tO\n\nb\n", 3, "expected token<TAB>tag"),
    ],
)
def test_read_iob_malformed_lines(tmp_path, content, line, msg):
    p = tmp_path / "bad.tsv"
    p.write_text(content)
    with pytest.raises(InputError) as e:
        F.read_iob(p)
    assert e.value.line == line and msg in e.value.message and e.value.path == str(p)


def test_non_utf8_and_empty(tmp_path):
    p = tmp_path / "latin1.tsv"
    p.write_bytes(b"a\tO\n\xe9t\xe9\tO\n")
    with pytest.raises(InputError) as e:
        F.read_iob(p)
    assert e.value.line == 2 and "UTF-8" in e.value.message
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="no sentences"):
        F.read_iob(empty)


def test_iob_spans_and_repair():
    tags = ["O", "B-D", "I-D", "O", "I-C", "I-C", "B-D"]
    assert F.iob_to_spans(tags) == [(1, 3, "D"), (4, 6, "C"), (6, 7, "D")]
    assert F.repair_iob(tags) == ["O", "B-D", "I-D", "O", "B-C", "I-C", "B-D"]
    assert F.spans_to_iob(7, F.iob_to_spans(tags)) == F.repair_iob(tags)


def test_pubtator_real_slice_offsets_relations_and_roundtrip(tmp_path):
    docs = F.read_pubtator(DATA / "cdr_train_80.PubTator")
    assert len(docs) == 80
    d = docs[0]
    assert d.id == "227508" and d.title.startswith("Naloxone reverses")
    m = d.mentions[0]
    assert (m.start, m.end, m.text, m.type, m.ids) == (0, 8, "Naloxone", "Chemical", ("D009270",))
    assert all(d.text[m.start : m.end] == m.text for d in docs for m in d.mentions)
    assert sum(len(d.relations) for d in docs) == 161
    assert all(r.type == "CID" for d in docs for r in d.relations)
    out = tmp_path / "rt.PubTator"
    F.write_pubtator(out, docs)
    again = F.read_pubtator(out)
    assert [(x.id, len(x.mentions), len(x.relations)) for x in again] == [
        (x.id, len(x.mentions), len(x.relations)) for x in docs
    ]


def test_pubtator_lenient_double_space_type(tmp_path):
    p = tmp_path / "x.PubTator"
    p.write_text("1|t|Atrial flutter after drug.\n1|a|Text.\n1\t0\t14\tAtrial flutter  Disease\tD001282\n")
    (d,) = F.read_pubtator(p)
    assert d.mentions[0].type == "Disease" and d.mentions[0].ids == ("D001282",)


@pytest.mark.parametrize(
    "content,line,msg",
    [
        ("1|t|Title here\n1|a|Abstract.\n1\t0\tX\tTitle\tDisease\tD1\n", 3, "integers"),
        ("1|t|Title here\n1|a|Abstract.\n1\t0\t5\tWrong\tDisease\tD1\n", 3, "does not match"),
        ("1|t|Title here\n1|a|Abstract.\n1\t0\t500\tTitle\tDisease\tD1\n", 3, "outside the document"),
        ("1|t|Title here\n1|a|Abstract.\n2\t0\t5\tTitle\tDisease\tD1\n", 3, "inside document"),
        ("1\t0\t5\tTitle\tDisease\tD1\n", 1, "before any"),
        ("1|t|Title here\n1|a|Abstract.\n1\tbroken\n", 3, "cannot read PubTator line"),
    ],
)
def test_pubtator_malformed(tmp_path, content, line, msg):
    p = tmp_path / "bad.PubTator"
    p.write_text(content)
    with pytest.raises(InputError) as e:
        F.read_pubtator(p)
    assert e.value.line == line and msg in e.value.message


def test_pubtator_empty_document(tmp_path):
    p = tmp_path / "e.PubTator"
    p.write_text("1|t|\n1|a|\n")
    with pytest.raises(InputError, match="has no text"):
        F.read_pubtator(p)


def test_jsonl_and_text(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_text('{"id": "a", "text": "Aspirin."}\n\n{"text": "Second."}\n')
    recs = F.read_jsonl_texts(p)
    assert [r["id"] for r in recs] == ["a", "3"]
    p.write_text('{"id": "a", "text": ""}\n')
    with pytest.raises(InputError, match="empty document") as e:
        F.read_jsonl_texts(p)
    assert e.value.line == 1
    p.write_text('{"id": "a", "text": "x"}\n{oops\n')
    with pytest.raises(InputError, match="not valid JSON") as e:
        F.read_jsonl_texts(p)
    assert e.value.line == 2
    t = tmp_path / "in.txt"
    t.write_text("first doc\n\nsecond doc\n")
    assert [(r["id"], r["text"]) for r in F.read_text_documents(t)] == [("1", "first doc"), ("3", "second doc")]


def test_tokenizer_offsets_and_sentences():
    text = "Cisplatin-induced nephrotoxicity (CIN) was seen. In 5 of 12 rats, e.g. severe."
    toks = F.tokenize_with_offsets(text)
    assert all(text[s:e] == w for w, s, e in toks)
    assert [w for w, _, _ in toks[:5]] == ["Cisplatin", "-", "induced", "nephrotoxicity", "("]
    sents = F.split_sentences(toks)
    assert len(sents) == 2 and sents[1][0][0] == "In"


def test_detect_format(tmp_path):
    assert F.detect_format(DATA / "cdr_dev_40.PubTator") == "pubtator"
    assert F.detect_format(DATA / "ncbi_devel_150.tsv") == "iob"
    p = tmp_path / "noext"
    p.write_text('{"text": "x"}\n')
    assert F.detect_format(p) == "jsonl"
    p.write_text("Plain words here.\n")
    assert F.detect_format(p) == "text"


@pytest.mark.parametrize(
    "line,msg",
    [
        ("1\t1x\t7\tAspirin\tChemical", "must be integers"),  # was read as a relation line and lost
        ("1\t0\t7.5\tAspirin\tChemical", "must be integers"),
        ("1\t1.5\t7\tAspirin\tChemical", "must be integers"),
        ("1\t-3\t7\tAspirin\tChemical", "outside the document text"),
        ("1\t\t7\tAspirin\tChemical", "non-empty fields"),
    ],
)
def test_pubtator_bad_offsets_are_errors_with_line(tmp_path, line, msg):
    p = tmp_path / "bad.PubTator"
    p.write_text("1|t|Aspirin and headache.\n1|a|x\n" + line + "\n")
    with pytest.raises(InputError) as e:
        F.read_pubtator(p)
    assert e.value.line == 3 and msg in e.value.message and e.value.path == str(p)


def test_pubtator_relation_lines_still_read(tmp_path):
    p = tmp_path / "ok.PubTator"
    p.write_text("1|t|Aspirin and headache.\n1|a|x\n1\t0\t7\tAspirin\tChemical\tD001241\n1\tCID\tD001241\tD006261\n")
    (d,) = F.read_pubtator(p)
    assert [r.key() for r in d.relations] == [("CID", "D001241", "D006261")] and len(d.mentions) == 1
