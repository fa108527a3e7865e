"""`genolm convert`: rewrite a model folder saved by genolm < 0.2 (joblib pickles) as skops files."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("convert")
    def convert(
        model: Path = typer.Argument(..., metavar="MODEL_DIR", help="Run directory or model folder to convert."),
    ) -> None:
        """Convert an old model folder's *.joblib files to skops files genolm loads safely.

        The old files are read with a restricted unpickler (allow-listed types only), so a tampered file
        is refused rather than run. Models whose format changed in other ways still need retraining.
        """
        from genolm.core.convert import convert_model_dir

        done = convert_model_dir(model)
        for old, new in done:
            typer.echo(f"converted {old} -> {new}")
        if not done:
            typer.echo(f"nothing to convert in {model}")
