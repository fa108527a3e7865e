"""How good are generated DNA sequences? The metrics every genolm generator (LM sampling, GAN) reports.

- :func:`kmer_spectrum` / :func:`js_divergence`: the 6-mer spectrum of the generated set against held-out
  real sequences (base-2 Jensen-Shannon divergence, 0 = identical spectra, 1 = disjoint).
- :func:`dinucleotide_shuffle`: the baseline. Dinucleotide-shuffled real sequences keep every sequence's
  GC content and dinucleotide counts but none of its longer motifs; a generator worth its name has a
  6-mer spectrum closer to held-out real sequences than these shuffles have.
- :func:`memorisation`: the fraction of generated sequences whose nearest training sequence shares at
  least 90% identity (ungapped: Hamming identity for equal lengths, best offset of the shorter inside the
  longer otherwise), computed as one-hot matrix products in chunks.
- an oracle (a :class:`~genolm.core.seqmodel.SequenceModel` the generator never saw) gives the predicted
  property distribution: the fraction it calls positive (class probability >= 0.5) for generated vs
  shuffled sequences.

:func:`evaluate_generated` returns the metrics dict (what ``metrics.json`` holds); :func:`generator_report`
adds the matching sections and figures to a :class:`~genolm.core.report.Report`;
:func:`evaluate_and_report` does both without computing anything twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from genolm.io.errors import InputError
from genolm.sequence import CODE, one_hot

#: identity at which a generated sequence counts as a copy of a training sequence
MEMORISED_IDENTITY = 0.9


# ---------------------------------------------------------------------------------------------------
# k-mer spectra


def _codes(seq: str) -> np.ndarray:
    return CODE[np.frombuffer(seq.upper().encode("ascii", "replace"), dtype=np.uint8)]


def kmer_spectrum(seqs: Sequence[str], k: int = 6) -> np.ndarray:
    """(4**k,) k-mer frequencies (sum 1) over all sequences, one strand as written; k-mers containing N (or any
    non-ACGT letter) are skipped. All zeros when there is no complete k-mer."""
    if k < 1 or k > 12:
        raise InputError(f"k-mer size must be between 1 and 12, got {k}")
    counts = np.zeros(4**k, dtype=np.float64)
    if not len(seqs):
        return counts
    # one long code array with an N between sequences, so no k-mer spans two of them
    codes = _codes("N".join(seqs)).astype(np.int64)
    n = len(codes) - k + 1
    if n <= 0:
        return counts
    is_n = codes == 4
    bad = np.concatenate([[0], np.cumsum(is_n)])
    ok = (bad[k:] - bad[:-k]) == 0  # (n,) windows free of N
    c = np.where(is_n, 0, codes)
    idx = np.zeros(n, dtype=np.int64)
    for j in range(k):
        idx = idx * 4 + c[j : j + n]
    counts += np.bincount(idx[ok], minlength=4**k)
    total = counts.sum()
    return counts / total if total > 0 else counts


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Base-2 Jensen-Shannon divergence of two (unnormalised) distributions, in [0, 1]."""
    p = np.asarray(p, dtype=np.float64).ravel()
    q = np.asarray(q, dtype=np.float64).ravel()
    if p.shape != q.shape:
        raise InputError(f"spectra of different sizes ({p.size} vs {q.size})")
    if p.sum() <= 0 or q.sum() <= 0:
        raise InputError("cannot compare k-mer spectra: one of the sets has no complete k-mer (too short or all N)")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a):
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return float(min(1.0, max(0.0, 0.5 * kl(p) + 0.5 * kl(q))))


# ---------------------------------------------------------------------------------------------------
# baselines and simple statistics


