"""Options several tasks share, declared once (an ``Opt`` is immutable, so one object serves every task)."""

from __future__ import annotations

from genolm.core.registry import Opt

# attribution options of `explain` and `variants explain`
ATTR_TARGET = Opt(
    None, "--target", metavar="CLASS", help="Output to explain (class label; default: the positive/last one)."
)
ATTR_BASELINE = Opt(
    "shuffle", "--baseline", metavar="KIND", help="ig/deeplift_shap reference: shuffle (dinucleotide) or zeros."
)
ATTR_N_BASELINES = Opt(8, "--n-baselines", metavar="N", help="Dinucleotide shuffles per sequence (or window).")
ATTR_STEPS = Opt(32, "--steps", metavar="N", help="Integrated-gradients steps.")
BATCH_SIZE = Opt(64, "--batch-size", metavar="N", help="Rows per forward pass.")
DEVICE = Opt("auto", "--device", metavar="DEVICE", help="auto, cpu or cuda.")
SHUFFLE_SEED = Opt(0, "--seed", metavar="N", help="Seed for the shuffled baselines.")
OVERWRITE = Opt(False, "--overwrite", help="Replace an existing run of another kind in --out.")


def sequence_model(model: str, device: str):
    """The model at ``model`` as a SequenceModel on ``device`` (validated: UsageError for an unknown/absent one)."""
    from genolm.api import load
    from genolm.core.seqmodel import pick_device

    pick_device(device)
    return load(model).sequence_model(None if device == "auto" else device)
