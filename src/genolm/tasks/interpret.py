"""Top-level `genolm explain`: per-base attributions (saliency, IG, DeepLIFT/SHAP, ISM) for any sequence model."""

from __future__ import annotations

from typing import Optional

from genolm.core.registry import Opt, echo, task
from genolm.tasks.options import (
    ATTR_BASELINE,
    ATTR_N_BASELINES,
    ATTR_STEPS,
    ATTR_TARGET,
    BATCH_SIZE,
    DEVICE,
    OVERWRITE,
    SHUFFLE_SEED,
    sequence_model,
)


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
    target: Optional[str] = ATTR_TARGET,
    method: str = Opt(
        "ig", "--method", metavar="METHOD", help="saliency, ig, deeplift_shap or ism (ism needs no gradients)."
    ),
    baseline: str = ATTR_BASELINE,
    n_baselines: int = ATTR_N_BASELINES,
    steps: int = ATTR_STEPS,
    top: int = Opt(5, "--top", metavar="N", help="Logos of the top N sequences in report.html."),
    batch_size: int = BATCH_SIZE,
    device: str = DEVICE,
    seed: int = SHUFFLE_SEED,
    overwrite: bool = OVERWRITE,
):
    """Per-base attribution scores and logos for every input sequence."""
    from genolm.interpret.explain import explain as run_explain

    sm = sequence_model(model, device)
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
