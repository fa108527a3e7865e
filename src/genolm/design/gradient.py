"""Gradient-guided design (Ledidi-style): a Gumbel-softmax relaxation of edits around each seed.

This is the algorithm of Schreiber's ``ledidi`` package (learn a weight matrix ``W`` added to
``log(one_hot(seed) + eps)``, draw hard one-hot sequences from it with the straight-through Gumbel-softmax
estimator, minimise ``-fitness + lambda * edits``), written here batched over many seeds at once
(``ledidi.Ledidi`` fits one sequence at a time) and with genolm's constraints built in:

- kept positions (``--keep``), N positions and positions already edited by the avoid-motif repair are
  masked: their non-template logits are -inf, so no sample ever edits them;
- every step, samples within the edit budget and free of avoided motifs are remembered (the best one per
  seed);
- projection to <= K edits: the 2K positions whose best alternative base has the largest logit margin over
  the template base become the only substitutions a greedy, exact-model (``sm.score``) forward selection
  may use (the directed-evolution engine with ``allowed`` set); the better of that and the best remembered
  sample (re-scored with ``sm.score``) is the design.

It needs a differentiable model (``sm.differentiable``); k-mer/BPE tokenizers raise an InputError pointing at
``--method evolve``. Gradients come from ``torch.autograd.grad`` on the input weights only; the model is
frozen.
"""

from __future__ import annotations

import numpy as np
import torch

from genolm.design.constraints import Constraints, count_hits
from genolm.design.evolve import Candidate, Scorer, SearchResult, evolve
from genolm.io.errors import InputError
from genolm.sequence import decode


