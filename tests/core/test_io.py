import gzip

import pytest

from genolm.io.errors import InputError
from genolm.io.fasta import Reference, load_fasta, normalize, read_fasta, reverse_complement
from genolm.io.tables import read_labelled, read_sequences


def test_fasta_reads_multiline_gz_and_keeps_case(tmp_path):
    p = tmp_path / "g.fa.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(">chr1 desc\nACGTac\ngtNN\n>chr2\nRYKM\n")
    recs = dict(read_fasta(p))
    assert recs == {"chr1": "ACGTacgtNN", "chr2": "RYKM"}
    assert normalize(recs["chr1"]) == "ACGTACGTNN"
    assert normalize("RYKMacgu") == "NNNNACGT"  # IUPAC -> N, U -> T, soft-masking dropped
    assert reverse_complement("AACGTn") == "nACGTT"


@pytest.mark.parametrize(
    "text,line,words",
    [
        ("ACGT\n>x\nACGT\n", 1, "before the first"),
        (">x\nACGT\nACGZ\n", 3, "non-nucleotide character 'Z'"),
        (">\nACGT\n", 1, "no name"),
    ],
)
def test_fasta_errors_name_file_and_line(tmp_path, text, line, words):
    p = tmp_path / "bad.fa"
    p.write_text(text)
    with pytest.raises(InputError) as e:
        list(read_fasta(p))
    assert e.value.line == line and words in e.value.message
    assert str(p) in e.value.format()


def test_empty_and_duplicate_fasta(tmp_path):
    p = tmp_path / "empty.fa"
    p.write_text("")
    with pytest.raises(InputError, match="empty"):
        list(read_fasta(p))
    d = tmp_path / "dup.fa"
    d.write_text(">a\nAC\n>a\nGT\n")
    with pytest.raises(InputError, match="duplicate"):
        load_fasta(d)


def test_reference_fetch_pads_and_rejects_unknown_contig(tmp_path):
    p = tmp_path / "r.fa"
    p.write_text(">c\nACGTACGTAC\n")
    ref = Reference(p)
    assert ref.fetch("c", 2, 6) == "GTAC"
    assert ref.fetch("c", -2, 3) == "NNACG"
    assert ref.fetch("c", 8, 12) == "ACNN"
    with pytest.raises(InputError, match="unknown contig 'chrX'"):
        ref.fetch("chrX", 0, 1)


def test_tables(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("sequence,label\nACGT,1\nacgn,0\n")
    seqs, labels = read_labelled(p)
    assert seqs == ["ACGT", "ACGN"] and labels == [1, 0]
    q = tmp_path / "bad.csv"
    q.write_text("sequence,label\nACGT,1\nAC-T,0\n")
    with pytest.raises(InputError) as e:
        read_labelled(q)
    assert e.value.line == 3
    r = tmp_path / "nolabel.csv"
    r.write_text("sequence\nACGT\n")
    with pytest.raises(InputError, match="missing column.*'label'"):
        read_labelled(r)
    ids, s = read_sequences(r)
    assert ids == ["0"] and s == ["ACGT"]
