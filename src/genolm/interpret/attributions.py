"""Per-base attributions of any :class:`~genolm.core.seqmodel.SequenceModel`: saliency, integrated gradients,
DeepLIFT/SHAP and in-silico saturation mutagenesis (ISM), all with one output format.

What is explained
    Every method explains the same number ``f(x)``: for classifiers the **log-odds of the target class**,
    ``z_t - logsumexp_{k != t} z_k = log(p_t / (1 - p_t))`` computed from the logits ``z`` (for a binary
    classifier simply ``z_1 - z_0``; it is linear in the logits there, so DeepLIFT's rules stay exact, and
    it is monotone in the class probability, so ISM and gradient signs agree); for regressors the value.
    :func:`ism_batched` returns deltas of ``sm.objective`` (the class probability / value) by default, or of
    ``f`` with ``quantity="explained"`` (what :func:`attribute` uses).

Hypothetical contributions and scores (arrays ``(n, 4, L)``, rows A C G T)
    - ``saliency``: the gradient of ``f`` w.r.t. the one-hot input (captum ``Saliency``), mean-centred over
      the 4 bases at each position (the gradient correction of Majdandzic et al. 2023).
    - ``ig``: captum ``IntegratedGradients`` (Gauss-Legendre, ``steps`` points) from each baseline, projected
      per base as DeepLIFT's hypothetical contributions (tangermeme ``hypothetical_attributions``:
      ``h_b = m_b - sum_c ref_c m_c``), averaged over the baselines.
    - ``deeplift_shap``: tangermeme ``deep_lift_shap`` (DeepLIFT rescale rules, incl. GELU/LayerNorm) with
      the same projection.
    - ``ism``: ``f(mutant) - f(x)`` for every substitution (0 for the observed base), mean-centred per position.
    ``scores = hypothetical * one_hot``: the contribution of the observed base (0 at N and IUPAC positions,
    whose one-hot column is all zero; ISM does not mutate them either).

Baselines (ig, deeplift_shap): ``shuffle`` = ``n_baselines`` dinucleotide shuffles of each sequence (tangermeme,
seeded), ``zeros`` = the all-zero input (one baseline).

Completeness: for ig and deeplift_shap the summed scores of a sequence should equal ``f(x) - mean_b f(b)``.
A sequence fails when ``|delta| > tolerance * mean_b |f(x) - f(b)|``; when more than 5% fail (or DeepLIFT
errors on a layer) deeplift_shap falls back to IG (IG to ISM when its own check fails too), with a note.
``Attributions.method`` is the method actually used and ``notes`` say why.

Sequences of different lengths are attributed in per-length batches and zero-padded to the longest.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from genolm.io.errors import InputError

METHODS = ("saliency", "ig", "deeplift_shap", "ism")
BASELINES = ("shuffle", "zeros")
_BASES = "ACGT"
FAIL_FRACTION = 0.05  # more failing sequences than this = the completeness check fails


@dataclass
class Attributions:
    ids: list[str]
    seqs: list[str]
    one_hot: np.ndarray
    hypothetical: np.ndarray
    scores: np.ndarray
    lengths: np.ndarray
    method: str
    target: str
    notes: list[str] = field(default_factory=list)
    #: f(x) per sequence (log-odds of the target class / value), input order; may be empty
    values: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    #: summary numbers (completeness deltas, seconds ...), JSON-able
    stats: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def per_base(self) -> list[np.ndarray]:
        """Scores summed over the 4 bases: one ``(L_i,)`` array per sequence."""
        summed = self.scores.sum(1)
        return [summed[i, : int(n)] for i, n in enumerate(self.lengths)]

    def save(self, path: str | Path) -> Path:
        from genolm.io.atomic import atomic_path

        path = Path(path)
        arrays = dict(
            ids=np.array(self.ids, dtype=str),
            seqs=np.array(self.seqs, dtype=str),
            one_hot=self.one_hot.astype(np.float32),
            hypothetical=self.hypothetical.astype(np.float32),
            scores=self.scores.astype(np.float32),
            lengths=np.asarray(self.lengths, dtype=np.int64),
            method=np.array(self.method),
            target=np.array(self.target),
            notes=np.array(list(self.notes), dtype=str),
            values=np.asarray(self.values, dtype=np.float32),
            stats=np.array(json.dumps(self.stats, default=float)),
        )
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Attributions":
        """Read an ``attributions.npz`` (or the run directory holding one)."""
        path = Path(path)
        if path.is_dir():
            path = path / "attributions.npz"
        if not path.is_file():
            raise InputError("no attributions.npz here (write one with `genolm explain`)", path)
        try:
            z = np.load(path, allow_pickle=False)
            keys = set(z.files)
            missing = {"ids", "seqs", "one_hot", "hypothetical", "scores", "lengths", "method", "target"} - keys
            if missing:
                raise InputError(f"not a genolm attributions file (missing {sorted(missing)})", path)
            return cls(
                ids=[str(s) for s in z["ids"]],
                seqs=[str(s) for s in z["seqs"]],
                one_hot=z["one_hot"].astype(np.float32),
                hypothetical=z["hypothetical"].astype(np.float32),
                scores=z["scores"].astype(np.float32),
                lengths=z["lengths"].astype(np.int64),
                method=str(z["method"]),
                target=str(z["target"]),
                notes=[str(s) for s in z["notes"]] if "notes" in keys else [],
                values=z["values"].astype(np.float32) if "values" in keys else np.zeros(0, np.float32),
                stats=json.loads(str(z["stats"])) if "stats" in keys else {},
            )
        except InputError:
            raise
        except Exception as e:  # zip/format errors
            raise InputError(f"cannot read attributions: {e}", path) from None


# --- the explained quantity --------------------------------------------------------------------------------


def _log_odds_t(z: torch.Tensor, target: int) -> torch.Tensor:
    if z.shape[1] == 1:
        return z[:, 0]
    others = torch.cat([z[:, :target], z[:, target + 1 :]], 1)
    return z[:, target] - torch.logsumexp(others, 1)


def explained_values(sm, raw: np.ndarray | torch.Tensor, target: int):
    """f from raw outputs: log-odds of ``target`` (classifiers) or the value (regressors)."""
    is_np = not isinstance(raw, torch.Tensor)
    z = torch.as_tensor(np.asarray(raw, dtype=np.float64)) if is_np else raw.float()
    out = _log_odds_t(z, target) if sm.task == "classification" else z[:, target]
    return out.numpy() if is_np else out


class _Explained(nn.Module):
    """``x -> f(x)`` as an (n, 1) output: what captum and tangermeme differentiate."""

    def __init__(self, sm, target: int):
        super().__init__()
        self.inner = sm.module()
        self.sm, self.target = sm, target

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return explained_values(self.sm, self.inner(x).float(), self.target).unsqueeze(1)


# --- ISM ---------------------------------------------------------------------------------------------------


def _mutants(seq: str) -> tuple[list[str], list[tuple[int, int]]]:
    s = seq.upper()
    muts, where = [], []
    for i, b in enumerate(s):
        if b not in _BASES:
            continue
        for a, alt in enumerate(_BASES):
            if alt != b:
                muts.append(s[:i] + alt + s[i + 1 :])
                where.append((a, i))
    return muts, where


def _values(sm, raw: np.ndarray, target: int, quantity: str) -> np.ndarray:
    if quantity == "explained":
        return np.asarray(explained_values(sm, raw, target), dtype=np.float64)
    return np.asarray(sm.objective(raw, target), dtype=np.float64)


def ism_batched(sm, seqs: Sequence[str], target: int, batch_size: int = 256, quantity: str = "objective") -> np.ndarray:
    """(n, 4, Lmax) change of the objective (``sm.objective``: class probability / value; ``quantity="explained"``:
    log-odds / value) for every single-base substitution: 0 at the observed base, at N/IUPAC positions and
    past each sequence's end. All 3L mutants of many sequences go through ``sm.score_fast`` in shared batches of
    ``batch_size`` (one-hot forward passes for differentiable models, else the exact ``score`` path)."""
    seqs = list(seqs)
    lmax = max((len(s) for s in seqs), default=0)
    out = np.zeros((len(seqs), 4, lmax), dtype=np.float32)
    i = 0
    while i < len(seqs):
        chunk, rows, owners, wheres = [], [], [], []
        budget = max(batch_size * 8, 1)
        while i < len(seqs) and (not chunk or len(rows) + 3 * len(seqs[i]) + 1 <= budget):
            muts, where = _mutants(seqs[i])
            chunk.append(i)
            rows.append(seqs[i])
            owners.append(len(rows) - 1)
            rows.extend(muts)
            wheres.append(where)
            i += 1
        v = _values(sm, sm.score_fast(rows, batch_size=batch_size), target, quantity)
        for j, k0, where in zip(chunk, owners, wheres):
            if where:
                a, p = np.array(where).T
                out[j, a, p] = v[k0 + 1 : k0 + 1 + len(where)] - v[k0]
    return out


def ism_one_by_one(sm, seq: str, target: int, quantity: str = "objective") -> np.ndarray:
    """The reference ISM: one forward pass per mutant (slow; for tests and the benchmark baseline)."""
    out = np.zeros((4, len(seq)), dtype=np.float32)
    ref = _values(sm, sm.score_fast([seq], batch_size=1), target, quantity)[0]
    for m, (a, p) in zip(*_mutants(seq)):
        out[a, p] = _values(sm, sm.score_fast([m], batch_size=1), target, quantity)[0] - ref
    return out


# --- gradient methods --------------------------------------------------------------------------------------


def _baselines(x: torch.Tensor, kind: str, n: int, seed: int) -> torch.Tensor:
    """(B, K, 4, L) references for (B, 4, L) inputs."""
    if kind == "zeros":
        return torch.zeros(x.shape[0], 1, *x.shape[1:], dtype=x.dtype)
    from tangermeme.ersatz import dinucleotide_shuffle

    if x.shape[2] < 3:
        return x.unsqueeze(1).repeat(1, n, 1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dinucleotide_shuffle(x, n=n, random_state=seed, allow_N=True).to(x.dtype)


def _project(m: torch.Tensor, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    from tangermeme.deep_lift_shap import hypothetical_attributions

    return hypothetical_attributions((m,), (x,), (ref,))[0]


def _f(model: nn.Module, x: torch.Tensor, batch_size: int, device) -> np.ndarray:
    outs = []
    with torch.no_grad():
        for k in range(0, len(x), batch_size):
            outs.append(model(x[k : k + batch_size].to(device)).reshape(-1).float().cpu())
    return torch.cat(outs).numpy().astype(np.float64) if outs else np.zeros(0)


def _saliency(model, x, device, batch_size):
    from captum.attr import Saliency

    sal = Saliency(model)
    hyps = []
    for k in range(0, len(x), batch_size):
        xb = x[k : k + batch_size].to(device).requires_grad_()
        g = sal.attribute(xb, target=0, abs=False).detach().float().cpu()
        hyps.append(g - g.mean(1, keepdim=True))
    return torch.cat(hyps), None


def _ig(model, x, refs, device, steps, batch_size):
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(model, multiply_by_inputs=False)
    n, k = refs.shape[:2]
    per = max(1, batch_size // k)
    hyps = []
    for s in range(0, n, per):
        xb = x[s : s + per]
        xr = xb.repeat_interleave(k, 0).to(device)
        rb = refs[s : s + per].reshape(-1, *x.shape[1:]).to(device)
        m = ig.attribute(xr, baselines=rb, target=0, n_steps=steps, internal_batch_size=batch_size)
        h = _project(m.detach().float(), xr.float(), rb.float()).cpu()
        hyps.append(h.reshape(len(xb), k, *x.shape[1:]).mean(1))
    return torch.cat(hyps), None


def _deeplift(model, x, refs, device, batch_size, seed):
    from tangermeme.deep_lift_shap import deep_lift_shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = deep_lift_shap(
            model,
            x,
            target=0,
            references=refs,
            batch_size=max(1, batch_size // 2),
            hypothetical=True,
            warning_threshold=math.inf,
            only_warn=True,
            device=device,
            random_state=seed,
        )
    return h.detach().float().cpu(), None


def _completeness(model, x, refs, hyp, device, batch_size, tolerance) -> dict:
    fx = _f(model, x, batch_size, device)
    fb = _f(model, refs.reshape(-1, *x.shape[1:]), batch_size, device).reshape(refs.shape[0], refs.shape[1])
    total = (hyp * x).sum((1, 2)).numpy().astype(np.float64)
    expected = fx - fb.mean(1)
    delta = np.abs(total - expected)
    scale = np.abs(fx[:, None] - fb).mean(1)
    rel = delta / np.maximum(scale, 1e-6)
    return {"delta": delta, "rel": rel, "failed": rel > tolerance}


def _check_inputs(sm, seqs: list[str]) -> None:
    if not seqs:
        raise InputError("no sequences to explain")
    for i, s in enumerate(seqs):
        if not s:
            raise InputError(f"sequence {i + 1} is empty")
        sm.check_length(len(s), f"sequence (number {i + 1})")


def attribute(
    sm,
    seqs: list[str],
    target: int | str | None = None,
    method: str = "ig",
    baseline: str = "shuffle",
    n_baselines: int = 8,
    steps: int = 32,
    batch_size: int = 64,
    seed: int = 0,
    ids: list[str] | None = None,
    tolerance: float = 0.05,
) -> Attributions:
    """Attributions of ``f`` (log-odds of ``target`` for classifiers, the value for regressors; see the module
    docstring) for every sequence, in input order. ``target``: output index or name (None = positive class)."""
    import time

    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if baseline not in BASELINES:
        raise InputError(f"unknown baseline {baseline!r}; choose shuffle or zeros")
    if n_baselines < 1 or steps < 1 or batch_size < 1:
        raise InputError("--n-baselines, --steps and --batch-size must be >= 1")
    seqs = [str(s).upper() for s in seqs]
    ids = [str(i) for i in ids] if ids is not None else [f"seq{i + 1}" for i in range(len(seqs))]
    if len(ids) != len(seqs):
        raise InputError(f"{len(ids)} ids for {len(seqs)} sequences")
    _check_inputs(sm, seqs)
    t = sm.target_index(target)
    if method != "ism" and not sm.differentiable:
        raise InputError(
            f"{sm.description}: no gradient path for --method {method} ({sm.gradient_note}); use --method ism"
        )
    from genolm.sequence import one_hot

    t0 = time.perf_counter()
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    lmax = int(lengths.max())
    n = len(seqs)
    oh = np.zeros((n, 4, lmax), np.float32)
    hyp = np.zeros((n, 4, lmax), np.float32)
    values = np.zeros(n, np.float32)
    notes: list[str] = []
    stats: dict = {}
    used = method
    groups: dict[int, list[int]] = {}
    for i, L in enumerate(lengths):
        groups.setdefault(int(L), []).append(i)

    if method == "ism":
        hyp, values = _ism_all(sm, seqs, t, batch_size)
        for i, s in enumerate(seqs):
            oh[i, :, : len(s)] = one_hot(s)
    else:
        model = _Explained(sm, t)
        model.eval()
        dev = sm.device
        for L, idx in groups.items():
            x = torch.from_numpy(one_hot([seqs[i] for i in idx]))
            oh[idx, :, :L] = x.numpy()
            values[idx] = _f(model, x, batch_size, dev)
        if method == "saliency":
            for L, idx in groups.items():
                h, _ = _saliency(model, torch.from_numpy(oh[idx, :, :L]), dev, batch_size)
                hyp[idx, :, :L] = h.numpy()
        else:
            used, hyp_c, comp, why = _reference_method(
                model, sm, oh, groups, method, baseline, n_baselines, steps, batch_size, seed, tolerance
            )
            notes.extend(why)
            if used == "ism":
                hyp, _ = _ism_all(sm, seqs, t, batch_size)
            else:
                hyp = hyp_c
            deltas, rels, fails = comp
            if used != "ism" and len(deltas):
                stats["completeness"] = {
                    "method": used,
                    "tolerance": tolerance,
                    "mean_abs_delta": float(np.mean(deltas)),
                    "max_abs_delta": float(np.max(deltas)),
                    "median_relative_delta": float(np.median(rels)),
                    "fraction_failed": float(np.mean(fails)),
                    "passed": bool(np.mean(fails) <= FAIL_FRACTION),
                }
    if method == "ism" or used == "ism":
        hyp = hyp - hyp.mean(1, keepdims=True) * (oh.sum(1, keepdims=True) > 0)
    for i, L in enumerate(lengths):
        hyp[i, :, L:] = 0
    scores = (hyp * oh).astype(np.float32)
    secs = time.perf_counter() - t0
    stats.update(seconds=secs, sequences_per_second=n / secs if secs > 0 else float("inf"))
    quantity = "log-odds" if sm.task == "classification" else "value"
    stats["explained"] = f"{quantity} of {sm.outputs[t]}"
    return Attributions(
        ids=ids,
        seqs=seqs,
        one_hot=oh,
        hypothetical=hyp.astype(np.float32),
        scores=scores,
        lengths=lengths,
        method=used,
        target=str(sm.outputs[t]),
        notes=notes,
        values=values,
        stats=stats,
    )


def _ism_all(sm, seqs, t, batch_size):
    delta = ism_batched(sm, seqs, t, batch_size=max(batch_size, 64), quantity="explained")
    values = explained_values(sm, sm.score(seqs, batch_size=max(batch_size, 64)), t).astype(np.float32)
    return delta, values


def _reference_method(model, sm, oh, groups, method, baseline, n_baselines, steps, batch_size, seed, tolerance):
    """Run ig / deeplift_shap per length group with the completeness check; fall back when it fails.
    Returns (method used, hypothetical (n,4,L), (deltas, rel, failed), notes)."""
    notes: list[str] = []
    # IG is retried once with 4x the steps (its error is the path-integral discretisation) before falling back
    order = [method] + (["ig"] if method == "deeplift_shap" else []) + ["ig+"] + ["ism"]
    if method == "ig" and steps >= 128:
        order.remove("ig+")
    dev = sm.device
    tried_steps = steps
    for m in order:
        if m == "ig+":
            if order[order.index(m) - 1] != "ig" or not notes or "FAILED" not in notes[-1]:
                continue
            tried_steps = steps * 4
        if m == "ism":
            return "ism", None, ([], [], []), notes
        hyp = np.zeros_like(oh)
        deltas = np.zeros(len(oh))
        rels = np.zeros(len(oh))
        fails = np.zeros(len(oh), bool)
        try:
            for L, idx in groups.items():
                x = torch.from_numpy(oh[idx, :, :L])
                refs = _baselines(x, baseline, n_baselines, seed)
                if m in ("ig", "ig+"):
                    h, _ = _ig(model, x, refs, dev, tried_steps if m == "ig+" else steps, batch_size)
                else:
                    h, _ = _deeplift(model, x, refs, dev, batch_size, seed)
                hyp[idx, :, :L] = h.numpy()
                c = _completeness(model, x, refs, h, dev, batch_size, tolerance)
                deltas[idx], rels[idx], fails[idx] = c["delta"], c["rel"], c["failed"]
        except InputError:
            raise
        except Exception as e:  # a layer the method cannot handle
            nxt = order[order.index(m) + 1]
            nxt = "ism" if nxt == "ig+" else nxt
            notes.append(f"{m} failed on this model ({type(e).__name__}: {e}); fell back to {nxt}")
            continue
        frac = float(fails.mean())
        label = f"ig with {tried_steps} steps" if m == "ig+" else m
        if frac <= FAIL_FRACTION:
            if m == "ig+":
                m = "ig"
            notes.append(
                f"{label} completeness check passed: {frac:.1%} of sequences have |sum of scores - (f(x) - mean f(baseline))| "
                f"above {tolerance:g} x |f(x) - f(baseline)| (median relative delta {np.median(rels):.2g})"
            )
            return m, hyp, (deltas, rels, fails), notes
        nxt = order[order.index(m) + 1]
        nxt = f"ig with {steps * 4} steps" if nxt == "ig+" else nxt
        notes.append(
            f"{label} completeness check FAILED: {frac:.1%} of sequences (> {FAIL_FRACTION:.0%}) have a summed attribution "
            f"off f(x) - mean f(baseline) by more than {tolerance:g} of |f(x) - f(baseline)| (median relative delta "
            f"{np.median(rels):.2g}, max |delta| {deltas.max():.3g}); fell back to {nxt}"
            + (" (try more --steps)" if m == "ig+" else "")
        )
    raise AssertionError("unreachable")
