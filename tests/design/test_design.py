"""`genolm design`: directed evolution and gradient design under an edit budget, kept regions and avoided motifs,
on real seeds (GUE prom_core non-promoters from tests/data/core/prom_valid.csv, Kim 2019 guide contexts)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from genolm.cli.main import main
from genolm.design.constraints import build_constraints, motif_from_iupac, occurrences, parse_keep
from genolm.io.errors import InputError
from genolm.io.fasta import read_fasta
from genolm.sequence import encode, reverse_complement

DATA = Path(__file__).resolve().parents[1] / "data"
AVOID = "TATA,GAATTC,ACCGG"  # ACCGG is not its own reverse complement (CCGGT): checks both strands
KEEP = "1-10,61-70"


def _non_promoters(n: int) -> list[tuple[str, str]]:
    """The first n non-promoters for which the test constraint set is feasible with 4 edits."""
    out = []
    with open(DATA / "core" / "prom_valid.csv") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if row["label"] != "0":
                continue
            sid = f"valid{i + 2}"
            try:
                build_constraints([sid], [row["sequence"]], 4, keep=KEEP, avoid=AVOID)
            except InputError:
                continue
            out.append((sid, row["sequence"]))
            if len(out) == n:
                break
    return out


def _write_fasta(path: Path, recs) -> Path:
    path.write_text("".join(f">{i} seed\n{s}\n" for i, s in recs))
    return path


@pytest.fixture(scope="module")
def seeds_fa(tmp_path_factory) -> Path:
    return _write_fasta(tmp_path_factory.mktemp("seeds") / "seeds.fa", _non_promoters(12))


def _run(args: list[str]) -> int:
    return main(["-q", "design", *args])


def _tsv(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _has_avoided(seq: str) -> bool:
    return any(m in seq or m in reverse_complement(seq) for m in AVOID.split(","))


def _check_outputs(out: Path, seeds: dict[str, str], k: int, keep_positions: list[int]) -> dict:
    designs = dict(read_fasta(out / "designed.fa"))
    assert list(designs) == list(seeds)  # input order, ids kept
    edits = _tsv(out / "edits.tsv")
    rows = {r["seed_id"]: r for r in _tsv(out / "designs.tsv")}
    for sid, seed in seeds.items():
        d = designs[sid]
        assert len(d) == len(seed)
        diff = [p for p in range(len(seed)) if d[p] != seed[p]]
        assert len(diff) <= k
        assert int(rows[sid]["n_edits"]) == len(diff)
        assert all(p + 1 not in keep_positions for p in diff), (sid, diff)
        applied = list(seed)
        for e in (e for e in edits if e["seed_id"] == sid):
            assert applied[int(e["position"]) - 1] == e["from"]
            applied[int(e["position"]) - 1] = e["to"]
        assert "".join(applied) == d  # edits.tsv applied to the seed gives the design
    return {"designs": designs, "rows": rows}


def test_evolve_improves_within_constraints_with_oracle(promoter_clf, seeds_fa, tmp_path):
    out = tmp_path / "evolve"
    args = ["--model", str(promoter_clf), "--input", str(seeds_fa), "--max-edits", "4", "--keep", KEEP]
    args += ["--avoid", AVOID, "--oracle", str(promoter_clf), "--population", "1", "--out", str(out)]
    assert _run(args) == 0
    seeds = dict(read_fasta(seeds_fa))
    got = _check_outputs(out, seeds, 4, list(range(1, 11)) + list(range(61, 71)))
    for d in got["designs"].values():
        assert not _has_avoided(d), d
    gains = [float(r["design_score"]) - float(r["seed_score"]) for r in got["rows"].values()]
    assert np.mean([g > 0 for g in gains]) >= 0.8  # evolution raises P(promoter) for most seeds
    assert np.mean(gains) > 0.05
    for r in got["rows"].values():  # the oracle here is the predictor itself: its columns must agree
        assert r["oracle_design_score"] and abs(float(r["oracle_design_score"]) - float(r["design_score"])) < 1e-4
    import json

    m = json.loads((out / "metrics.json").read_text())
    assert m["n"] == 12 and "oracle_success_fraction" in m and m["success_fraction"] >= m["seed_success_fraction"]
    traj = _tsv(out / "trajectories.tsv")
    first = [float(t["score"]) for t in traj if t["seed_id"] == next(iter(seeds))]
    assert first == sorted(first)  # best-so-far never decreases
    html = (out / "report.html").read_text()
    assert "Predictor vs oracle" in html and html.count("<img") >= 3


def test_gradient_respects_constraints_and_is_deterministic(promoter_clf, seeds_fa, tmp_path):
    outs = []
    for name in ("g1", "g2"):
        out = tmp_path / name
        args = ["--model", str(promoter_clf), "--input", str(seeds_fa), "--max-edits", "4", "--keep", KEEP]
        args += ["--avoid", AVOID, "--method", "gradient", "--rounds", "40", "--seed", "3", "--out", str(out)]
        assert _run(args) == 0
        outs.append(out)
    seeds = dict(read_fasta(seeds_fa))
    got = _check_outputs(outs[0], seeds, 4, list(range(1, 11)) + list(range(61, 71)))
    for d in got["designs"].values():
        assert not _has_avoided(d)
    gains = [float(r["design_score"]) - float(r["seed_score"]) for r in got["rows"].values()]
    assert np.mean([g > 0 for g in gains]) >= 0.7
    for f in ("designed.fa", "edits.tsv", "trajectories.tsv", "designs.tsv", "metrics.json"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f


def test_evolve_same_seed_identical_files(promoter_clf, tmp_path):
    fa = _write_fasta(tmp_path / "s.fa", _non_promoters(4))
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert _run(["--model", str(promoter_clf), "--input", str(fa), "--max-edits", "3", "--out", str(out)]) == 0
        outs.append(out)
    for f in ("designed.fa", "edits.tsv", "trajectories.tsv", "designs.tsv", "metrics.json"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f


def test_crispr_ontarget_design_keeps_length_and_pam(ontarget_run, tmp_path):
    with open(DATA / "editing" / "kim_dev.csv") as fh:
        guides = [r["target_context_30mer"] for r in csv.DictReader(fh)][:5]
    fa = _write_fasta(tmp_path / "guides.fa", [(f"g{i}", g) for i, g in enumerate(guides)])
    out = tmp_path / "crispr"
    args = ["--model", str(ontarget_run), "--input", str(fa), "--max-edits", "2", "--keep", "25-27"]
    args += ["--population", "1", "--avoid", "TTTT", "--out", str(out)]
    assert _run(args) == 0
    designs = dict(read_fasta(out / "designed.fa"))
    rows = {r["seed_id"]: r for r in _tsv(out / "designs.tsv")}
    for i, g in enumerate(guides):
        d = designs[f"g{i}"]
        assert len(d) == 30 and d[24:27] == g[24:27] and d[25:27] == "GG"  # NGG PAM kept
        assert sum(a != b for a, b in zip(d, g)) <= 2
        assert "TTTT" not in d and "AAAA" not in d
        assert float(rows[f"g{i}"]["design_score"]) >= float(rows[f"g{i}"]["seed_score"])
    assert np.mean([float(r["design_score"]) > float(r["seed_score"]) for r in rows.values()]) >= 0.6


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--max-edits", "3", "--keep", "1-70"], "fixes every position"),
        (["--max-edits", "-1"], "--max-edits must be >= 0"),
        (["--max-edits", "3", "--avoid", "W"], "more than --max-edits 3"),  # W = A or T: in every design
        (["--max-edits", "3", "--avoid", "NNNNNN"], "matches every sequence"),
        (["--max-edits", "3", "--objective", "bigger"], "--objective must be"),
        (["--max-edits", "3", "--method", "gan"], "--gan DIR"),
    ],
)
def test_impossible_constraints_exit_2_and_write_nothing(promoter_clf, seeds_fa, tmp_path, capsys, extra, message):
    out = tmp_path / "never"
    code = _run(["--model", str(promoter_clf), "--input", str(seeds_fa), "--out", str(out), *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not any(tmp_path.glob(".never*"))


def test_avoided_motif_inside_kept_region_is_refused():
    seq = "ACGTGAATTCACGTACGTAC"
    with pytest.raises(InputError, match="inside --keep"):
        build_constraints(["s"], [seq], 5, keep="5-10", avoid="GAATTC")
    cons = build_constraints(["s"], [seq], 5, avoid="GAATTC")  # editable: repaired during design
    assert {(a, b) for _, a, b, _ in occurrences(encode(seq), cons.avoid)} == {(4, 10)}  # palindrome: both strands


def test_constraint_parsing(tmp_path):
    m = motif_from_iupac("GGN")
    hits = occurrences(encode("AACCAGGTTT"), [m])  # ACC on + = GGT on -, GGT on +
    assert hits == [("GGN", 1, 4, "-"), ("GGN", 5, 8, "+")]
    bed = tmp_path / "keep.bed"
    bed.write_text("s2\t0\t3\n")
    masks = parse_keep(str(bed), ["s1", "s2"], ["ACGTAC", "ACGTAC"])
    assert not masks[0].any() and masks[1].tolist() == [True, True, True, False, False, False]
    with pytest.raises(InputError, match="runs past seed"):
        parse_keep("5-9", ["s1"], ["ACGTAC"])
    with pytest.raises(InputError, match="not an IUPAC"):
        motif_from_iupac("GAXTC")


def test_gradient_without_gradient_path_says_so(promoter_clf):
    from genolm.api import load
    from genolm.design.designer import run_design
    from genolm.design.evolve import Objective

    sm = load(promoter_clf).sequence_model("cpu")
    sm.gradient_note = "kmer:3 merges bases into tokens"
    seqs = [s for _, s in _non_promoters(2)]
    cons = build_constraints(["a", "b"], seqs, 2)
    with pytest.raises(InputError, match="use --method evolve"):
        run_design(sm, ["a", "b"], seqs, Objective("maximize"), 1, "gradient", cons)


def test_gan_method_transfers_at_most_k_gan_bases(promoter_clf, seeds_fa, tmp_path):
    """--method gan: bases of the GAN's best-scoring samples moved into each seed, <= K, kept regions untouched."""
    import pandas as pd

    pos = pd.read_csv(DATA / "core" / "prom_train.csv").query("label == 1").sequence
    fa = tmp_path / "pos.fa"
    fa.write_text("".join(f">p{i}\n{s}\n" for i, s in enumerate(pos)))
    assert main(["-q", "gan", "train", "--input", str(fa), "--out", str(tmp_path / "gan"), "--max-steps", "10"]) == 0
    out = tmp_path / "d"
    args = ["--model", str(promoter_clf), "--input", str(seeds_fa), "--objective", "maximize", "--class", "1"]
    args += ["--method", "gan", "--gan", str(tmp_path / "gan"), "--max-edits", "4", "--keep", KEEP, "--out", str(out)]
    assert _run(args) == 0
    seeds = dict(read_fasta(seeds_fa))
    rows = _tsv(out / "designs.tsv")
    assert len(rows) == len(seeds)
    for sid, seq in read_fasta(out / "designed.fa"):
        seed = seeds[sid]
        diff = [i for i, (a, b) in enumerate(zip(seed, seq)) if a != b]
        assert len(seq) == len(seed) and len(diff) <= 4
        assert all(10 <= i < 60 for i in diff)  # KEEP = 1-10,61-70 (1-based)
    assert np.mean([float(r["design_score"]) >= float(r["seed_score"]) - 1e-9 for r in rows]) == 1.0
