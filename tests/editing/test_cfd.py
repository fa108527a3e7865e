"""CFD scores equal the published tables (read here independently of the package code)."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from genolm.editing.cfd import cfd_score

COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}


def _tables():
    data = resources.files("genolm.editing") / "data"
    with (data / "cfd_mismatch_scores.csv").open() as fh:
        mm = {row["key"]: float(row["score"]) for row in csv.DictReader(fh)}
    with (data / "cfd_pam_scores.csv").open() as fh:
        pam = {row["pam_nt2_nt3"]: float(row["score"]) for row in csv.DictReader(fh)}
    return mm, pam


def reference_cfd(guide: str, off: str, pam: str) -> float:
    """Doench's cfd-score-calculator, written out: key r{guide}:d{revcomp(off base)},{pos}."""
    mm, pams = _tables()
    score = 1.0
    for i, (g, o) in enumerate(zip(guide, off)):
        if g != o:
            score *= mm[f"r{g.replace('T', 'U')}:d{COMP[o]},{i + 1}"]
    return score * pams[pam[1:]]


GUIDE = "GACGCATAAAGATGAGACGC"


def test_tables_complete():
    mm, pam = _tables()
    assert len(mm) == 240 and len(pam) == 16 and pam["GG"] == 1.0


def test_perfect_match_and_pams():
    assert cfd_score(GUIDE, GUIDE, "TGG") == 1.0
    assert cfd_score(GUIDE, GUIDE, "TAG") == pytest.approx(0.259259259, rel=1e-6)
    assert cfd_score(GUIDE, GUIDE, "TTT") == 0.0


@pytest.mark.parametrize("pos", range(20))
@pytest.mark.parametrize("base", "ACGT")
def test_every_single_mismatch_equals_table(pos, base):
    if GUIDE[pos] == base:
        return
    off = GUIDE[:pos] + base + GUIDE[pos + 1 :]
    assert cfd_score(GUIDE, off, "AGG") == pytest.approx(reference_cfd(GUIDE, off, "AGG"), abs=1e-12)


def test_known_table_value_and_product():
    # guide A at position 2 vs off-target G: sgRNA rA opposite DNA dC (complement of G)
    mm, pams = _tables()
    guide = "AAAAAAAAAAAAAAAAAAAA"
    off = "AGAAAAAAAAAAAAAAAAAT"
    expected = mm["rA:dC,2"] * mm["rA:dA,20"] * pams["AG"]
    assert cfd_score(guide, off, "CAG") == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(reference_cfd(guide, off, "CAG"))
