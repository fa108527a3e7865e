"""Motif discovery from attributions: seqlets and patterns with tfmodisco-lite, trimmed CWMs / PWMs.

:func:`discover` takes an :class:`~genolm.interpret.attributions.Attributions` (or anything with ``one_hot``,
``hypothetical`` and ``scores`` arrays of shape (n, 4, L), e.g. loaded from ``attributions.npz``) and runs
TF-MoDISco (``modiscolite.tfmodisco.TFMoDISco``, Shrikumar et al. 2018; tfmodisco-lite by J. Schreiber):
seqlets are windows of high contribution, clustered into patterns separately for positive and negative
contributions. Each pattern's

- CWM (contribution weight matrix) is the mean contribution of the observed bases over its seqlets,
- PWM is the base frequency over its seqlets (a position probability matrix, what TOMTOM and MEME use),

both trimmed to the span whose summed |CWM| reaches 30% of its maximum (modisco-lite's report does the same).
Motifs come back best first: most seqlets first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from genolm.interpret.tomtom import Match
from genolm.io.errors import InputError

TRIM_FRACTION = 0.3


@dataclass
class DiscoveredMotif:
    name: str  # pattern_0, pattern_1, ... best first
    sign: str  # "positive" (raises the explained output) or "negative"
    n_seqlets: int
    cwm: np.ndarray  # (w, 4) trimmed contribution weight matrix (A C G T)
    pwm: np.ndarray  # (w, 4) trimmed position probability matrix
    hcwm: np.ndarray  # (w, 4) trimmed hypothetical CWM
    seqlets: list[tuple[int, int, int, str]]  # (sequence index, start, end, strand) of the untrimmed seqlets
    matches: list[Match] = field(default_factory=list)

    @property
    def consensus(self) -> str:
        """Argmax base per column; lower case where no base reaches probability 0.5."""
        out = []
        for row in self.pwm:
            b = "ACGT"[int(np.argmax(row))]
            out.append(b if row.max() >= 0.5 else b.lower())
        return "".join(out)

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


def trim_span(cwm: np.ndarray, fraction: float = TRIM_FRACTION) -> tuple[int, int]:
    """[start, end) of the columns between the first and last whose sum |CWM| >= fraction * max."""
    score = np.abs(cwm).sum(1)
    if not np.isfinite(score).all() or score.max() <= 0:
        return 0, len(cwm)
    keep = np.flatnonzero(score >= fraction * score.max())
    return int(keep.min()), int(keep.max()) + 1


def _arrays(attr) -> tuple[np.ndarray, np.ndarray]:
    """(n, L, 4) one-hot and hypothetical contributions from an Attributions-like object."""
    oh = np.asarray(getattr(attr, "one_hot"), dtype=np.float32)
    hyp = np.asarray(getattr(attr, "hypothetical"), dtype=np.float32)
    if oh.ndim != 3 or oh.shape[1] != 4 or hyp.shape != oh.shape:
        raise InputError(
            f"attributions: expected one_hot and hypothetical arrays of shape (n, 4, L), got {oh.shape} and {hyp.shape}"
        )
    if not np.isfinite(hyp).all():
        raise InputError("attributions: the hypothetical contributions hold NaN or infinite values")
    oh, hyp = oh.transpose(0, 2, 1).copy(), hyp.transpose(0, 2, 1).copy()
    hyp *= oh.sum(2, keepdims=True) > 0  # nothing past a sequence's end (zero padding) or at N
    return oh, hyp


def count_seqlets(one_hot: np.ndarray, hyp: np.ndarray, window: int = 21, flank: int = 10, target_fdr: float = 0.2):
    """(positive, negative) seqlet counts that modisco's seqlet caller finds (the first step of a run)."""
    from modiscolite import extract_seqlets

    contrib = (one_hot * hyp).sum(2)
    if not np.any(contrib):
        return 0, 0
    coords, threshold = extract_seqlets.extract_seqlets(
        attribution_scores=contrib,
        window_size=window,
        flank=flank,
        suppress=int(0.5 * window) + flank,
        target_fdr=target_fdr,
        min_passing_windows_frac=0.03,
        max_passing_windows_frac=0.2,
        weak_threshold_for_counting_sign=0.8,
    )
    n_pos = n_neg = 0
    for c in coords:
        s, e = c.start + flank, c.end - flank
        if s < 0 or e > contrib.shape[1]:
            continue
        a = contrib[c.example_idx, s:e].sum()
        n_pos += a > threshold
        n_neg += a < -threshold
    return int(n_pos), int(n_neg)


