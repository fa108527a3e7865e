"""Top-level `genolm explain`: per-base attributions (saliency, IG, DeepLIFT/SHAP, ISM) for any sequence model."""

from __future__ import annotations

from typing import Optional

from genolm.core.registry import Opt, echo, task


@task("explain")
def explain(
    model: str = Opt(
        ...,
        "--model",
        metavar="DIR",
        help="A genolm sequence model (DNA classifier/regressor run dir, CRISPR on-target model) or local HF folder.",
    ),
    input: str = Opt(
        ..., "--input", metavar="FASTA|CSV", help="Sequences: FASTA, or CSV/TSV with a 'sequence' column."
    ),
    out: str = Opt(..., "--out", metavar="DIR", help="Run directory: attributions.npz, report.html, metrics.json..."),
    target: Optional[str] = Opt(
        None, "--target", metavar="CLASS", help="Output to explain (class label; default: the positive/last one)."
    ),
    method: str = Opt(
        "ig", "--method", metavar="METHOD", help="saliency, ig, deeplift_shap or ism (ism needs no gradients)."
    ),
    baseline: str = Opt(
        "shuffle", "--baseline", metavar="KIND", help="ig/deeplift_shap reference: shuffle (dinucleotide) or zeros."
    ),
    n_baselines: int = Opt(8, "--n-baselines", metavar="N", help="Dinucleotide shuffles per sequence."),
    steps: int = Opt(32, "--steps", metavar="N", help="Integrated-gradients steps."),
    top: int = Opt(5, "--top", metavar="N", help="Logos of the top N sequences in report.html."),
    batch_size: int = Opt(64, "--batch-size", metavar="N", help="Rows per forward pass."),
    device: str = Opt("auto", "--device", metavar="DEVICE", help="auto, cpu or cuda."),
    seed: int = Opt(0, "--seed", metavar="N", help="Seed for the shuffled baselines."),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind in --out."),
):
    """Per-base attribution scores and logos for every input sequence."""
    from genolm.api import load
    from genolm.core.seqmodel import pick_device
    from genolm.interpret.explain import explain as run_explain

    pick_device(device)  # validates --device (UsageError for an unknown name / no CUDA)
    sm = load(model).sequence_model(None if device == "auto" else device)
    m = run_explain(
        sm,
        input,
        out,
        model_path=model,
        target=target,
        method=method,
        baseline=baseline,
        n_baselines=n_baselines,
        steps=steps,
        top=top,
        batch_size=batch_size,
        seed=seed,
        overwrite=overwrite,
    )
    used = m["method_used"] + ("" if m["method_used"] == method else f" (fell back from {method})")
    echo(
        f"{m['n']} sequences explained with {used} for {m['explained']} in {m['seconds']:.1f}s "
        f"({m['sequences_per_second']:.1f} seq/s) -> {out}/attributions.npz"
        + (", attributions.bedgraph" if m.get("bedgraph") else "")
    )