def dinucleotide_shuffle(seqs: Sequence[str], seed: int = 0) -> list[str]:
    """One dinucleotide shuffle of each sequence (tangermeme.ersatz.dinucleotide_shuffle: keeps the first and
    last base and every dinucleotide count), input order kept. Sequence i is shuffled with seed ``seed + i``
    whatever else is in the list; N is shuffled as a letter of its own."""
    import torch
    from tangermeme.ersatz import dinucleotide_shuffle as _shuffle

    from genolm.core.seqmodel import decode_one_hot

    out: list[str] = [""] * len(seqs)
    by_len: dict[int, list[int]] = {}
    for i, s in enumerate(seqs):
        by_len.setdefault(len(s), []).append(i)
    for length, idx in by_len.items():
        if length < 3:  # nothing to shuffle with both ends fixed
            for i in idx:
                out[i] = seqs[i].upper()
            continue
        x = torch.from_numpy(one_hot([seqs[i].upper() for i in idx]))
        sh = _shuffle(x, n=1, random_state=[int(seed) + i for i in idx], allow_N=True)[:, 0]
        for i, s in zip(idx, decode_one_hot(sh)):
            out[i] = s
    return out


def gc_content(seqs: Sequence[str]) -> np.ndarray:
    """(n,) G+C fraction of the A/C/G/T bases of each sequence (N ignored; NaN for a sequence without any)."""
    out = np.full(len(seqs), np.nan)
    for i, s in enumerate(seqs):
        c = _codes(s)
        acgt = int((c < 4).sum())
        if acgt:
            out[i] = float(((c == 1) | (c == 2)).sum()) / acgt
    return out


# ---------------------------------------------------------------------------------------------------
# memorisation


def _group(seqs: Sequence[str]) -> dict[int, list[int]]:
    g: dict[int, list[int]] = {}
    for i, s in enumerate(seqs):
        g.setdefault(len(s), []).append(i)
    return g


def _flat(seqs: list[str]):
    import torch

    return torch.from_numpy(one_hot(seqs))  # (n, 4, L)


def nearest_identity(generated: Sequence[str], train: Sequence[str], chunk: int = 4096) -> np.ndarray:
    """(n,) identity of each generated sequence to its nearest training sequence: matching positions / length
    of the shorter one, at the best ungapped offset of the shorter inside the longer (plain Hamming identity
    for equal lengths). N matches nothing. Computed as chunked one-hot matrix products."""
    import torch

    best = np.zeros(len(generated), dtype=np.float64)
    if not len(generated) or not len(train):
        return best
    gen_groups, train_groups = _group(generated), _group(train)
    with torch.no_grad():
        for lg, gidx in gen_groups.items():
            if lg == 0:
                continue
            G = _flat([generated[i].upper() for i in gidx])  # (ng, 4, lg)
            gbest = torch.zeros(len(gidx), dtype=torch.float64)
            for lt, tidx in train_groups.items():
                if lt == 0:
                    continue
                short = min(lg, lt)
                for t0 in range(0, len(tidx), chunk):
                    T = _flat([train[i].upper() for i in tidx[t0 : t0 + chunk]])  # (nt, 4, lt)
                    if lg == lt:
                        pairs = [(G, T)]
                    elif lg < lt:
                        pairs = [(G, T[:, :, o : o + lg]) for o in range(lt - lg + 1)]
                    else:
                        pairs = [(G[:, :, o : o + lt], T) for o in range(lg - lt + 1)]
                    for a, b in pairs:
                        m = a.reshape(len(a), -1) @ b.reshape(len(b), -1).T  # (ng, nt) matching positions
                        gbest = torch.maximum(gbest, m.max(1).values.double() / short)  # exact counts
            best[gidx] = gbest.numpy()
    return best


_identity_of = nearest_identity  # generator_report has a parameter of that name


def memorisation(generated: Sequence[str], train: Sequence[str], identity: float = MEMORISED_IDENTITY) -> float:
    """Fraction of generated sequences whose nearest training sequence shares >= ``identity`` (see
    :func:`nearest_identity`)."""
    if not len(generated):
        return 0.0
    return float(np.mean(nearest_identity(generated, train) >= identity - 1e-9))


# ---------------------------------------------------------------------------------------------------
# the whole evaluation


@dataclass
class Evaluation:
    """Everything computed for one generated set: the metrics plus the per-sequence arrays the figures need."""

    metrics: dict
    shuffled: list[str]
    nearest_identity: np.ndarray | None
    oracle_scores: dict = field(default_factory=dict)  # name -> (n,) objective, for generated/shuffled/heldout


