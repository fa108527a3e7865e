"""`genolm convert`: rewrite a model folder saved by genolm < 0.2 (joblib pickles) as skops files."""

from __future__ import annotations

from pathlib import Path

from genolm.core.registry import Arg, echo, task


@task("convert", cli_only=True)
def convert(model: Path = Arg(..., metavar="MODEL_DIR", help="Run directory or model folder to convert.")) -> None:
    """Convert an old model folder's *.joblib files to skops files genolm loads safely.

    The old files are read with a restricted unpickler (allow-listed types only), so a tampered file
    is refused rather than run. Models whose format changed in other ways still need retraining.
    """
    from genolm.core.convert import convert_model_dir

    done = convert_model_dir(model)
    for old, new in done:
        echo(f"converted {old} -> {new}")
    if not done:
        echo(f"nothing to convert in {model}")
