"""Helpers for the variant tests: data paths, tiny real genolm models, VCF writing/reading."""

from __future__ import annotations

import gzip
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[1] / "data" / "variants"
BRCA1_FA = DATA / "brca1_slice.fa.gz"
BRCA1_VCF = DATA / "brca1_sge_subset.vcf.gz"
MPRA_FA = DATA / "mpra_elements.fa"
MPRA_SNV = DATA / "mpra_snv.vcf.gz"
MPRA_DEL = DATA / "mpra_deletions.vcf.gz"


def _tiny_model(out: Path, task: str, window: int = 64, **extra) -> Path:
    from genolm.core.loading import ModelInfo, save_model
    from genolm.core.models import GenolmConfig, GenolmForCausalLM, GenolmForMaskedLM, GenolmForSequenceClassification
    from genolm.core.tokenizers import build_dna_tokenizer

    torch.manual_seed(0)
    tok = build_dna_tokenizer("base")
    cfg = GenolmConfig(
        vocab_size=len(tok),
        arch="cnn",
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        conv_layers=2,
        conv_kernel=5,
        dropout=0.0,
        pad_token_id=tok.pad_token_id,
        causal=task == "causal-lm",
        **extra,
    )
    cls = {
        "masked-lm": GenolmForMaskedLM,
        "causal-lm": GenolmForCausalLM,
        "classification": GenolmForSequenceClassification,
    }[task]
    model = cls(cfg).eval()
    info = ModelInfo(
        task=task, tokenizer="base", max_length=window + 2, label_names=["0", "1"] if task == "classification" else []
    )
    save_model(model, tok, info, out)
    return out


def write_vcf(path: Path, records: list[str], contigs=("17",), extra_header: str = "") -> Path:
    head = (
        "##fileformat=VCFv4.2\n"
        + "".join(f"##contig=<ID={c}>\n" for c in contigs)
        + extra_header
        + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    )
    body = "".join(r.rstrip("\n") + "\n" for r in records)
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(head + body)
    else:
        path.write_text(head + body)
    return path


def records(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt") if str(path).endswith(".gz") else open(path) as fh:
        return [line.rstrip("\n").split("\t") for line in fh if not line.startswith("#")]


def info(fields: list[str]) -> dict:
    return dict(p.split("=", 1) if "=" in p else (p, True) for p in fields[7].split(";"))