def _check_set(seqs, what: str) -> list[str]:
    seqs = [str(s).upper() for s in seqs]
    if not seqs:
        raise InputError(f"no {what} sequences to evaluate")
    return seqs


def evaluate(
    generated: Sequence[str],
    train: Sequence[str] | None,
    heldout: Sequence[str],
    oracle=None,
    oracle_target=None,
    seed: int = 0,
    k: int = 6,
) -> Evaluation:
    """The full evaluation. The shuffled baseline is ``len(generated)`` training sequences (drawn with ``seed``;
    held-out ones when no training set is given), each dinucleotide-shuffled, so both spectra compared with the
    held-out one rest on the same number of sequences (the JS divergence of a small sample is biased upward)."""
    generated = _check_set(generated, "generated")
    heldout = _check_set(heldout, "held-out")
    train = [str(s).upper() for s in train] if train is not None else []
    pool = train or heldout
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(pool), size=len(generated), replace=len(pool) < len(generated))
    shuffled = dinucleotide_shuffle([pool[i] for i in pick], seed=seed)
    held_spec = kmer_spectrum(heldout, k)
    metrics: dict = {
        "n_generated": len(generated),
        f"js_{k}mer_generated": js_divergence(kmer_spectrum(generated, k), held_spec),
        f"js_{k}mer_shuffled_baseline": js_divergence(kmer_spectrum(shuffled, k), held_spec),
        "gc_generated_mean": float(np.nanmean(gc_content(generated))),
        "gc_heldout_mean": float(np.nanmean(gc_content(heldout))),
    }
    ident = None
    if train:
        ident = nearest_identity(generated, train)
        metrics["memorised_fraction"] = float(np.mean(ident >= MEMORISED_IDENTITY - 1e-9))
        metrics["nearest_identity_median"] = float(np.median(ident))
    else:
        metrics["memorised_fraction"] = None
    scores: dict = {}
    if oracle is not None:
        t = oracle.target_index(oracle_target)
        for name, seqs in (("generated", generated), ("shuffled", shuffled), ("heldout", heldout)):
            scores[name] = np.asarray(oracle.predict_objective(seqs, t), dtype=np.float64)
        regression = getattr(oracle, "task", "classification") != "classification"
        for name in ("generated", "shuffled", "heldout"):
            s = scores[name]
            metrics[f"oracle_positive_fraction_{name}"] = None if regression else float(np.mean(s >= 0.5))
            metrics[f"oracle_mean_{name}"] = float(np.mean(s))
        metrics["oracle_target"] = str(oracle.outputs[t])
    return Evaluation(metrics, shuffled, ident, scores)


def evaluate_generated(generated, train, heldout, oracle=None, oracle_target=None, seed=0, k=6) -> dict:
    """Metrics of a generated set (what a generator's ``metrics.json`` holds). Keys: n_generated,
    js_6mer_generated, js_6mer_shuffled_baseline, gc_generated_mean, gc_heldout_mean, memorised_fraction
    (+ nearest_identity_median), and with an oracle: oracle_positive_fraction_{generated,shuffled,heldout}
    (objective >= 0.5; None for a regressor), oracle_mean_{generated,shuffled,heldout}, oracle_target."""
    return evaluate(generated, train, heldout, oracle, oracle_target, seed, k).metrics


# ---------------------------------------------------------------------------------------------------
# report


