"""Training an annotation model: the tagger through :func:`genolm.core.train.train`, then the decoder
(HMM length priors, codon Markov chains, splice PWMs and their weights, chosen on the dev split).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from genolm.genome.annotate.baselines import longest_orf_genes
from genolm.genome.annotate.decode import (
    CONTENT_MODEL_FILE,
    SPLICE_MODEL_FILE,
    Annotator,
    ContentModel,
    SpliceModel,
    genes_to_features,
)
from genolm.genome.annotate.evaluate import evaluate_features
from genolm.genome.annotate.hmm import HMMParams
from genolm.genome.annotate.labels import (
    COARSE_INDEX,
    SCHEMES,
    Transcript,
    fine_to_coarse,
    label_arrays,
    load_annotation,
    swap_strand_labels,
)
from genolm.genome.annotate.tagger import WindowBatches, base_lookup, read_genome, split_by_regions, split_train_dev
from genolm.io.bed import Region
from genolm.io.errors import InputError, UsageError
from genolm.io.gff import GffWarnings, read_gff, write_gff
from genolm.sequence import reverse_complement

log = logging.getLogger("genolm.annotate")


def fit_hmm_params(transcripts: dict[str, list[Transcript]], seqs: dict[str, str]) -> HMMParams:
    """Mean lengths of intergenic stretches, UTRs, introns, exons and proteins in the training annotation."""
    p = HMMParams()
    coding = [t for ts in transcripts.values() for t in ts if t.kind == "coding" and t.cds]
    rna = [t for ts in transcripts.values() for t in ts if t.kind == "RNA"]
    if not coding:
        return p
    total = sum(len(s) - s.count("N") for s in seqs.values())
    genic = sum(t.end - t.start for t in coding)
    p.intergenic = max(50.0, 2.0 * max(total - genic, 1) / len(coding))
    p.codons = max(30.0, float(np.mean([sum(e - s for s, e in t.cds) / 3 for t in coding])))
    introns = [e - s for t in coding for s, e in t.introns]
    if introns:
        p.intron = float(np.mean(introns))
        p.min_intron = int(max(0, np.percentile(introns, 1) - 2))
    cds_parts = [e - s for t in coding for s, e in t.cds]
    p.exon = max(30.0, float(np.mean(cds_parts)))
    u5, u3, none = [], [], 0
    for t in coding:
        lo, hi = min(s for s, _ in t.cds), max(e for _, e in t.cds)
        left, right = lo - t.start, t.end - hi
        a, b = (left, right) if t.strand == "+" else (right, left)
        u5.append(a)
        u3.append(b)
        none += (a == 0) + (b == 0)
    if any(u5):
        p.utr5 = max(5.0, float(np.mean([x for x in u5 if x] or [60])))
    if any(u3):
        p.utr3 = max(5.0, float(np.mean([x for x in u3 if x] or [120])))
    p.no_utr = float(min(0.9, max(0.02, none / (2 * len(coding)))))
    if rna:
        p.rna = float(np.mean([t.end - t.start for t in rna]))
        p.rna_rate = max(1e-5, len(rna) / max(total - genic, 1))
    return p


def train_split_params(seqs: dict[str, str], txs: dict[str, list[Transcript]], dev_segs) -> HMMParams:
    """HMM length priors from the transcripts that do not touch the dev split."""
    dev_names = {x.contig for x in dev_segs}
    train_txs = {
        k: [t for t in v if not any(d.contig == k and t.start < d.end and t.end > d.start for d in dev_segs)]
        for k, v in txs.items()
    }
    return fit_hmm_params(train_txs, {k: v for k, v in seqs.items() if k not in dev_names or len(seqs) < 20})


def train(
    genome: str,
    gff: str,
    out: str,
    scheme: str = "prokaryote",
    window: int = 2048,
    hidden: int = 32,
    layers: int = 8,
    kernel: int = 9,
    dropout: float = 0.1,
    batch_size: int = 8,
    lr: float = 3e-3,
    max_steps: int | None = None,
    epochs: float | None = None,
    time_budget: float | None = 25 * 60,
    eval_every: int = 200,
    dev_fraction: float = 0.1,
    seed: int = 0,
    init: str | None = None,
    valid: str | None = None,
    checkpoint_every: int = 1000,
    resume: bool = False,
    overwrite: bool = False,
) -> dict:
    """Train a per-base annotation model; writes a run directory and returns dev metrics (decoded).

    ``valid``: a BED file of genome regions to use as the dev split (default: an internal split of
    ``dev_fraction``, see :func:`~genolm.genome.annotate.tagger.split_train_dev`).
    ``init``: continue from the weights of an earlier annotation model of the same scheme (the
    network shape options are then taken from that model). ``checkpoint_every`` (steps) and
    ``resume`` (continue a killed run from its checkpoint) as in :func:`genolm.core.train.train`."""
    import torch

    from genolm.core.loading import ModelInfo
    from genolm.core.models import GenolmConfig, GenolmForTokenClassification
    from genolm.core.runs import RunDir, set_seed
    from genolm.core.tokenizers import build_dna_tokenizer
    from genolm.core.train import TrainConfig
    from genolm.core.train import train as train_loop

    if scheme not in SCHEMES:
        raise UsageError(f"unknown scheme {scheme!r}; use eukaryote or prokaryote")
    if window < 64:
        raise UsageError("--window must be at least 64 bases")
    set_seed(seed)
    config = dict(
        genome=str(genome),
        gff=str(gff),
        scheme=scheme,
        window=window,
        hidden=hidden,
        layers=layers,
        kernel=kernel,
        dropout=dropout,
        batch_size=batch_size,
        lr=lr,
        max_steps=max_steps,
        epochs=epochs,
        time_budget=time_budget,
        eval_every=eval_every,
        dev_fraction=dev_fraction,
        seed=seed,
        init=init,
        valid=valid,
        checkpoint_every=checkpoint_every,
    )
    # read and check every input before the run directory exists (bad input leaves nothing behind)
    seqs = read_genome(genome)
    lengths = {k: len(v) for k, v in seqs.items()}
    txs = load_annotation(gff, lengths)
    if not any(txs.values()):
        raise InputError("no transcripts/CDS on the genome's sequences", gff)
    labels = {}
    for name, s in seqs.items():
        labels[name] = label_arrays(txs.get(name, []), len(s), scheme)[0]
    if valid:
        train_segs, dev_segs = split_by_regions(seqs, valid)
    else:
        train_segs, dev_segs = split_train_dev(seqs, dev_fraction, seed)
    if not train_segs or not dev_segs:
        raise InputError("the dev split leaves no training or no dev bases", valid or genome)
    with RunDir(
        out,
        command="annotate train",
        config=config,
        inputs=[genome, gff, valid],
        seed=seed,
        overwrite=overwrite,
        resume=resume,
    ) as run:
        log.info(
            "train: %d bases in %d segments; dev: %d bases in %d segments",
            sum(s.end - s.start for s in train_segs),
            len(train_segs),
            sum(s.end - s.start for s in dev_segs),
            len(dev_segs),
        )
        params = train_split_params(seqs, txs, dev_segs)
        tok = build_dna_tokenizer("base")
        names = SCHEMES[scheme]
        counts = np.bincount(
            np.concatenate([labels[s.contig][s.start : s.end] for s in train_segs]), minlength=len(names)
        ).astype(float)
        prior = (counts + 1) / (counts + 1).sum()
        cfg = GenolmConfig(
            vocab_size=len(tok),
            arch="cnn",
            hidden_size=hidden,
            num_layers=layers,
            conv_kernel=kernel,
            dropout=dropout,
            num_labels=len(names),
            pad_token_id=tok.pad_token_id,
            id2label={i: n for i, n in enumerate(names)},
            label2id={n: i for i, n in enumerate(names)},
        )
        if init:
            from genolm.core.loading import load_model

            model, _, init_info = load_model(init, task="token-classification", device="cpu")
            if (init_info.extra or {}).get("annotate", {}).get("scheme") != scheme:
                raise UsageError(f"--init model was not trained with --scheme {scheme}")
            model.train()
        else:
            model = GenolmForTokenClassification(cfg)
        swap = swap_strand_labels(scheme)
        lut = base_lookup(tok)
        batches = WindowBatches(
            seqs,
            labels,
            train_segs,
            lut,
            window,
            batch_size,
            swap,
            tok.cls_token_id,
            tok.sep_token_id,
            tok.pad_token_id,
            seed,
        )
        # fixed dev windows for model selection (argmax accuracy of coding-base calls)
        rng = np.random.default_rng(seed + 1)
        dev_batches = WindowBatches(
            seqs,
            labels,
            dev_segs,
            lut,
            window,
            batch_size,
            swap,
            tok.cls_token_id,
            tok.sep_token_id,
            tok.pad_token_id,
            seed + 1,
        )
        dev_items = [dev_batches.draw(rng) for _ in range(min(128, max(16, 40 * len(dev_segs))))]
        f2c = torch.as_tensor(fine_to_coarse(scheme))

        def evaluate(m):
            tp = fp = fn = correct = total = 0
            loss = 0.0
            for k in range(0, len(dev_items), 32):
                b = dev_batches.collate(dev_items[k : k + 32])
                o = m(**b)
                loss += float(o.loss) * len(dev_items[k : k + 32])
                pred = o.logits.argmax(-1)
                keep = b["labels"] >= 0
                y = b["labels"][keep]
                p = pred[keep]
                correct += int((p == y).sum())
                total += int(keep.sum())
                yc, pc = f2c[y], f2c[p]
                is_cds_t = (yc == COARSE_INDEX["CDS+"]) | (yc == COARSE_INDEX["CDS-"])
                is_cds_p = (pc == COARSE_INDEX["CDS+"]) | (pc == COARSE_INDEX["CDS-"])
                tp += int((is_cds_t & (yc == pc)).sum())
                fp += int((is_cds_p & ~(is_cds_t & (yc == pc))).sum())
                fn += int((is_cds_t & ~(yc == pc)).sum())
            return {
                "loss": loss / len(dev_items),
                "accuracy": correct / max(total, 1),
                "cds_f1": 2 * tp / max(2 * tp + fp + fn, 1),
            }

        tcfg = TrainConfig(
            lr=lr,
            batch_size=batch_size,
            max_steps=max_steps,
            epochs=epochs,
            time_budget=time_budget,
            eval_every=eval_every,
            patience=None,
            metric="cds_f1",
            maximize=True,
            seed=seed,
            checkpoint_every=checkpoint_every,
        )
        t0 = time.time()
        res = train_loop(
            model,
            batches,
            tcfg,
            evaluate=evaluate,
            out_dir=run.path,
            resume=resume,
            tokens_in_batch=lambda b: int((b["labels"] >= 0).sum()),
        )
        train_seconds = time.time() - t0
        info = ModelInfo(
            task="token-classification",
            label_names=names,
            tokenizer="base",
            source="genolm annotate train",
            extra={
                "annotate": {"scheme": scheme, "hmm": params.as_dict(), "label_prior": prior.tolist(), "window": window}
            },
        )
        model.eval()
        train_info = {
            "steps": res.steps,
            "seconds": round(train_seconds, 1),
            "best_step": res.best_step,
            "best_dev_argmax_cds_f1": res.best_metric,
            "stopped_because": res.stopped_because,
        }
        metrics = finish_model(run.path, model, tok, info, seqs, labels, train_segs, dev_segs, gff, train_info, txs)
        write_history(run.path, res.history)
        train_report(run.path, metrics, res.history, scheme)
        return metrics


# (network, Markov chains, splice sites) weights tried on the dev split; the first is the network alone
DECODER_GRID = {
    "prokaryote": ((1.0, 0.0, 0.0), (1.0, 0.5, 0.0), (1.0, 1.0, 0.0), (0.5, 1.0, 0.0), (0.0, 1.0, 0.0)),
    "eukaryote": ((1.0, 0.0, 0.0),)
    + tuple((wn, wc, ws) for wn in (0.5, 0.25, 0.1, 0.0) for wc in (0.5, 1.0) for ws in (1.0, 2.0, 3.0)),
}


def fit_splice_model(seqs: dict[str, str], txs: dict[str, list[Transcript]], segments) -> SpliceModel | None:
    """Splice-site PWMs from the introns of training transcripts (both strands); None without introns."""
    sm = SpliceModel()
    n = 0
    for sgm in segments:
        s = seqs[sgm.contig][sgm.start : sgm.end]
        L = len(s)
        plus, minus = [], []
        for t in txs.get(sgm.contig, []):
            for a, b in t.introns:
                if sgm.start <= a and b <= sgm.end:
                    (plus if t.strand == "+" else minus).append((a - sgm.start, b - sgm.start))
        if not plus and not minus:
            continue
        n += len(plus) + len(minus)
        sm.add(s, plus)
        sm.add(reverse_complement(s), [(L - b, L - a) for a, b in minus])
    return sm.finalize() if n >= 20 else None


def finish_model(
    run_path, model, tok, info, seqs, labels, train_segs, dev_segs, gff, train_info: dict, txs: dict | None = None
) -> dict:
    """After training: fit the codon Markov chains on the training split, pick the decoder weights
    (network vs Markov chains) on the dev split, save the model and score the dev split end to end."""
    from genolm.core.loading import save_model

    run_path = Path(run_path)
    scheme = info.extra["annotate"]["scheme"]
    lengths = {k: len(v) for k, v in seqs.items()}
    content = ContentModel(scheme)
    for sgm in train_segs:
        content.add(seqs[sgm.contig][sgm.start : sgm.end], labels[sgm.contig][sgm.start : sgm.end])
    content.finalize()
    if txs:  # length priors from the training split only (refitted: the decoder may have changed)
        info.extra["annotate"]["hmm"] = train_split_params(seqs, txs, dev_segs).as_dict()
    splice = fit_splice_model(seqs, txs or {}, train_segs) if scheme == "eukaryote" else None
    annot = Annotator(model, tok, info)
    annot.content, annot.splice = content, splice
    dev_regions = [Region(x.contig, x.start, x.end) for x in dev_segs]
    truth_feats = read_gff(gff, lengths, GffWarnings())
    posts, lls, bonuses = [], [], []
    for r in dev_regions:
        sq = seqs[r.chrom]
        lo, hi = max(0, r.start - 1000), min(len(sq), r.end + 1000)
        posts.append(annot.posteriors(sq[lo:hi])[r.start - lo : r.end - lo])
        lls.append(content.loglik(sq[r.start : r.end]))
        bonuses.append(splice.bonuses(sq[r.start : r.end]) if splice is not None else None)
    grid = []
    best = None
    tried = set()
    for wn, wc, ws in DECODER_GRID[scheme]:
        ws = ws if splice is not None else 0.0
        if (wn, wc, ws) in tried:
            continue
        tried.add((wn, wc, ws))
        genes = []
        for r, post, ll, bo in zip(dev_regions, posts, lls, bonuses):
            genes += [
                (r.chrom, r.start, g)
                for g in annot.decode(seqs[r.chrom][r.start : r.end], post, wn, wc, ws, content_ll=ll, splice_bonus=bo)
            ]
        feats = genes_to_features(genes, scheme)
        m = evaluate_features(feats, truth_feats, lengths, dev_regions)
        cds_f1 = m["base"].get("CDS", {}).get("f1", 0.0)
        intron_f1 = m["intron"]["f1"] if not math.isnan(m["intron"]["f1"]) else 0.0
        score = cds_f1 if scheme == "prokaryote" else 0.5 * (cds_f1 + intron_f1)
        grid.append(
            {
                "net_weight": wn,
                "content_weight": wc,
                "splice_weight": ws,
                "base_CDS_f1": cds_f1,
                "intron_f1": m["intron"]["f1"],
                "gene_f1": m["gene"]["f1"],
                "selection_score": round(score, 4),
            }
        )
        if best is None or score > best[0]:
            best = (score, wn, wc, ws, m, feats)
    _, wn, wc, ws, dev_metrics, pred_feats = best
    info.extra["annotate"].update(net_weight=wn, content_weight=wc, splice_weight=ws)
    save_model(model, tok, info, run_path / "model")
    content.save(run_path / "model" / CONTENT_MODEL_FILE)
    if splice is not None:
        splice.save(run_path / "model" / SPLICE_MODEL_FILE)
    baseline = None
    if scheme == "prokaryote":
        bl = [(r.chrom, r.start, g) for r in dev_regions for g in longest_orf_genes(seqs[r.chrom][r.start : r.end])]
        baseline = evaluate_features(genes_to_features(bl, scheme), truth_feats, lengths, dev_regions)
    net_only = grid[0]
    metrics = {
        "dev": dev_metrics,
        "decoder_weights": {"net_weight": wn, "content_weight": wc, "splice_weight": ws},
        "dev_decoder_grid": grid,
        "dev_network_only": net_only,
        "dev_baseline_longest_orf": baseline,
        "train": train_info,
        "hmm": info.extra["annotate"]["hmm"],
    }
    from genolm.io.atomic import atomic_write_text

    atomic_write_text(run_path / "metrics.json", json.dumps(metrics, indent=2, default=float))
    write_gff(run_path / "dev_predictions.gff3", pred_feats, None, comments=["genolm annotate: dev split predictions"])
    return metrics


def refinish(
    run_dir: str, genome: str, gff: str, seed: int = 0, dev_fraction: float = 0.1, train_info: dict | None = None
) -> dict:
    """Redo :func:`finish_model` for an existing run (same split), e.g. after a decoder change."""
    from genolm.core.loading import load_model

    model, tok, info = load_model(run_dir, task="token-classification")
    seqs = read_genome(genome)
    lengths = {k: len(v) for k, v in seqs.items()}
    scheme = info.extra["annotate"]["scheme"]
    txs = load_annotation(gff, lengths)
    labels = {n: label_arrays(txs.get(n, []), len(s), scheme)[0] for n, s in seqs.items()}
    train_segs, dev_segs = split_train_dev(seqs, dev_fraction, seed)
    old = json.loads((Path(run_dir) / "metrics.json").read_text()) if (Path(run_dir) / "metrics.json").is_file() else {}
    metrics = finish_model(
        run_dir, model, tok, info, seqs, labels, train_segs, dev_segs, gff, train_info or old.get("train", {}), txs
    )
    hist_path = Path(run_dir) / "history.jsonl"
    history = [json.loads(x) for x in hist_path.read_text().splitlines()] if hist_path.is_file() else []
    train_report(Path(run_dir), metrics, history, scheme)
    return metrics


def write_history(run_path: Path, history: list[dict]) -> None:
    """history.jsonl: one JSON line per logged training/evaluation step."""
    from genolm.io.atomic import atomic_open

    with atomic_open(Path(run_path) / "history.jsonl", "w") as fh:
        for h in history:
            fh.write(json.dumps(h) + "\n")


def train_report(run_path: Path, metrics: dict, history: list[dict], scheme: str) -> None:
    """report.html of a training run (dev metrics, decoder grid, loss curves)."""
    from genolm.core.report import Report, loss_curve_figure

    r = Report(f"genolm annotate train ({scheme})", "per-base CNN tagger + HMM gene-structure decoder")
    r.metrics_table(flat_metrics(metrics["dev"]), "Dev split (decoded gene models)")
    if metrics.get("dev_baseline_longest_orf"):
        r.metrics_table(flat_metrics(metrics["dev_baseline_longest_orf"]), "Dev split: longest-ORF baseline")
    r.table(
        ["network weight", "Markov weight", "splice weight", "CDS base F1", "intron F1", "gene F1"],
        [
            [g["net_weight"], g["content_weight"], g["splice_weight"], g["base_CDS_f1"], g["intron_f1"], g["gene_f1"]]
            for g in metrics["dev_decoder_grid"]
        ],
        "Decoder weights tried on the dev split (best kept)",
    )
    r.metrics_table(metrics["train"], "Training")
    if history:
        r.figure(loss_curve_figure(history), "training / dev loss")
    r.write(Path(run_path) / "report.html")


def flat_metrics(d: dict, prefix: str = "") -> dict:
    """Nested metrics -> one level with dotted keys."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat_metrics(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