def _gumbel_hard(logits: torch.Tensor, tau: float, generator: torch.Generator) -> torch.Tensor:
    """Straight-through hard Gumbel-softmax over dim 1 with an explicit generator (as ledidi does)."""
    u = torch.empty(logits.shape, device=logits.device).exponential_(generator=generator)
    y_soft = ((logits - u.log()) / tau).softmax(1)
    index = y_soft.argmax(1, keepdim=True)
    y_hard = torch.zeros_like(y_soft).scatter_(1, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


def _scale(scorer: Scorer, values: np.ndarray) -> float:
    if scorer.sm.task == "classification":
        return 1.0
    sd = float(np.std(values)) if len(values) > 1 else 0.0
    return sd if sd > 1e-9 else max(float(np.abs(values).mean()), 1.0)


def gradient_design(
    scorer: Scorer,
    seeds: list[np.ndarray],
    cons: Constraints,
    starts: list[Candidate],
    steps: int = 150,
    samples: int = 8,
    lr: float = 0.5,
    edit_penalty: float | None = None,
    tau: float = 1.0,
    eps: float = 1e-4,
    seed: int = 0,
    seeds_per_batch: int = 16,
    progress=None,
) -> SearchResult:
    sm = scorer.sm
    if not sm.differentiable:
        raise InputError(
            f"--method gradient needs gradients, but {sm.description} has none ({sm.gradient_note}); use --method evolve"
        )
    n = len(seeds)
    lam = edit_penalty if edit_penalty is not None else 0.01 / max(cons.max_edits, 1)
    scale = _scale(scorer, np.array([c.value for c in starts]))
    margins: list[np.ndarray] = [np.zeros(0)] * n
    sampled: list[Candidate | None] = [None] * n
    traj: list[list[float]] = [[c.value] for c in starts]
    groups: dict[int, list[int]] = {}
    for i, s in enumerate(seeds):
        groups.setdefault(len(s), []).append(i)
    for length, members in groups.items():
        for c0 in range(0, len(members), seeds_per_batch):
            idx = members[c0 : c0 + seeds_per_batch]
            _fit_chunk(
                scorer,
                seeds,
                cons,
                starts,
                idx,
                steps,
                samples,
                lr,
                lam,
                tau,
                eps,
                seed + c0,
                scale,
                margins,
                sampled,
                traj,
                progress,
            )
    # projection: the greedy exact-model selection among the 2K largest-margin substitutions
    allowed = []
    for i in range(n):
        a = np.zeros((len(seeds[i]), 4), dtype=bool)
        m = margins[i]  # (4, L), -inf where not editable / template
        best_b = m.argmax(0)
        best_m = m.max(0)
        k = max(3 * cons.max_edits, 1)
        order = np.argsort(-best_m, kind="stable")[:k]
        order = order[np.isfinite(best_m[order])]
        a[order, best_b[order]] = True
        a[order[: cons.max_edits]] = np.isfinite(m[:, order[: cons.max_edits]]).T  # every base at the top K
        if sampled[i] is not None:
            for p, _, b, _ in sampled[i].edits:
                a[p, b] = True
        allowed.append(a)
    greedy = evolve(scorer, seeds, cons, starts, population=1, allowed=allowed)
    have = [i for i in range(n) if sampled[i] is not None]
    exact = scorer.values([decode(sampled[i].codes) for i in have]) if have else []
    exact_by = dict(zip(have, exact))
    best = []
    for i in range(n):
        cand = greedy.best[i]
        if i in exact_by:
            v = float(exact_by[i])
            f = float(scorer.objective.fitness(np.float64(v)))
            if f > cand.fitness + 1e-12:
                cand = Candidate(sampled[i].codes, v, f, sampled[i].edits)
        best.append(cand)
        traj[i].append(cand.value)
    return SearchResult(best, traj)


def _fit_chunk(
    scorer, seeds, cons, starts, idx, steps, samples, lr, lam, tau, eps, seed, scale, margins, sampled, traj, progress
) -> None:
    sm = scorer.sm
    dev = sm.device
    b = len(idx)
    length = len(seeds[idx[0]])
    start_codes = np.stack([starts[i].codes for i in idx])
    seed_codes = np.stack([seeds[i] for i in idx])
    ok = start_codes < 4
    x = torch.from_numpy(np.eye(5, 4, dtype=np.float32)[start_codes].transpose(0, 2, 1).copy())
    # frozen: kept positions, N, and positions the repair step already edited
    frozen = np.stack([cons.fixed[i] for i in idx]) | ~ok | (start_codes != seed_codes)
    budget = torch.tensor([cons.max_edits - len(starts[i].edits) for i in idx], dtype=torch.float32)
    base = torch.log(x + eps)
    fz = torch.from_numpy(frozen)[:, None, :].expand(b, 4, length) & (x == 0)
    base = base.masked_fill(fz, float("-inf")).to(dev)
    x = x.to(dev)
    w = torch.zeros(b, 4, length, device=dev, requires_grad=True)
    opt = torch.optim.Adam([w], lr=lr)
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed))
    best_fit = np.array([starts[i].fitness for i in idx])
    net = sm.module().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    for step in range(1, steps + 1):
        logits = (base + w).unsqueeze(1).expand(b, samples, 4, length).reshape(b * samples, 4, length)
        xh = _gumbel_hard(logits, tau, gen)
        raw = sm.forward(xh)
        val = sm.objective(raw, scorer.target)
        fit = scorer.objective.fitness(val) / scale
        x_rep = x.repeat_interleave(samples, 0)
        n_edits = (xh * (1 - x_rep)).sum((1, 2))
        loss = (-fit + lam * n_edits).reshape(b, samples).mean(1).sum()
        (grad,) = torch.autograd.grad(loss, w)
        opt.zero_grad()
        w.grad = grad
        opt.step()
        with torch.no_grad():
            codes = xh.argmax(1).cpu().numpy().astype(np.uint8).reshape(b, samples, length)
            vals = val.detach().cpu().numpy().astype(np.float64).reshape(b, samples)
            fits = (fit.detach().cpu().numpy().astype(np.float64) * scale).reshape(b, samples)
            ned = n_edits.detach().cpu().numpy().reshape(b, samples)
            for j, i in enumerate(idx):
                traj[i].append(float(vals[j].mean()))
                fine = ned[j] <= budget[j].item() + 1e-6
                if cons.avoid and fine.any():
                    fine &= count_hits(codes[j], cons.avoid) == 0
                if not fine.any():
                    continue
                k = int(np.argmax(np.where(fine, fits[j], -np.inf)))
                if fits[j, k] > best_fit[j] + 1e-12:
                    best_fit[j] = fits[j, k]
                    c = codes[j, k]
                    diff = np.flatnonzero(c != start_codes[j])
                    edits = starts[i].edits + tuple((int(p), int(start_codes[j][p]), int(c[p]), 1) for p in diff)
                    sampled[i] = Candidate(c.copy(), float(vals[j, k]), float(fits[j, k]), edits)
        if progress is not None:
            progress.update(b / max(len(seeds), 1))
    with torch.no_grad():
        lg = (base + w).cpu().numpy()
    for j, i in enumerate(idx):
        tmpl = np.take_along_axis(lg[j], np.clip(start_codes[j], 0, 3)[None, :].astype(np.int64), 0)
        m = lg[j] - tmpl
        m[np.clip(start_codes[j], 0, 3), np.arange(length)] = -np.inf
        m[:, frozen[j]] = -np.inf
        margins[i] = m


__all__ = ["gradient_design"]
