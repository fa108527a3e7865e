"""The cases of the three-faces parity test (tests/serve/test_faces.py): one cheap real invocation per domain.

Each case is a registry task with JSON parameters exactly as a REST/MCP client sends them: input paths are
relative to the server's data directory (the bundled tests/data sit at ``data/``, models trained for these
tests and small derived inputs at ``faces/``), outputs are names inside the job's directory. The CLI face runs
the same ``Task.argv`` with the inputs made absolute and the working directory as the job directory, which is
exactly how a job runs.

``compare`` lists the result files each case must write. Every file a case writes is compared byte for byte
(none of these carries a timestamp; the crispr case's sites.html report too), except those named in
``excluded`` with the reason they differ from run to run (none at present). Two result files carry an absolute
path of the data dir: the scored VCF (``##genolm_score=<...,model=/.../faces/models/promoter_clf>``) and the
GFF3 (``# genolm annotate predict; model /...``); they are identical because all three faces resolve inputs
in the same data dir the same way (``serve.paths.confine``), as a server would.

Models: ``MODELS`` maps a name to the CLI arguments that train it (data-dir relative inputs); test_faces.py
trains each once per session through the CLI and copies it to ``faces/models/<name>`` of every data dir.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

MODEL_DIR = "faces/models"
INPUT_DIR = "faces/inputs"

# name -> CLI argv that trains it into {out} (inputs relative to the data dir, as "data/...").
# "promoter_clf" is the shared session fixture of tests/conftest.py (copied, not retrained).
MODELS: dict[str, list[str]] = {
    # svm, not the default trees ensemble: a random forest trained with n_jobs=2 (stored in the model) sums its
    # trees' probabilities in thread order at predict time, so the last digits change from run to run
    "chem_svm": ["chem", "train", "--train", "data/chem/bbbp_train.csv", "--targets", "p_np", "--arch", "svm"]
    + ["--seed", "0", "--out", "{out}"],
    "omics_lr": ["omics", "train", "--train", "data/omics/golub_train_slice.csv", "--label-col", "cancer"]
    + ["--cv", "0", "--top-genes", "200", "--out", "{out}"],
    "ner_crf": ["lit", "ner", "train", "--train", "data/literature/nlp/ncbi_train_400.tsv", "--arch", "crf"]
    + ["--crf-iterations", "20", "--out", "{out}"],
    "kg_cbg": [
        "linkpred",
        "train",
        "--nodes",
        "data/omics/kg_nodes.tsv.gz",
        "--train",
        "data/omics/kg_edges_train.tsv.gz",
    ]
    + ["--targets", "CbG", "--folds", "3", "--neg-ratio", "3", "--max-path-length", "2", "--combiner", "logistic"]
    + ["--seed", "0", "--out", "{out}"],
    "ann_ecoli": ["annotate", "train", "--genome", "data/annotate/ecoli_40kb.fa.gz"]
    + ["--gff", "data/annotate/ecoli_40kb.gff3.gz", "--scheme", "prokaryote", "--max-steps", "20"]
    + ["--window", "1024", "--batch-size", "4", "--hidden", "16", "--layers", "4", "--eval-every", "20"]
    + ["--seed", "0", "--out", "{out}"],
}


def model(name: str) -> str:
    return f"{MODEL_DIR}/{name}"


def _if_output(task: str, **extra: str) -> dict:
    """The extra result files whose parameter the registry declares as an output (``path="out"``).

    ``annotate predict --bedgraph`` and ``scan --peaks`` are inferred as inputs from their metavars (BEDGRAPH,
    BED): a server would then resolve them inside the data dir, outside the job's directory. Until they are
    declared ``path="out"`` they are left out of the comparison; once they are, they join it by themselves.
    """
    from genolm.core import registry

    t = registry.get(task)
    return {k: v for k, v in extra.items() if t.param(k).path == "out"}


@dataclass(frozen=True)
class Case:
    domain: str  # the pytest id: a failure names the domain
    task: str  # registry task name
    params: dict  # JSON parameters as REST/MCP receive them
    compare: tuple[str, ...]  # result files (job-dir relative) that must be byte-identical across the faces
    models: tuple[str, ...] = ()  # MODELS (or "promoter_clf") the case needs under faces/models/
    excluded: dict[str, str] = field(default_factory=dict)  # other files it writes -> why they differ
    rows: tuple[str, int] | None = None  # (file, its lines not starting with '#'): the input's size, kept


CASES: list[Case] = [
    Case(
        "dna",
        "predict",
        {"model": model("promoter_clf"), "input": "data/core/prom_20.fa", "out": "predictions.csv"},
        ("predictions.csv",),
        models=("promoter_clf",),
        rows=("predictions.csv", 21),  # header + the 20 sequences of prom_20.fa
    ),
    Case(
        "variants",
        "variants.score",
        {
            "model": model("promoter_clf"),
            "reference": "data/variants/mpra_elements.fa",
            "input": "data/variants/mpra_deletions.vcf.gz",
            "out": "scored.vcf",
        },
        ("scored.vcf",),
        models=("promoter_clf",),
        rows=("scored.vcf", 165),  # every record of the VCF, scored or flagged
    ),
    Case(
        "annotate",
        "annotate.predict",
        {
            "model": model("ann_ecoli"),
            "input": "data/annotate/ecoli_40kb.fa.gz",
            "out": "genes.gff3",
            **_if_output("annotate.predict", bedgraph="cds.bedgraph"),
        },
        ("genes.gff3", *_if_output("annotate.predict", bedgraph="cds.bedgraph").values()),
        models=("ann_ecoli",),
    ),
    Case(
        "scan",
        "scan",
        {
            "model": model("promoter_clf"),
            "input": "data/annotate/ecoli_40kb.fa.gz",
            "out": "scan.bedgraph",
            "threshold": 0.8,
            **_if_output("scan", peaks="peaks.bed"),
        },
        ("scan.bedgraph", *_if_output("scan", peaks="peaks.bed").values()),
        models=("promoter_clf",),
    ),
    Case(
        "crispr",
        "crispr.offtargets",
        {
            "guides": f"{INPUT_DIR}/guides.fa",
            "genome": "data/editing/ecoli_slice.fa.gz",
            "max_mismatches": 3,
            "out": "sites.tsv",
            "summary": "sites.summary.tsv",
        },
        ("sites.tsv", "sites.summary.tsv"),
        rows=("sites.summary.tsv", 5),  # header + the 4 guides
    ),
    Case(
        "chem",
        "chem.predict",
        {"model": model("chem_svm"), "input": "data/chem/bbbp_dev.csv", "out": "chem_predictions.csv"},
        ("chem_predictions.csv",),
        models=("chem_svm",),
        rows=("chem_predictions.csv", 121),
    ),
    Case(
        "omics",
        "omics.predict",
        {"model": model("omics_lr"), "input": "data/omics/golub_train_slice.csv", "out": "omics_predictions.csv"},
        ("omics_predictions.csv",),
        models=("omics_lr",),
        rows=("omics_predictions.csv", 39),
    ),
    Case(
        "literature",
        "lit.ner.predict",
        {"model": model("ner_crf"), "input": "data/literature/nlp/ncbi_devel_150.tsv", "out": "tagged.tsv"},
        ("tagged.tsv",),
        models=("ner_crf",),
        rows=("tagged.tsv", 3918),  # IOB out for IOB in: one line per input line
    ),
    Case(
        "linkpred",
        "linkpred.score",
        {"model": model("kg_cbg"), "input": f"{INPUT_DIR}/pairs.tsv", "out": "scored.tsv"},
        ("scored.tsv",),
        models=("kg_cbg",),
        rows=("scored.tsv", 42),  # header + 40 dev edges + the unknown node
    ),
    Case("motifs", "motifs.scan", {"input": "data/core/prom_20.fa", "out": "hits.tsv"}, ("hits.tsv",)),
    Case(
        "design",
        "design",
        {"model": model("promoter_clf"), "input": "data/core/prom_20.fa", "out": "run", "max_edits": 2, "rounds": 2},
        ("run/designed.fa", "run/edits.tsv", "run/designs.tsv", "run/trajectories.tsv", "run/metrics.json"),
        models=("promoter_clf",),
        excluded={
            "run/manifest.json": "records the start time, host and input paths as given",
            "run/log.txt": "timestamped log lines",
            "run/report.html": "states the run time",
        },
    ),
]


def write_inputs(data_dir: Path) -> None:
    """Small derived inputs under data_dir/faces/inputs, computed from the bundled files (deterministic)."""
    d = data_dir / INPUT_DIR
    d.mkdir(parents=True, exist_ok=True)
    # guides: the first four 20-mers followed by an NGG PAM on the E. coli slice, 20 kb apart (real on-genome
    # targets, so every guide has its perfect site plus mismatched ones)
    with gzip.open(data_dir / "data/editing/ecoli_slice.fa.gz", "rt") as fh:
        seq = "".join(line.strip() for line in fh if not line.startswith(">")).upper()
    guides, i = [], 1000
    while len(guides) < 4:
        g = seq[i : i + 20]
        if seq[i + 21 : i + 23] == "GG" and set(g) <= set("ACGT"):
            guides.append(g)
            i += 20_000
        else:
            i += 1
    (d / "guides.fa").write_text("".join(f">g{k}\n{g}\n" for k, g in enumerate(guides)))
    # pairs: the first 40 CbG rows of the Hetionet dev edges, plus one unknown node (scored with a reason)
    lines = (data_dir / "data/omics/kg_edges_dev.tsv").read_text().splitlines()
    cbg = [ln for ln in lines[1:] if ln.split("\t")[1] == "CbG"][:40]
    rows = [lines[0], *cbg, "Compound::NOPE\tCbG\tGene::7157"]
    (d / "pairs.tsv").write_text("\n".join(rows) + "\n")
