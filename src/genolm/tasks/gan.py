"""`genolm gan ...`: a WGAN-GP for DNA (optionally Feedback-GAN, steered by a predictor): train, sample."""

from __future__ import annotations

from typing import Optional

from genolm.core.registry import Opt, echo, group, task

from genolm.io.errors import UsageError

group("gan", help="A GAN for DNA sequences (WGAN-GP, Feedback-GAN): train, sample.")


def _sequence_model(path: str, device: str | None):
    import genolm.api

    return genolm.api.load(path).sequence_model(device=device)


@task("gan.train")
def train(
    input: str = Opt(..., "--input", metavar="FASTA|CSV", help="Training sequences, all of one length."),
    out: str = Opt(..., "--out", metavar="DIR", help="Run directory to write."),
    valid: Optional[str] = Opt(
        None,
        "--valid",
        metavar="FASTA|CSV",
        help="Held-out real sequences for the metrics; default: a seeded 10% of --input (at most 1000).",
    ),
    length: Optional[int] = Opt(
        None, "--length", metavar="N", help="Centre-crop longer sequences to N nt and skip shorter ones."
    ),
    time_budget: Optional[str] = Opt(
        None, "--time-budget", metavar="DURATION", help="Stop after this long, e.g. 8m (default 8m without budget)."
    ),
    max_steps: Optional[int] = Opt(None, "--max-steps", metavar="N", help="Stop after N generator steps."),
    batch_size: int = Opt(64, "--batch-size", metavar="N", help="Sequences per critic/generator step."),
    latent: int = Opt(128, "--latent", metavar="N", help="Latent vector size."),
    channels: int = Opt(32, "--channels", metavar="N", help="Conv channels of generator and critic."),
    blocks: int = Opt(1, "--blocks", metavar="N", help="Residual blocks of generator and critic."),
    n_critic: int = Opt(5, "--n-critic", metavar="N", help="Critic steps per generator step."),
    lr: float = Opt(1e-3, "--lr", metavar="LR", help="Adam learning rate (betas 0.5, 0.9)."),
    schedule: str = Opt(
        "linear", "--schedule", metavar="linear|constant|cosine", help="Learning rate over the budget (linear: to 5%)."
    ),
    gp_lambda: float = Opt(10.0, "--gp-lambda", metavar="X", help="Gradient-penalty weight."),
    feedback: Optional[str] = Opt(
        None, "--feedback", metavar="MODEL_DIR", help="Feedback-GAN: a predictor whose high scorers are fed back."
    ),
    feedback_class: Optional[str] = Opt(
        None, "--feedback-class", metavar="CLASS", help="Predictor output to steer toward (default: last class)."
    ),
    feedback_every: int = Opt(10, "--feedback-every", metavar="N", help="Generator steps between feedback rounds."),
    feedback_threshold: float = Opt(
        0.9, "--feedback-threshold", metavar="P", help="Predictor score a generated sequence needs to be fed back."
    ),
    feedback_max_fraction: float = Opt(
        0.25,
        "--feedback-max-fraction",
        metavar="F",
        help="Most of the real pool feedback may replace; then fed-back sequences replace the oldest fed-back ones.",
    ),
    oracle: Optional[str] = Opt(
        None, "--oracle", metavar="MODEL_DIR", help="An independent model scoring the samples in the report."
    ),
    oracle_class: Optional[str] = Opt(
        None, "--oracle-class", metavar="CLASS", help="Oracle output reported (default: last class)."
    ),
    n_eval: int = Opt(1000, "--n-eval", metavar="N", help="Samples generated for metrics.json/report."),
    seed: int = Opt(0, "--seed", metavar="N", help="Random seed."),
    device: str = Opt("auto", "--device", metavar="auto|cpu|cuda", help="Where to train."),
    resume: bool = Opt(False, "--resume", help="Continue a killed run at --out from its checkpoint."),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind at --out."),
    checkpoint_every: str = Opt(
        "500", "--checkpoint-every", metavar="STEPS|DURATION", help="Checkpoint every N core steps or DURATION."
    ),
):
    """Train a WGAN-GP on one-hot DNA (through the core training loop); report 6-mer JS, GC, memorisation."""
    from genolm.core.runs import parse_duration
    from genolm.design.gan import GanConfig, run_gan_train

    if feedback_class is not None and feedback is None:
        raise UsageError("--feedback-class needs --feedback MODEL_DIR")
    if oracle_class is not None and oracle is None:
        raise UsageError("--oracle-class needs --oracle MODEL_DIR")
    for name, v in (("--batch-size", batch_size), ("--latent", latent), ("--channels", channels),
                    ("--blocks", blocks), ("--n-critic", n_critic), ("--n-eval", n_eval)):  # fmt: skip
        if v < 1:
            raise UsageError(f"{name} must be at least 1, got {v}")
    if not 0.0 < feedback_max_fraction <= 1.0:
        raise UsageError(f"--feedback-max-fraction must be in (0, 1], got {feedback_max_fraction}")
    if schedule not in ("constant", "linear", "cosine"):
        raise UsageError(f"--schedule must be constant, linear or cosine, got {schedule!r}")
    budget = parse_duration(time_budget)
    if budget is None and max_steps is None:
        budget = 480.0
    dev = None if device == "auto" else device
    cfg = GanConfig(
        latent=latent,
        channels=channels,
        blocks=blocks,
        n_critic=n_critic,
        gp_lambda=gp_lambda,
        lr=lr,
        schedule=schedule,
        batch_size=batch_size,
        max_steps=max_steps,
        time_budget=budget,
        checkpoint_every=checkpoint_every,
        seed=seed,
        feedback_every=feedback_every,
        feedback_threshold=feedback_threshold,
        feedback_max_fraction=feedback_max_fraction,
    )
    fb = _sequence_model(feedback, dev) if feedback else None
    orc = _sequence_model(oracle, dev) if oracle else None
    m = run_gan_train(
        input,
        out,
        cfg,
        valid=valid,
        length=length,
        n_eval=n_eval,
        feedback=fb,
        feedback_class=feedback_class,
        oracle=orc,
        oracle_class=oracle_class,
        device=dev,
        resume=resume,
        overwrite=overwrite,
        models={"feedback": feedback, "oracle": oracle},
    )
    line = (
        f"GAN trained {m['generator_steps']} generator steps in {m['seconds']:.0f}s; 6-mer JS to held-out "
        f"{m['js_6mer_generated']:.4f} (dinucleotide-shuffled {m['js_6mer_shuffled_baseline']:.4f}); "
        f"memorised {100 * (m['memorised_fraction'] or 0):.1f}%"
    )
    if "feedback_fed_total" in m:
        line += f"; {m['feedback_fed_total']} fed back ({100 * m['feedback_pool_fraction']:.0f}% of the pool)"
    if m.get("oracle_positive_fraction_generated") is not None:
        line += f"; oracle positive {m['oracle_positive_fraction_generated']:.2f}"
    echo(line + f"; model in {out}/model")


