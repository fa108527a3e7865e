"""Directed evolution against a sequence model (gReLU-style greedy / beam search over substitutions).

Each round proposes every single-base substitution at the editable, not yet edited positions of the current
beam (the ``population`` best candidates of the previous round) of every seed, drops those that contain an
avoided motif, scores all of them in large batches through the model's exact inference path
(``sm.score``), and keeps the ``population`` best. A seed stops when its best candidate stops improving or
its edit budget is spent. So a design made in round r has exactly r edits (plus any round-0 repair edits),
and the search is deterministic: proposals are generated and ranked in a fixed order (stable sorts, ties
broken by generation order); ``max_proposals`` subsamples them with a seeded generator.

The same engine does the greedy verification of gradient designs and the GAN edit transfer: ``allowed``
restricts which (position, base) substitutions may be proposed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from genolm.design.constraints import Constraints, count_hits, occurrences
from genolm.io.errors import InputError
from genolm.sequence import decode


@dataclass
class Objective:
    """maximize / minimize the model objective, or bring it to ``value`` (fitness = -|objective - value|)."""

    kind: str
    value: float | None = None

    @classmethod
    def parse(cls, text: str) -> "Objective":
        t = (text or "").strip().lower()
        if t in ("maximize", "maximise", "max"):
            return cls("maximize")
        if t in ("minimize", "minimise", "min"):
            return cls("minimize")
        if t.startswith("target:"):
            try:
                return cls("target", float(t.split(":", 1)[1]))
            except ValueError:
                pass
        raise InputError(f"--objective must be maximize, minimize or target:VALUE (e.g. target:0.8), got {text!r}")

    def fitness(self, values):
        """Higher is better; works on numpy arrays and torch tensors."""
        if self.kind == "maximize":
            return values
        if self.kind == "minimize":
            return -values
        return -abs(values - self.value)

    def __str__(self) -> str:
        return f"target:{self.value:g}" if self.kind == "target" else self.kind


class Scorer:
    """Objective values of sequences (given as uint8 codes) under one output of a SequenceModel."""

    def __init__(self, sm, target: int, objective: Objective, batch_size: int = 256):
        self.sm, self.target, self.objective, self.batch_size = sm, target, objective, batch_size
        self.calls = 0

    def values(self, seqs: Sequence[str]) -> np.ndarray:
        self.calls += len(seqs)
        return self.sm.predict_objective(list(seqs), self.target, self.batch_size)

    def values_codes(self, codes: np.ndarray) -> np.ndarray:
        return self.values([decode(c) for c in np.atleast_2d(codes)])


@dataclass
class Candidate:
    codes: np.ndarray  # (L,) uint8
    value: float  # model objective (probability / value)
    fitness: float
    edits: tuple = ()  # ((0-based position, from code, to code, round), ...)


@dataclass
class SearchResult:
    best: list[Candidate]
    trajectories: list[list[float]] = field(default_factory=list)  # best objective value per round (round 0 first)


def _proposals(cand: Candidate, seed: np.ndarray, editable: np.ndarray, allowed: np.ndarray | None):
    """Every single substitution of ``cand`` at editable positions still equal to the seed: (k, L) codes, (k, 2)."""
    pos = np.flatnonzero(editable & (cand.codes == seed))
    if not len(pos):
        return np.zeros((0, len(seed)), np.uint8), np.zeros((0, 2), np.int64)
    p = np.repeat(pos, 4)
    b = np.tile(np.arange(4), len(pos))
    keep = cand.codes[p] != b
    if allowed is not None:
        keep &= allowed[p, b]
    p, b = p[keep], b[keep]
    props = np.repeat(cand.codes[None, :], len(p), 0)
    props[np.arange(len(p)), p] = b
    return props, np.stack([p, b], 1)


def evolve(
    scorer: Scorer,
    seeds: list[np.ndarray],
    cons: Constraints,
    starts: list[Candidate],
    rounds: int | None = None,
    population: int = 4,
    allowed: list[np.ndarray] | None = None,
    max_proposals: int | None = None,
    seed: int = 0,
    chunk: int = 32768,
    progress=None,
) -> SearchResult:
    """Beam search from ``starts`` (one per seed, e.g. the seeds themselves or their repaired versions)."""
    rng = np.random.default_rng(seed)
    n = len(seeds)
    best = list(starts)
    beams = [[c] for c in starts]
    traj = [[c.value] for c in starts]
    active = [cons.max_edits - len(c.edits) > 0 for c in starts]
    budget = min(rounds if rounds is not None else cons.max_edits, cons.max_edits)
    population = max(1, int(population))
    for rnd in range(1, budget + 1):
        if not any(active):
            break
        pending: list[tuple[int, np.ndarray, list]] = []  # (seed, proposals, provenance)
        for i in range(n):
            if not active[i]:
                continue
            seen: dict[bytes, None] = {}
            rows, prov = [], []
            for j, cand in enumerate(beams[i]):
                if len(cand.edits) >= cons.max_edits:
                    continue
                props, pb = _proposals(cand, seeds[i], cons.editable(i), None if allowed is None else allowed[i])
                for r, (p, b) in zip(props, pb):
                    key = r.tobytes()
                    if key not in seen:
                        seen[key] = None
                        rows.append(r)
                        prov.append((j, int(p), int(b)))
            if not rows:
                active[i] = False
                continue
            props = np.stack(rows)
            if max_proposals and len(props) > max_proposals:
                pick = np.sort(rng.choice(len(props), max_proposals, replace=False))
                props, prov = props[pick], [prov[k] for k in pick]
            if cons.avoid:
                ok = count_hits(props, cons.avoid) == 0
                props, prov = props[ok], [pv for pv, o in zip(prov, ok) if o]
            if not len(props):
                active[i] = False
                continue
            pending.append((i, props, prov))
        values = _score_all(scorer, [p for _, p, _ in pending], chunk)
        for (i, props, prov), vals in zip(pending, values):
            fit = np.asarray(scorer.objective.fitness(vals), dtype=np.float64)
            order = np.argsort(-fit, kind="stable")[:population]
            new_beam = []
            for k in order:
                j, p, b = prov[k]
                parent = beams[i][j]
                edit = (p, int(parent.codes[p]), b, rnd)
                new_beam.append(Candidate(props[k], float(vals[k]), float(fit[k]), parent.edits + (edit,)))
            if new_beam[0].fitness > best[i].fitness + 1e-12:
                best[i] = new_beam[0]
                beams[i] = new_beam
            else:
                active[i] = False
            traj[i].append(best[i].value)
        if progress is not None:
            progress.update(1)
    return SearchResult(best, traj)


def _score_all(scorer: Scorer, groups: list[np.ndarray], chunk: int) -> list[np.ndarray]:
    """Score several groups of equal-length proposals with as few, large model calls as possible."""
    flat: list[str] = []
    for g in groups:
        flat.extend(decode(r) for r in g)
    vals = np.zeros(len(flat))
    for s in range(0, len(flat), chunk):
        vals[s : s + chunk] = scorer.values(flat[s : s + chunk])
    out, k = [], 0
    for g in groups:
        out.append(vals[k : k + len(g)])
        k += len(g)
    return out


def start_candidates(scorer: Scorer, seeds: list[np.ndarray]) -> list[Candidate]:
    vals = scorer.values([decode(s) for s in seeds])
    fit = np.asarray(scorer.objective.fitness(vals), dtype=np.float64)
    return [Candidate(s.copy(), float(v), float(f)) for s, v, f in zip(seeds, vals, fit)]


def repair(scorer: Scorer, ids: list[str], seeds: list[np.ndarray], cons: Constraints, starts: list[Candidate]):
    """Remove avoided motifs already in the seeds (round-0 edits), best predictor fitness first; raises
    :class:`InputError` when a seed cannot be cleaned within its edit budget."""
    if not cons.avoid:
        return starts
    out = list(starts)
    for i, cand in enumerate(starts):
        codes, edits = cand.codes.copy(), list(cand.edits)
        editable = cons.editable(i)
        while True:
            occ = occurrences(codes, cons.avoid)
            if not occ:
                break
            if len(edits) >= cons.max_edits:
                raise InputError(
                    f"seed {ids[i]!r}: removing its avoided motifs needs more than --max-edits {cons.max_edits} edits"
                )
            name, s, e, strand = occ[0]
            now = len(occ)
            props = []
            for p in range(s, e):
                if not editable[p] or codes[p] != seeds[i][p]:
                    continue
                for b in range(4):
                    if b != codes[p]:
                        r = codes.copy()
                        r[p] = b
                        props.append((p, b, r))
            if props:
                mat = np.stack([r for _, _, r in props])
                fewer = count_hits(mat, cons.avoid) < now
                props = [pr for pr, f in zip(props, fewer) if f]
            if not props:
                raise InputError(
                    f"seed {ids[i]!r}: avoided motif {name} at {s + 1}-{e} ({strand} strand) cannot be removed "
                    "by a substitution without creating another avoided motif"
                )
            vals = scorer.values_codes(np.stack([r for _, _, r in props]))
            k = int(np.argmax(np.asarray(scorer.objective.fitness(vals))))
            p, b, r = props[k]
            edits.append((p, int(codes[p]), b, 0))
            codes = r
        if edits != list(cand.edits):
            v = float(scorer.values_codes(codes)[0])
            out[i] = Candidate(codes, v, float(scorer.objective.fitness(np.float64(v))), tuple(edits))
    return out
