"""Top-level `genolm generate`: sample DNA from a causal (autoregressive) or masked (Gibbs) language model."""

from __future__ import annotations

from typing import Optional

from genolm.core.registry import Opt, echo, task


@task("generate")
def generate(
    model: str = Opt(
        ...,
        "--model",
        metavar="LM_DIR",
        help="A DNA language model: a `genolm pretrain` run (clm or mlm) or a local Hugging Face LM folder.",
    ),
    n: int = Opt(..., "--n", metavar="N", help="Number of sequences to generate."),
    length: int = Opt(..., "--length", metavar="BASES", help="Length of every sequence, in bases."),
    out: str = Opt(..., "--out", metavar="FASTA", help="Output FASTA (ids gen_0, gen_1, ...)."),
    prompt: str = Opt("", "--prompt", metavar="SEQ", help="Start every sequence with these bases (A/C/G/T)."),
    temperature: float = Opt(1.0, "--temperature", metavar="T", help="Sampling temperature (< 1 sharper, 0 = greedy)."),
    top_p: float = Opt(
        1.0, "--top-p", metavar="P", help="Nucleus sampling: draw from the most likely tokens holding mass P."
    ),
    top_k: int = Opt(0, "--top-k", metavar="K", help="Draw from the K most likely tokens (0 = all)."),
    sweeps: int = Opt(
        20, "--sweeps", metavar="N", help="Masked LMs: Gibbs sweeps (each re-draws --mask-fraction of positions)."
    ),
    mask_fraction: float = Opt(
        0.15, "--mask-fraction", metavar="F", help="Masked LMs: fraction of positions re-drawn per sweep."
    ),
    batch_size: int = Opt(64, "--batch-size", metavar="N", help="Sequences generated together."),
    seed: int = Opt(0, "--seed", metavar="N", help="Random seed (same seed -> same FASTA)."),
    device: str = Opt("auto", "--device", metavar="auto|cpu|cuda", help="Where the model runs."),
    heldout: Optional[str] = Opt(
        None,
        "--heldout",
        metavar="FASTA|CSV",
        help="Real held-out sequences: also write metrics.json and report.html (6-mer JS divergence, GC...).",
    ),
    train: Optional[str] = Opt(
        None,
        "--train",
        metavar="FASTA|CSV",
        help="The LM's training sequences: memorisation (>= 90% identity) and the shuffled baseline.",
    ),
    oracle: Optional[str] = Opt(
        None,
        "--oracle",
        metavar="MODEL_DIR",
        help="A classifier/regressor the generator never saw: predicted property of generated vs shuffled.",
    ),
    oracle_class: Optional[str] = Opt(
        None, "--oracle-class", metavar="C", help="Oracle output scored (default: the positive/last class)."
    ),
    report: Optional[str] = Opt(
        None, "--report", metavar="DIR", help="Run directory for the evaluation (default: <out stem>_report)."
    ),
    overwrite: bool = Opt(
        False, "--overwrite", help="Replace an existing run of another kind (or other files) in --report."
    ),
):
    """Sample DNA from a language model (causal: autoregressive; masked: Gibbs), seeded and batched."""
    import time
    from pathlib import Path

    from genolm.design.sampling import check_options, fasta_text, load_lm, sample
    from genolm.io.atomic import atomic_write_text
    from genolm.io.errors import UsageError

    prompt = check_options(n, length, prompt, temperature, top_k, top_p, batch_size)
    from genolm.core.seqmodel import pick_device

    pick_device(device)  # validates --device (UsageError for an unknown name / no CUDA)
    if (train or oracle or report) and not heldout:
        raise UsageError("--train, --oracle and --report evaluate the sequences: they need --heldout")
    held = tr = None
    if heldout:  # read the evaluation inputs first: a bad file fails before any sampling
        from genolm.io.tables import read_sequences

        held = read_sequences(heldout)[1]
        tr = read_sequences(train)[1] if train else None
    sm = None
    if oracle:
        from genolm.api import load

        sm = load(oracle).sequence_model(device=None if device == "auto" else device)
        sm.target_index(oracle_class)
    lm = load_lm(model, device=None if device == "auto" else device)
    t0 = time.time()
    seqs = sample(
        lm,
        n,
        length,
        prompt=prompt,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        batch_size=batch_size,
        seed=seed,
        sweeps=sweeps,
        mask_fraction=mask_fraction,
    )
    secs = time.time() - t0
    atomic_write_text(out, fasta_text(seqs))
    how = "autoregressive" if lm.kind == "causal" else f"Gibbs, {sweeps} sweeps"
    line = f"generated {n} sequences of {length} bases ({how}) in {secs:.1f}s -> {out}"
    if held is not None:
        from genolm.core.report import Report
        from genolm.core.runs import RunDir
        from genolm.design.evaluate import evaluate_and_report

        p = Path(out)
        rdir = report or str(p.with_name(p.name.split(".")[0] + "_report"))
        config = {
            "model": model,
            "n": n,
            "length": length,
            "prompt": prompt,
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "sweeps": sweeps if lm.kind == "masked" else None,
            "mask_fraction": mask_fraction if lm.kind == "masked" else None,
            "sampler": how,
            "batch_size": batch_size,
            "seed": seed,
            "heldout": heldout,
            "train": train,
            "oracle": oracle,
            "oracle_class": oracle_class,
        }
        inputs = [x for x in (heldout, train) if x]
        with RunDir(rdir, command="generate", config=config, inputs=inputs, seed=seed, overwrite=overwrite) as run:
            atomic_write_text(run.path / "generated.fa", fasta_text(seqs))
            rep = Report("genolm generate", subtitle=lm.description)
            metrics = evaluate_and_report(rep, seqs, tr, held, oracle=sm, oracle_target=oracle_class, seed=seed)
            metrics["seconds_sampling"] = round(secs, 2)
            run.write_metrics(metrics)
            rep.write(run.path / "report.html")
        js, base = metrics["js_6mer_generated"], metrics["js_6mer_shuffled_baseline"]
        line += f"; 6-mer JS {js:.4f} (shuffled {base:.4f})"
        if metrics.get("memorised_fraction") is not None:
            line += f", memorised {metrics['memorised_fraction']:.1%}"
        if metrics.get("oracle_positive_fraction_generated") is not None:
            line += (
                f", oracle positive {metrics['oracle_positive_fraction_generated']:.1%} "
                f"(shuffled {metrics['oracle_positive_fraction_shuffled']:.1%})"
            )
        line += f"; report in {rdir}"
    echo(line)