def _too_few(n_pos: int, n_neg: int, n_seqs: int, min_seqlets: int, extra: str = "") -> InputError:
    return InputError(
        f"too few seqlets for motif discovery: {n_pos} positive and {n_neg} negative seqlets in {n_seqs} sequences"
        f"{extra} (modisco clusters a sign with more than --min-seqlets {min_seqlets}); try more sequences "
        "(positives of the explained class), another attribution method (e.g. deeplift_shap or ism), a smaller "
        "--window, or a lower --min-seqlets"
    )


def discover(
    attributions,
    max_seqlets: int = 20000,
    window: int | None = None,
    flank: int | None = None,
    min_seqlets: int = 50,
    min_motif_seqlets: int | None = None,
    n_leiden_runs: int = 8,
    target_fdr: float = 0.2,
    seed: int = 0,
    database=None,
    top_matches: int = 3,
    verbose: bool = False,
) -> list[DiscoveredMotif]:
    """Patterns of ``attributions`` (positive and negative), best first, each with its TOMTOM matches against
    ``database`` (a list of :class:`~genolm.io.meme.Motif`; None = no matching).

    Raises :class:`InputError` when modisco finds too few seqlets or no pattern, saying how many it found.
    """
    from modiscolite import precompile

    # compile modisco's numba kernels into numba's cache in forked children while the seqlets are counted (it
    # must fork before numba's threading layer starts: the seqlet caller below starts it)
    precompile.start()
    one_hot, hyp = _arrays(attributions)
    n = len(one_hot)
    if window is None:  # modisco's 21-base window; 15 separates motifs better in short (< 150 nt) sequences
        window = 21 if one_hot.shape[1] >= 150 else 15
    if window < 4 or window > one_hot.shape[1]:
        raise InputError(f"--window {window}: need 4 <= window <= the sequence length ({one_hot.shape[1]})")
    if flank is None:  # modisco's 10-base flanks (and 30-base trims) lose every pattern in short sequences
        flank = 10 if one_hot.shape[1] >= 150 else 5
    flank = min(flank, max(1, (one_hot.shape[1] - window) // 2))
    trim_to = 30 if flank >= 10 else window + 4
    n_pos, n_neg = count_seqlets(one_hot, hyp, window, flank, target_fdr)
    if max(n_pos, n_neg) <= min_seqlets:
        raise _too_few(n_pos, n_neg, n, min_seqlets)
    min_motif = min_motif_seqlets or max(5, min(20, min_seqlets // 2))
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)  # max_seqlets keeps the first seqlets found: shuffle which sequences come first
    from modiscolite import tfmodisco

    t0 = time.time()
    pos, neg = tfmodisco.TFMoDISco(
        one_hot=one_hot[order],
        hypothetical_contribs=hyp[order],
        sliding_window_size=window,
        flank_size=flank,
        min_metacluster_size=min_seqlets,
        max_seqlets_per_metacluster=max_seqlets,
        target_seqlet_fdr=target_fdr,
        initial_flank_to_add=flank,
        trim_to_window_size=trim_to,
        n_leiden_runs=n_leiden_runs,
        final_min_cluster_size=min_motif,
        verbose=verbose,
    )
    motifs = []
    for sign, patterns in (("positive", pos), ("negative", neg)):
        for p in patterns or []:
            cwm = np.asarray(p.contrib_scores, dtype=np.float64)
            s, e = trim_span(cwm)
            seqlets = [
                (int(order[q.example_idx]), int(q.start), int(q.end), "-" if q.is_revcomp else "+") for q in p.seqlets
            ]
            pwm = np.asarray(p.sequence, dtype=np.float64)[s:e]
            pwm = pwm / np.clip(pwm.sum(1, keepdims=True), 1e-9, None)
            motifs.append(
                DiscoveredMotif(
                    name="",
                    sign=sign,
                    n_seqlets=len(p.seqlets),
                    cwm=cwm[s:e],
                    pwm=pwm,
                    hcwm=np.asarray(p.hypothetical_contribs, dtype=np.float64)[s:e],
                    seqlets=seqlets,
                )
            )
    if not motifs:
        raise _too_few(n_pos, n_neg, n, min_seqlets, extra=", but no pattern of them passed modisco's filters")
    motifs.sort(key=lambda m: (-m.n_seqlets, m.sign != "positive"))
    for i, m in enumerate(motifs):
        m.name = f"pattern_{i}"
    if database is not None:
        from genolm.interpret.tomtom import match_motifs

        for m, hits in zip(motifs, match_motifs([m.pwm for m in motifs], database, top=top_matches)):
            m.matches = hits
    _ = time.time() - t0
    return motifs
