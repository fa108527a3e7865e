"""Top-level `genolm design`: model-guided sequence design (directed evolution, gradient, GAN edit transfer)."""

from __future__ import annotations

from typing import Optional

from genolm.core.registry import Opt, echo, task


@task("design")
def design(
    model: str = Opt(
        ...,
        "--model",
        metavar="DIR",
        help="Predictor to design against (classifier/regressor run dir or model folder).",
    ),
    input: str = Opt(
        ..., "--input", metavar="FASTA|CSV", help="Seed sequences: FASTA, or CSV/TSV with a 'sequence' column."
    ),
    out: str = Opt(..., "--out", metavar="DIR", help="Run directory to write (designed.fa, edits.tsv, ...)."),
    objective: str = Opt(
        "maximize", metavar="GOAL", help="maximize, minimize, or target:VALUE (bring the score to VALUE)."
    ),
    target_class: Optional[str] = Opt(
        None, "--class", metavar="C", help="Output to optimise (class label; default: the positive/last output)."
    ),
    method: str = Opt("evolve", metavar="METHOD", help="evolve (directed evolution), gradient (Ledidi-style) or gan."),
    max_edits: int = Opt(..., "--max-edits", metavar="K", help="Edit budget: substitutions per design (>= 0)."),
    keep: Optional[str] = Opt(
        None,
        metavar="REGIONS",
        help="Positions never edited: 1-based inclusive ranges (1-4,25-27) or a BED with seed ids as chrom.",
    ),
    avoid: Optional[str] = Opt(
        None, metavar="MOTIFS", help="Forbidden motifs on either strand: IUPAC list (GAATTC,TTTT) or a FASTA/MEME file."
    ),
    oracle: Optional[str] = Opt(
        None, metavar="MODEL_DIR", help="A second, independently trained model that scores seeds and designs."
    ),
    oracle_class: Optional[str] = Opt(
        None,
        metavar="C",
        help="The oracle's output to report (default: --class when the oracle has it, else its last).",
    ),
    rounds: Optional[int] = Opt(
        None, metavar="N", help="evolve: at most N rounds (default K); gradient: optimisation steps (default 150)."
    ),
    population: int = Opt(2, metavar="P", help="evolve: beam width; gan: GAN samples used per seed."),
    gan: Optional[str] = Opt(None, "--gan", metavar="DIR", help="With --method gan: a `genolm gan train` model."),
    seed: int = Opt(0, metavar="N", help="Random seed (same inputs and seed -> identical files)."),
    batch_size: int = Opt(256, metavar="N", help="Sequences per model call."),
    device: str = Opt("auto", metavar="DEVICE", help="auto, cpu or cuda."),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind in --out."),
):
    """Edit seed sequences to raise, lower or set a model's score, within an edit budget and constraints."""
    from genolm.api import load
    from genolm.core.runs import check_out_dir
    from genolm.design.constraints import build_constraints
    from genolm.design.designer import METHODS, design as run
    from genolm.design.evolve import Objective
    from genolm.io.errors import InputError
    from genolm.io.tables import read_sequences

    goal = Objective.parse(objective)
    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if batch_size < 1 or population < 1 or (rounds is not None and rounds < 1):
        raise InputError("--batch-size, --population and --rounds must be >= 1")
    check_out_dir(out, "design", overwrite)
    ids, seqs = read_sequences(input)
    cons = build_constraints(ids, seqs, max_edits, keep=keep, avoid=avoid)
    dev = None if device == "auto" else device
    sm = load(model).sequence_model(dev)
    target = sm.target_index(target_class)
    osm = None
    if oracle:
        osm = load(oracle).sequence_model(dev)
        if oracle_class is None and target_class is not None and str(target_class) in [str(o) for o in osm.outputs]:
            oracle_class = target_class
        oracle_class = osm.outputs[osm.target_index(oracle_class)]
    config = {
        "model": model,
        "input": input,
        "objective": str(goal),
        "class": sm.outputs[target],
        "method": method,
        "max_edits": max_edits,
        "keep": keep,
        "avoid": avoid,
        "oracle": oracle,
        "oracle_class": oracle_class,
        "rounds": rounds,
        "population": population,
        "gan": gan,
        "seed": seed,
    }
    m = run(
        sm,
        ids,
        seqs,
        goal,
        target,
        method,
        cons,
        out,
        oracle=osm,
        oracle_target=oracle_class,
        rounds=rounds,
        population=population,
        gan_dir=gan,
        seed=seed,
        batch_size=batch_size,
        overwrite=overwrite,
        config=config,
        inputs=[input],
    )
    line = (
        f"designed {m['n']} sequences ({method}, <= {max_edits} edits, mean {m['mean_edits']:.1f}): "
        f"mean score {m['mean_seed_score']:.3g} -> {m['mean_design_score']:.3g}"
    )
    if "success_fraction" in m:
        line += f", success {m['success_fraction']:.0%}"
    if "oracle_success_fraction" in m:
        line += f", oracle success {m['oracle_success_fraction']:.0%}"
    echo(line + f"; designs in {out}/designed.fa")
