"""`genolm design`: run a design method on every seed and write the run directory.

Files written (all in input order, deterministic for the same inputs and ``seed``):

- ``designed.fa``: one design per seed, id = the seed's id, description ``n_edits=.. seed_score=..
  design_score=..`` (plus the oracle's scores with an oracle);
- ``edits.tsv``: ``seed_id, position (1-based), from, to, round`` (round 0 = repair of an avoided motif the
  seed already contained; gradient designs list the projection step as rounds);
- ``trajectories.tsv``: ``seed_id, round, score`` (best objective so far per evolution round; for gradient
  design the mean objective of the Gumbel samples per optimisation step, then the final design);
- ``designs.tsv``: ``seed_id, n_edits, seed_score, design_score, oracle_seed_score, oracle_design_score``;
- ``metrics.json``, ``report.html`` (trajectories, seed vs design score distributions, predictor vs oracle).

Scores are the model objective of the chosen output: the class probability for classifiers, the value for
regressors. Success (classifiers only): P >= 0.5 for ``maximize``, P < 0.5 for ``minimize``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from genolm.design.constraints import Constraints
from genolm.design.evolve import Candidate, Objective, Scorer, SearchResult, evolve, repair, start_candidates
from genolm.io.errors import InputError
from genolm.sequence import decode, encode

METHODS = ("evolve", "gradient", "gan")


def _success(sm, objective: Objective, values: np.ndarray) -> np.ndarray | None:
    if sm.task != "classification" or objective.kind == "target":
        return None
    return values >= 0.5 if objective.kind == "maximize" else values < 0.5


def gan_transfer(
    scorer: Scorer, seeds, cons: Constraints, starts, gan_dir: str, population: int, seed: int, batch_size: int
) -> SearchResult:
    """Sample from a GAN, and move up to K of the best GAN samples' bases into each seed, greedily by gain.

    The ``population`` GAN samples the predictor scores highest define, per seed, the only substitutions
    allowed (positions where a sample differs from the seed, to that sample's base); directed evolution then
    picks among them one edit at a time."""
    try:
        from genolm.design.gan import load_gan
    except ImportError as e:
        raise InputError(f"--method gan is not available in this build (genolm.design.gan: {e})") from None
    gen = load_gan(gan_dir)
    n_samples = max(64, 16 * population)
    samples = [s.upper() for s in gen.sample(n_samples, seed=seed, batch_size=batch_size)]
    lengths = {len(s) for s in seeds}
    samples = [s for s in samples if len(s) in lengths]
    if not samples:
        raise InputError(
            f"the GAN in {gan_dir} generates sequences of another length than the seeds ({sorted(lengths)})"
        )
    vals = np.asarray(scorer.objective.fitness(scorer.values(samples)))
    order = np.argsort(-vals, kind="stable")
    allowed = []
    for i, s in enumerate(seeds):
        a = np.zeros((len(s), 4), dtype=bool)
        top = [samples[k] for k in order if len(samples[k]) == len(s)][:population]
        for t in top:
            c = encode(t)
            p = np.flatnonzero((c != s) & (c < 4))
            a[p, c[p]] = True
        allowed.append(a)
    return evolve(scorer, seeds, cons, starts, population=1, allowed=allowed)


def run_design(
    sm,
    ids: list[str],
    seqs: list[str],
    objective: Objective,
    target: int,
    method: str,
    cons: Constraints,
    oracle=None,
    oracle_target: int | None = None,
    rounds: int | None = None,
    population: int = 2,
    gan_dir: str | None = None,
    seed: int = 0,
    batch_size: int = 256,
) -> dict:
    """Design every seed; returns the designs and scores (no files). Raises InputError on bad input."""
    from genolm.core.progress import progress
    from genolm.core.runs import set_seed

    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    for sid, s in zip(ids, seqs):
        if sm.length is not None and len(s) != sm.length:
            raise InputError(f"{sm.description} takes {sm.length}-nt sequences; seed {sid!r} has {len(s)} nt")
        if oracle is not None and oracle.length is not None and len(s) != oracle.length:
            raise InputError(
                f"oracle {oracle.description} takes {oracle.length}-nt sequences; seed {sid!r} has {len(s)} nt"
            )
    if method == "gradient" and not sm.differentiable:
        raise InputError(
            f"--method gradient needs gradients, but {sm.description} has none ({sm.gradient_note}); use --method evolve"
        )
    if method == "gan" and not gan_dir:
        raise InputError("--method gan needs --gan DIR (a model from `genolm gan train`)")
    set_seed(seed)
    scorer = Scorer(sm, target, objective, batch_size)
    seeds = [encode(s) for s in seqs]
    starts = repair(scorer, ids, seeds, cons, start_candidates(scorer, seeds))
    if method == "evolve":
        total = min(rounds if rounds is not None else cons.max_edits, cons.max_edits)
        with progress(total=total, desc="design (evolve)", unit="round") as bar:
            res = evolve(scorer, seeds, cons, starts, rounds=rounds, population=population, seed=seed, progress=bar)
    elif method == "gradient":
        from genolm.design.gradient import gradient_design

        steps = rounds if rounds is not None else 150
        with progress(total=steps, desc="design (gradient)", unit="step") as bar:
            res = gradient_design(scorer, seeds, cons, starts, steps=steps, seed=seed, progress=bar)
    else:
        res = gan_transfer(scorer, seeds, cons, starts, gan_dir, population, seed, batch_size)
    designs = [decode(c.codes) for c in res.best]
    for i, (s, d) in enumerate(zip(seqs, designs)):
        problems = cons.check(s, d, i)
        if problems:  # a bug, never a user error
            raise RuntimeError(f"design of {ids[i]!r} breaks its constraints: {'; '.join(problems)}")
    seed_vals = scorer.values(seqs)
    design_vals = np.array([c.value for c in res.best])
    out = {
        "ids": ids,
        "seeds": seqs,
        "designs": designs,
        "best": res.best,
        "trajectories": res.trajectories,
        "seed_scores": seed_vals,
        "design_scores": design_vals,
        "oracle_seed_scores": None,
        "oracle_design_scores": None,
        "model_calls": scorer.calls,
    }
    if oracle is not None:
        ot = oracle.target_index(oracle_target)
        out["oracle_seed_scores"] = oracle.predict_objective(seqs, ot, batch_size)
        out["oracle_design_scores"] = oracle.predict_objective(designs, ot, batch_size)
    return out


def design_metrics(sm, objective: Objective, result: dict, oracle=None) -> dict:
    seed_v, design_v = result["seed_scores"], result["design_scores"]
    n_edits = np.array([len(c.edits) for c in result["best"]])
    fit_gain = np.asarray(objective.fitness(design_v)) - np.asarray(objective.fitness(seed_v))
    m: dict = {
        "n": len(seed_v),
        "objective": str(objective),
        "mean_seed_score": float(np.mean(seed_v)),
        "mean_design_score": float(np.mean(design_v)),
        "mean_gain": float(np.mean(design_v - seed_v)),
        "improved_fraction": float(np.mean(fit_gain > 1e-12)),
        "mean_edits": float(n_edits.mean()) if len(n_edits) else 0.0,
        "model_calls": int(result["model_calls"]),
    }
    succ = _success(sm, objective, design_v)
    if succ is not None:
        m["seed_success_fraction"] = float(np.mean(_success(sm, objective, seed_v)))
        m["success_fraction"] = float(np.mean(succ))
        m["edits_per_success"] = float(n_edits[succ].mean()) if succ.any() else math.nan
    if result["oracle_design_scores"] is not None:
        o_seed, o_design = result["oracle_seed_scores"], result["oracle_design_scores"]
        m["oracle_mean_seed_score"] = float(np.mean(o_seed))
        m["oracle_mean_design_score"] = float(np.mean(o_design))
        osucc = _success(oracle, objective, o_design)
        if osucc is not None:
            m["oracle_seed_success_fraction"] = float(np.mean(_success(oracle, objective, o_seed)))
            m["oracle_success_fraction"] = float(np.mean(osucc))
            m["oracle_edits_per_success"] = float(n_edits[osucc].mean()) if osucc.any() else math.nan
        if len(design_v) > 2 and np.std(design_v) > 0 and np.std(o_design) > 0:
            m["predictor_oracle_pearson_designs"] = float(np.corrcoef(design_v, o_design)[0, 1])
    return m


def _f(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.6g}"


def write_design_files(path: Path, result: dict) -> None:
    from genolm.io.atomic import atomic_open

    ids, best = result["ids"], result["best"]
    o_seed, o_design = result["oracle_seed_scores"], result["oracle_design_scores"]
    with atomic_open(path / "designed.fa", "w") as fh:
        for i, sid in enumerate(ids):
            desc = f"n_edits={len(best[i].edits)} seed_score={_f(result['seed_scores'][i])} design_score={_f(result['design_scores'][i])}"
            if o_design is not None:
                desc += f" oracle_seed_score={_f(o_seed[i])} oracle_design_score={_f(o_design[i])}"
            fh.write(f">{sid} {desc}\n{result['designs'][i]}\n")
    with atomic_open(path / "edits.tsv", "w") as fh:
        fh.write("seed_id\tposition\tfrom\tto\tround\n")
        for sid, c in zip(ids, best):
            for p, a, b, r in sorted(c.edits):
                fh.write(f"{sid}\t{p + 1}\t{'ACGTN'[a]}\t{'ACGTN'[b]}\t{r}\n")
    with atomic_open(path / "trajectories.tsv", "w") as fh:
        fh.write("seed_id\tround\tscore\n")
        for sid, t in zip(ids, result["trajectories"]):
            fh.writelines(f"{sid}\t{r}\t{_f(v)}\n" for r, v in enumerate(t))
    with atomic_open(path / "designs.tsv", "w") as fh:
        fh.write("seed_id\tn_edits\tseed_score\tdesign_score\toracle_seed_score\toracle_design_score\n")
        for i, sid in enumerate(ids):
            os_ = _f(o_seed[i]) if o_seed is not None else ""
            od = _f(o_design[i]) if o_design is not None else ""
            fh.write(
                f"{sid}\t{len(best[i].edits)}\t{_f(result['seed_scores'][i])}\t{_f(result['design_scores'][i])}\t{os_}\t{od}\n"
            )


def design_report(path: Path, result: dict, metrics: dict, title: str, subtitle: str) -> None:
    from genolm.core.report import Report, pyplot

    plt = pyplot()
    rep = Report(title, subtitle)
    rep.metrics_table(metrics)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    trajs = result["trajectories"]
    for t in trajs[:50]:
        ax.plot(range(len(t)), t, color="tab:blue", alpha=0.25, lw=0.8)
    longest = max((len(t) for t in trajs), default=0)
    if longest:
        mean = [np.mean([t[min(r, len(t) - 1)] for t in trajs]) for r in range(longest)]
        ax.plot(range(longest), mean, color="black", lw=2, label="mean (finished seeds carried forward)")
        ax.legend()
    ax.set_xlabel("round / step")
    ax.set_ylabel("predictor score")
    ax.grid(alpha=0.3)
    rep.figure(fig, "Score trajectories (up to 50 seeds)")
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    both = np.concatenate([result["seed_scores"], result["design_scores"]])
    bins = np.linspace(float(both.min()), float(both.max()) + 1e-9, 30)
    ax.hist(result["seed_scores"], bins=bins, alpha=0.6, label="seeds")
    ax.hist(result["design_scores"], bins=bins, alpha=0.6, label="designs")
    ax.set_xlabel("predictor score")
    ax.set_ylabel("sequences")
    ax.legend()
    rep.figure(fig, "Predictor scores: seeds vs designs")
    if result["oracle_design_scores"] is not None:
        fig, ax = plt.subplots(figsize=(4.8, 4.4))
        ax.scatter(result["seed_scores"], result["oracle_seed_scores"], s=8, alpha=0.6, label="seeds")
        ax.scatter(result["design_scores"], result["oracle_design_scores"], s=8, alpha=0.6, label="designs")
        ax.set_xlabel("predictor score")
        ax.set_ylabel("oracle score")
        ax.legend()
        ax.grid(alpha=0.3)
        rep.figure(fig, "Predictor vs oracle: designs far right but low are over-optimised for the predictor")
    rows = [
        (sid, len(c.edits), _f(a), _f(b))
        for sid, c, a, b in list(zip(result["ids"], result["best"], result["seed_scores"], result["design_scores"]))[
            :30
        ]
    ]
    rep.table(["seed", "edits", "seed score", "design score"], rows, title="First designs")
    rep.write(path / "report.html")


def design(
    sm,
    ids: list[str],
    seqs: list[str],
    objective: Objective,
    target: int,
    method: str,
    cons: Constraints,
    out: str,
    oracle=None,
    oracle_target=None,
    rounds: int | None = None,
    population: int = 2,
    gan_dir: str | None = None,
    seed: int = 0,
    batch_size: int = 256,
    overwrite: bool = False,
    config: dict | None = None,
    inputs: list[str] | None = None,
) -> dict:
    """Design, then write the run directory ``out``; returns metrics.json's content."""
    from genolm.core.runs import RunDir, check_out_dir

    check_out_dir(out, "design", overwrite)
    result = run_design(
        sm,
        ids,
        seqs,
        objective,
        target,
        method,
        cons,
        oracle,
        oracle_target,
        rounds,
        population,
        gan_dir,
        seed,
        batch_size,
    )
    metrics = {"method": method, **design_metrics(sm, objective, result, oracle)}
    with RunDir(out, command="design", config=config or {}, inputs=inputs or [], seed=seed, overwrite=overwrite) as run:
        write_design_files(run.path, result)
        run.write_metrics(metrics)
        sub = f"{method} design of {len(ids)} seeds against {sm.description}, objective {objective} of {sm.outputs[target]!r}"
        if oracle is not None:
            sub += f"; oracle {oracle.description}"
        design_report(run.path, result, metrics, "genolm design", sub)
    return metrics


__all__ = ["Candidate", "METHODS", "design", "design_metrics", "run_design", "write_design_files"]
