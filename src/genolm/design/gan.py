"""WGAN-GP for DNA (Gupta & Zou 2019, Feedback-GAN), trained through :func:`genolm.core.train.train`.

The generator and critic (:mod:`genolm.design.gan_models`) live in one :class:`WGAN` module. The core loop
calls ``step_fn`` once per optimizer step; an internal counter makes ``n_critic`` of every ``n_critic + 1``
steps critic steps (Wasserstein loss + gradient penalty on random interpolates of real and generated
sequences, ``torch.autograd.grad(create_graph=True)``) and the next one a generator step. Only the network
being updated gets gradients: generated sequences are made under ``no_grad`` for a critic step, and the
critic's parameters have ``requires_grad`` off during a generator step (Adam skips parameters without a
gradient). Everything a resumed run needs is in the module's state: the step counter, the critic's pool of
real sequences (which feedback rewrites) and running sums of the losses, so a checkpoint restores it all.

Feedback (``feedback=SequenceModel``): every ``feedback_every`` generator steps a batch is generated and
scored by the predictor; sequences with ``objective >= feedback_threshold`` go into the critic's real pool, so
the generator is pulled toward what the predictor calls the target class. At most ``feedback_max_fraction`` of
the pool is ever replaced: the first fed-back sequences replace that many (random) real ones, later ones
replace the oldest fed-back ones, so the rest of the pool stays real and anchors the critic to the data.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from genolm.design.gan_models import Critic, Generator, codes_to_one_hot, load_gan, save_gan
from genolm.io.errors import InputError
from genolm.sequence import decode_batch

__all__ = ["GanConfig", "Generator", "WGAN", "load_gan", "run_gan_train", "train_wgan"]

log = logging.getLogger("genolm.gan")

#: running sums kept in the module (index -> meaning); reset at every evaluation
_STATS = (
    "critic_steps",
    "critic_loss",
    "wasserstein",
    "gp",
    "gen_steps",
    "gen_loss",
    "fb_rounds",
    "fb_fed",
    "fb_score",
)


@dataclass
class GanConfig:
    latent: int = 128
    channels: int = 32
    blocks: int = 1
    kernel: int = 5
    n_critic: int = 5
    gp_lambda: float = 10.0
    lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.9
    batch_size: int = 64
    schedule: str = "linear"  # learning rate over the budget: constant | linear (decay to 5%) | cosine
    max_steps: int | None = None  # generator steps
    time_budget: float | None = None  # seconds
    log_every: int = 20  # generator steps between history records
    checkpoint_every: int | str = 500  # core steps or a duration ("10m")
    seed: int = 0
    feedback_every: int = 10  # generator steps between feedback rounds
    feedback_threshold: float = 0.9
    feedback_max_fraction: float = 0.25  # share of the real pool that fed-back sequences may replace
    feedback_n: int | None = None  # generated sequences scored per round (default 2 x batch_size)
    feedback_target: int | None = None


class WGAN(nn.Module):
    """Generator + critic + the critic's pool of real sequences (integer codes), trained by :func:`gan_step`."""

    def __init__(self, codes: np.ndarray, cfg: GanConfig, feedback=None):
        super().__init__()
        n, length = codes.shape
        self.cfg = cfg
        self.generator = Generator(length, cfg.latent, cfg.channels, cfg.blocks, cfg.kernel)
        self.critic = Critic(length, cfg.channels, cfg.blocks, cfg.kernel)
        order = np.random.default_rng(cfg.seed).permutation(n)  # "oldest" = a random original, not file order
        self.register_buffer("pool", torch.from_numpy(np.ascontiguousarray(codes[order])).to(torch.uint8))
        self.register_buffer("pool_ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("counter", torch.zeros((), dtype=torch.long))
        self.register_buffer("gen_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("fed_total", torch.zeros((), dtype=torch.long))
        self.register_buffer("stats", torch.zeros(len(_STATS), dtype=torch.float64))
        self.feedback = feedback  # a SequenceModel (not a submodule: never trained, never saved)

    @property
    def length(self) -> int:
        return self.generator.length

    def _add(self, **kv) -> None:
        for k, v in kv.items():
            self.stats[_STATS.index(k)] += float(v)

    def take_stats(self) -> dict:
        """Means since the last call (what one history record shows), then reset."""
        s = dict(zip(_STATS, self.stats.tolist()))
        self.stats.zero_()
        nc, ng, nr = max(s["critic_steps"], 1), max(s["gen_steps"], 1), s["fb_rounds"]
        out = {
            "critic_loss": s["critic_loss"] / nc,
            "wasserstein": s["wasserstein"] / nc,
            "gradient_penalty": s["gp"] / nc,
            "generator_loss": s["gen_loss"] / ng,
            "gen_steps": int(self.gen_steps),
            "steps": int(self.counter),
        }
        if self.feedback is not None:
            out.update(
                feedback_rounds=int(nr),
                feedback_fed=int(s["fb_fed"]),
                feedback_mean_score=s["fb_score"] / max(nr, 1),
                feedback_fed_total=int(self.fed_total),
                feedback_pool_fraction=self.feedback_pool_fraction,
            )
        return out

    @property
    def feedback_slots(self) -> int:
        """Pool positions feedback may write (``feedback_max_fraction`` of the pool, at least 1)."""
        n_pool = self.pool.shape[0]
        return max(1, min(n_pool, int(math.floor(self.cfg.feedback_max_fraction * n_pool))))

    @property
    def feedback_pool_fraction(self) -> float:
        """Share of the critic's pool that is generated (fed-back) sequences now."""
        return min(int(self.fed_total), self.feedback_slots) / self.pool.shape[0]

    @torch.no_grad()
    def feedback_round(self) -> None:
        """Generate, score with the predictor, put the sequences scoring >= threshold into the pool's first
        ``feedback_slots`` positions (a ring: once full, the oldest fed-back sequences go first)."""
        cfg = self.cfg
        n = cfg.feedback_n or 2 * cfg.batch_size
        z = torch.randn(n, cfg.latent).to(self.pool.device)
        idx = self.generator.logits(z).argmax(1)  # (n, L) codes
        seqs = decode_batch(idx.cpu().numpy())
        scores = np.asarray(self.feedback.predict_objective(seqs, cfg.feedback_target), dtype=np.float64)
        keep = np.flatnonzero(scores >= cfg.feedback_threshold)
        slots = self.feedback_slots
        keep = keep[:slots]
        if len(keep):
            pos = (int(self.pool_ptr) + torch.arange(len(keep))) % slots
            self.pool[pos.to(self.pool.device)] = idx[torch.from_numpy(keep).to(idx.device)].to(torch.uint8)
            self.pool_ptr.fill_((int(self.pool_ptr) + len(keep)) % slots)
            self.fed_total += len(keep)
        self._add(fb_rounds=1, fb_fed=len(keep), fb_score=float(scores.mean()) if len(scores) else 0.0)


def _set_grad(module: nn.Module, on: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(on)


def gan_step(model: nn.Module, batch: dict) -> torch.Tensor:
    """One core-loop step: a critic step (``n_critic`` of every ``n_critic + 1``) or a generator step."""
    m: WGAN = getattr(model, "module", model)
    cfg = m.cfg
    i = int(m.counter)
    m.counter += 1
    real = codes_to_one_hot(m.pool[batch["idx"]])
    b, dev = real.shape[0], real.device
    z = torch.randn(b, cfg.latent).to(dev)  # CPU RNG: restored exactly on resume
    if i % (cfg.n_critic + 1) < cfg.n_critic:
        _set_grad(m.critic, True)
        with torch.no_grad():
            fake = m.generator(z)
        d_real, d_fake = m.critic(real).mean(), m.critic(fake).mean()
        eps = torch.rand(b, 1, 1).to(dev)
        mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(m.critic(mix).sum(), mix, create_graph=True)
        gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss = d_fake - d_real + cfg.gp_lambda * gp
        m._add(critic_steps=1, critic_loss=loss.detach(), wasserstein=(d_real - d_fake).detach(), gp=gp.detach())
        return loss
    if m.feedback is not None and int(m.gen_steps) > 0 and int(m.gen_steps) % cfg.feedback_every == 0:
        m.feedback_round()
    _set_grad(m.critic, False)
    loss = -m.critic(m.generator(z)).mean()
    m.gen_steps += 1
    m._add(gen_steps=1, gen_loss=loss.detach())
    return loss


class _PoolIndex:
    """Endless loader of random pool indices (torch's global RNG, which the core restores on resume)."""

    def __init__(self, n: int, batch_size: int):
        self.n, self.bs = n, min(batch_size, n)

    def __iter__(self):
        while True:
            yield {"idx": torch.randint(0, self.n, (self.bs,))}


def check_lengths(ids: list[str], seqs: list[str], path: str, length: int | None = None) -> list[str]:
    """One length for all sequences: refuse mixed lengths, or with ``length`` centre-crop longer sequences and
    skip shorter ones."""
    if not seqs:
        raise InputError("no sequences", path)
    if length is None:
        first = len(seqs[0])
        for i, s in enumerate(seqs):
            if len(s) != first:
                raise InputError(
                    f"sequences have different lengths ({ids[0]!r} is {first} nt, {ids[i]!r} is {len(s)} nt); "
                    "the GAN generates one length: pass --length N to centre-crop longer and skip shorter ones",
                    path,
                )
        if first < 8:
            raise InputError(f"sequences of {first} nt are too short for the GAN (at least 8)", path)
        return seqs
    if length < 8:
        raise InputError(f"--length {length} is too short (at least 8)")
    out = []
    for s in seqs:
        if len(s) >= length:
            start = (len(s) - length) // 2
            out.append(s[start : start + length])
    if not out:
        raise InputError(f"no sequence is at least --length {length} nt long", path)
    if len(out) < len(seqs):
        log.warning("skipped %d sequences shorter than --length %d", len(seqs) - len(out), length)
    return out


def train_wgan(
    seqs: list[str],
    cfg: GanConfig,
    out_dir: str | Path | None = None,
    resume: bool = False,
    feedback=None,
    device: str | None = None,
) -> tuple[WGAN, dict]:
    """Train a WGAN-GP on equal-length sequences through the core loop; returns (model, training summary).

    ``cfg.max_steps`` counts generator steps (the core counts ``n_critic + 1`` optimizer steps per generator
    step). ``out_dir`` holds the core's resumable checkpoint.
    """
    from accelerate import Accelerator

    from genolm.core.runs import set_seed
    from genolm.core.seqmodel import pick_device
    from genolm.core.train import TrainConfig, train
    from genolm.sequence import encode_batch

    if not (cfg.max_steps or cfg.time_budget):
        raise InputError("give the GAN a budget: max steps or a time budget")
    if feedback is not None:
        if feedback.length is not None and feedback.length != len(seqs[0]):
            raise InputError(f"the feedback model needs {feedback.length}-nt input; the GAN makes {len(seqs[0])} nt")
        if cfg.feedback_every < 1:
            raise InputError("--feedback-every must be at least 1")
        if not 0.0 < cfg.feedback_max_fraction <= 1.0:
            raise InputError(f"--feedback-max-fraction must be in (0, 1], got {cfg.feedback_max_fraction}")
    set_seed(cfg.seed)
    model = WGAN(encode_batch(seqs), cfg, feedback=feedback)
    cycle = cfg.n_critic + 1
    opt = torch.optim.Adam(
        [{"params": model.generator.parameters()}, {"params": model.critic.parameters()}],
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
    )
    tcfg = TrainConfig(
        lr=cfg.lr,
        weight_decay=0.0,
        batch_size=cfg.batch_size,
        max_steps=cfg.max_steps * cycle if cfg.max_steps else None,
        time_budget=cfg.time_budget,
        warmup=0.0,
        schedule=cfg.schedule,
        eval_every=cfg.log_every * cycle,
        patience=None,
        grad_clip=0.0,
        seed=cfg.seed,
        checkpoint_every=cfg.checkpoint_every,
        maximize=True,
        metric="steps",  # strictly increasing: the weights kept are the last ones (no model selection)
    )
    dev = pick_device(device)
    acc = Accelerator(cpu=dev.type == "cpu", mixed_precision="no")  # fp32: the gradient penalty needs it

    from genolm.design.evaluate import js_divergence, kmer_spectrum

    rng = np.random.default_rng(cfg.seed)
    ref4 = kmer_spectrum([seqs[i] for i in rng.choice(len(seqs), min(len(seqs), 4000), replace=False)], 4)

    def evaluate(mod) -> dict:
        """The running loss means, and the 4-mer JS divergence of 512 samples (own RNG) to the training set."""
        out = mod.take_stats()
        out["js_4mer_train"] = js_divergence(kmer_spectrum(mod.generator.sample(512, seed=cfg.seed + 99), 4), ref4)
        return out

    res = train(
        model,
        _PoolIndex(len(seqs), cfg.batch_size),
        tcfg,
        evaluate=evaluate,
        out_dir=out_dir,
        resume=resume,
        accelerator=acc,
        step_fn=gan_step,
        optimizer=opt,
    )
    model = acc.unwrap_model(model)
    _set_grad(model.critic, True)
    history = [
        {k.removeprefix("eval_"): v for k, v in h.items() if k.startswith("eval_") or k in ("elapsed",)}
        for h in res.history
        if "eval_steps" in h
    ]
    summary = {
        "core_steps": res.steps,
        "generator_steps": int(model.gen_steps),
        "seconds": res.seconds,
        "stopped_because": res.stopped_because,
        "history": history,
    }
    if feedback is not None:
        summary["feedback_fed_total"] = int(model.fed_total)
        summary["feedback_pool_fraction"] = model.feedback_pool_fraction
    return model.to("cpu"), summary


def save_model(model: WGAN, path: str | Path, cfg: GanConfig, summary: dict, extra: dict | None = None) -> Path:
    info = {
        "config": {k: v for k, v in asdict(cfg).items()},
        "training": {k: v for k, v in summary.items() if k != "history"},
        **(extra or {}),
    }
    return save_gan(path, model.generator, model.critic, info)


def curves_figure(history: list[dict]):
    """Critic loss, Wasserstein estimate, gradient penalty (and feedback) per logged generator step."""
    from genolm.core.report import pyplot

    plt = pyplot()
    fb = any("feedback_fed" in h for h in history)
    n = 4 if fb else 3
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.0))
    x = [h["gen_steps"] for h in history]
    for ax, key, title in zip(
        axes,
        ("critic_loss", "wasserstein", "gradient_penalty"),
        ("critic loss", "Wasserstein estimate", "gradient penalty"),
    ):
        if key == "critic_loss" and any("js_4mer_train" in h for h in history):
            ax2 = ax.twinx()
            ax2.plot(x, [h.get("js_4mer_train", math.nan) for h in history], color="C2", lw=1.0)
            ax2.set_ylabel("4-mer JS of 512 samples to training", color="C2", fontsize=8)
        ax.plot(x, [h.get(key, math.nan) for h in history], lw=1.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("generator step")
    if fb:
        ax = axes[3]
        ax.bar(x, [h.get("feedback_fed", 0) for h in history], width=max(1, (x[-1] - x[0]) / 60 if x else 1))
        ax.set_xlabel("generator step")
        ax.set_ylabel("sequences fed back")
        ax2 = ax.twinx()
        ax2.plot(x, [h.get("feedback_mean_score", math.nan) for h in history], color="C3", lw=1.2)
        ax2.set_ylabel("mean predictor score", color="C3")
        ax.set_title("feedback", fontsize=10)
    fig.tight_layout()
    return fig


# ---- the run (what `genolm gan train` does) ------------------------------------------------------


def read_training_sequences(path: str, length: int | None = None) -> list[str]:
    from genolm.io.tables import read_sequences

    ids, seqs = read_sequences(path)
    return check_lengths(ids, seqs, str(path), length)


def run_gan_train(
    input: str,
    out: str,
    cfg: GanConfig,
    valid: str | None = None,
    length: int | None = None,
    n_eval: int = 1000,
    feedback=None,
    feedback_class: str | None = None,
    oracle=None,
    oracle_class: str | None = None,
    device: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    models: dict | None = None,
) -> dict:
    """Train a GAN on ``input`` and write a run directory ``out``: ``model/`` (the GAN folder), ``samples.fa``
    (``n_eval`` samples, seed ``cfg.seed``), ``metrics.json`` and ``report.html`` (generator metrics against the
    held-out sequences: ``valid``, else 10% of ``input`` up to 1000 held out, seeded; training curves).
    ``feedback`` / ``oracle`` are SequenceModels resolved by the caller."""
    from genolm.core.report import Report
    from genolm.core.runs import RunDir
    from genolm.design.evaluate import evaluate, generator_report
    from genolm.io.atomic import atomic_write_text

    seqs = read_training_sequences(input, length)
    L = len(seqs[0])
    if valid:
        heldout = read_training_sequences(valid, length or L)
        if len(heldout[0]) != L:
            raise InputError(f"--valid sequences are {len(heldout[0])} nt, the training ones {L} nt", valid)
        train_seqs = seqs
    else:
        if len(seqs) < 20:
            raise InputError(f"only {len(seqs)} sequences: pass --valid or give at least 20", input)
        n_hold = min(1000, max(2, len(seqs) // 10))
        order = np.random.default_rng(cfg.seed).permutation(len(seqs))
        heldout = [seqs[i] for i in order[:n_hold]]
        train_seqs = [seqs[i] for i in sorted(order[n_hold:])]
    if feedback is not None:
        cfg.feedback_target = feedback.target_index(feedback_class)
        if feedback.task == "classification" and not 0.0 <= cfg.feedback_threshold <= 1.0:
            raise InputError(f"--feedback-threshold {cfg.feedback_threshold} is not a probability in [0, 1]")
    if oracle is not None:
        if oracle.length is not None and oracle.length != L:
            raise InputError(f"the oracle needs {oracle.length}-nt input; the GAN makes {L} nt")
        oracle.target_index(oracle_class)  # fails now, not after training
    config = {
        "input": str(input),
        "valid": valid,
        "length": L,
        "n_train": len(train_seqs),
        "n_heldout": len(heldout),
        "n_eval": n_eval,
        **asdict(cfg),
        **(models or {}),
    }
    with RunDir(out, command="gan train", config=config, inputs=[input, valid], seed=cfg.seed,
                overwrite=overwrite, resume=resume) as run:  # fmt: skip
        model, summary = train_wgan(train_seqs, cfg, out_dir=run.path, resume=resume, feedback=feedback,
                                    device=device)  # fmt: skip
        save_model(model, run.model_dir, cfg, summary, extra={"models": models or {}, "n_train": len(train_seqs)})
        gen = model.generator.eval()
        generated = gen.sample(n_eval, seed=cfg.seed)
        atomic_write_text(run.path / "samples.fa", "".join(f">gan_{i}\n{s}\n" for i, s in enumerate(generated)))
        ev = evaluate(generated, train_seqs, heldout, oracle, oracle_class, seed=cfg.seed)
        metrics = {**ev.metrics, **{k: v for k, v in summary.items() if k != "history"}}
        metrics["steps"] = summary["generator_steps"]
        hist = summary["history"]
        if hist:
            metrics["wasserstein_first"] = hist[0].get("wasserstein")
            metrics["wasserstein_last"] = hist[-1].get("wasserstein")
        run.write_metrics(metrics)
        run.write_json("history.json", hist)
        rep = Report("DNA GAN (WGAN-GP)", subtitle=f"{len(train_seqs)} training sequences of {L} nt from {input}")
        rep.text(
            f"{summary['generator_steps']} generator steps ({cfg.n_critic} critic steps each) in "
            f"{summary['seconds']:.0f}s; stopped: {summary['stopped_because']}. Metrics use {n_eval} samples "
            f"(seed {cfg.seed}) against {len(heldout)} held-out sequences."
        )
        if feedback is not None:
            rep.text(
                f"Feedback-GAN: {summary.get('feedback_fed_total', 0)} generated sequences scoring >= "
                f"{cfg.feedback_threshold} for {feedback.outputs[cfg.feedback_target]!r} by {feedback.description} "
                f"went into the critic's pool (every {cfg.feedback_every} generator steps); at the end "
                f"{100 * summary.get('feedback_pool_fraction', 0):.1f}% of the pool was fed back (cap "
                f"{100 * cfg.feedback_max_fraction:.0f}%)."
            )
        generator_report(
            rep, ev.metrics, generated, heldout, ev.oracle_scores or None, shuffled=ev.shuffled,
            nearest_identity=ev.nearest_identity, train=train_seqs, seed=cfg.seed,
        )  # fmt: skip
        if hist:
            rep.heading("Training")
            rep.figure(curves_figure(hist), "critic loss, Wasserstein distance estimate and gradient penalty")
        rep.write(run.path / "report.html")
    return metrics