def generator_report(
    report,
    metrics: dict,
    generated: Sequence[str],
    heldout: Sequence[str],
    oracle_scores=None,
    *,
    shuffled: Sequence[str] | None = None,
    nearest_identity: np.ndarray | None = None,
    train: Sequence[str] | None = None,
    k: int = 6,
    seed: int = 0,
) -> None:
    """Add the generator sections to ``report``: the metrics, a 6-mer spectrum scatter (generated and shuffled vs
    held-out), GC histograms, oracle score distributions and the nearest-training-identity histogram.

    ``oracle_scores``: a dict with any of "generated", "shuffled", "heldout" -> (n,) oracle objectives, or one
    array (the generated set's). ``shuffled`` / ``nearest_identity`` are recomputed (from ``train``, else the
    held-out set) when not given."""
    from genolm.core.report import pyplot

    plt = pyplot()
    generated = [s.upper() for s in generated]
    heldout = [s.upper() for s in heldout]
    if shuffled is None:
        pool = list(train) if train else heldout
        shuffled = dinucleotide_shuffle(pool[: len(generated)], seed=seed)
    if nearest_identity is None and train:
        nearest_identity = _identity_of(generated, train)
    report.metrics_table(metrics, title="Generated sequences")
    js_g, js_s = metrics.get(f"js_{k}mer_generated"), metrics.get(f"js_{k}mer_shuffled_baseline")
    if js_g is not None and js_s is not None:
        verdict = "closer to" if js_g < js_s else "not closer to"
        report.text(
            f"{k}-mer spectrum: the generated set is {verdict} the held-out sequences than dinucleotide-shuffled "
            f"real sequences are (Jensen-Shannon divergence {js_g:.4f} vs {js_s:.4f}; 0 = identical)."
        )

    # 1. k-mer spectrum scatter
    h = kmer_spectrum(heldout, k)
    fig, ax = plt.subplots(figsize=(5, 5))
    floor = 0.5 / max(1, sum(max(0, len(s) - k + 1) for s in heldout))
    for seqs, label, colour in ((shuffled, "shuffled", "#bbbbbb"), (generated, "generated", "#1f77b4")):
        ax.scatter(h + floor, kmer_spectrum(seqs, k) + floor, s=4, alpha=0.5, label=label, color=colour)
    lim = [floor, max(h.max(), 1e-6) * 2]
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"held-out {k}-mer frequency")
    ax.set_ylabel(f"{k}-mer frequency")
    ax.legend()
    report.figure(fig, f"{k}-mer spectrum of generated and dinucleotide-shuffled sequences vs held-out real ones")

    # 2. GC histograms
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, 1, 41)
    for seqs, label in ((generated, "generated"), (heldout, "held-out"), (shuffled, "shuffled")):
        gc = gc_content(seqs)
        ax.hist(gc[~np.isnan(gc)], bins=bins, histtype="step", density=True, label=label, lw=1.5)
    ax.set_xlabel("GC content")
    ax.set_ylabel("density")
    ax.legend()
    report.figure(fig, "GC content")

    # 3. oracle scores
    if oracle_scores is not None:
        sc = oracle_scores if isinstance(oracle_scores, dict) else {"generated": oracle_scores}
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name in ("generated", "shuffled", "heldout"):
            if name in sc and len(sc[name]):
                v = np.asarray(sc[name], dtype=float)
                ax.hist(v, bins=30, histtype="step", density=True, lw=1.5, label=name.replace("heldout", "held-out"))
        ax.set_xlabel(f"oracle score ({metrics.get('oracle_target', 'target')})")
        ax.set_ylabel("density")
        ax.legend()
        report.figure(fig, "predicted property (a model the generator never saw)")

    # 4. memorisation
    if nearest_identity is not None and len(nearest_identity):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.hist(np.asarray(nearest_identity), bins=np.linspace(0, 1, 51), color="#1f77b4")
        ax.axvline(MEMORISED_IDENTITY, color="r", ls="--", lw=1, label=f"{MEMORISED_IDENTITY:.0%} (memorised)")
        ax.set_xlabel("identity to the nearest training sequence")
        ax.set_ylabel("generated sequences")
        ax.legend()
        report.figure(fig, "memorisation: nearest training sequence")


def evaluate_and_report(
    report, generated, train, heldout, oracle=None, oracle_target=None, seed: int = 0, k: int = 6
) -> dict:
    """:func:`evaluate` + :func:`generator_report` in one go; returns the metrics."""
    ev = evaluate(generated, train, heldout, oracle, oracle_target, seed, k)
    generator_report(
        report,
        ev.metrics,
        generated,
        heldout,
        ev.oracle_scores or None,
        shuffled=ev.shuffled,
        nearest_identity=ev.nearest_identity,
        k=k,
        seed=seed,
    )
    return ev.metrics