@task("gan.sample")
def sample(
    model: str = Opt(..., "--model", metavar="DIR", help="A `genolm gan train` run or its model/ folder."),
    n: int = Opt(..., "--n", metavar="N", help="Number of sequences to generate."),
    out: str = Opt(..., "--out", metavar="FASTA", help="FASTA file to write."),
    seed: int = Opt(0, "--seed", metavar="N", help="Random seed (same seed, same sequences)."),
    batch_size: int = Opt(512, "--batch-size", metavar="N", help="Sequences per generator call."),
    temperature: Optional[float] = Opt(
        None, "--temperature", metavar="T", help="Draw bases from softmax(logits/T) instead of the argmax."
    ),
    prefix: str = Opt("gan", "--prefix", metavar="NAME", help="FASTA names: NAME_0, NAME_1, ..."),
    device: str = Opt("cpu", "--device", metavar="auto|cpu|cuda", help="Where to run the generator."),
):
    """Generate sequences from a trained GAN (seeded FASTA)."""
    from genolm.design.gan_models import load_gan
    from genolm.io.atomic import atomic_write_text

    if n < 1:
        raise UsageError(f"--n must be at least 1, got {n}")
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    gen = load_gan(model, device=None if device == "auto" else device)
    seqs = gen.sample(n, seed=seed, batch_size=batch_size, temperature=temperature)
    atomic_write_text(out, "".join(f">{prefix}_{i}\n{s}\n" for i, s in enumerate(seqs)))
    echo(f"wrote {len(seqs)} sequences of {gen.length} nt to {out}")
