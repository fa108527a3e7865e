"""ChemModel: one multi-task property predictor made of one or more members, averaged.

Members: ``rf``, ``et`` and ``hgb`` (RandomForest, ExtraTrees, HistGradientBoosting over Morgan counts + RDKit
descriptors), ``svm`` (MinMax-kernel SVM on the Morgan counts; all in trees.py) and ``transformer`` (SMILES
Transformer, see transformer.py). ``--arch`` names one member, a comma-separated list, or an alias:

- ``trees``    = rf,et,svm  (the default, chosen by cross-validation on the training splits,
                              docs/benchmarks/chem.md; ``auto`` is the same)
- ``forests``  = rf,et      (the default before the svm member)
- ``ensemble`` = rf,et,transformer
- ``all``      = rf,et,hgb,svm,transformer

Saved as ``model/chem_model.json`` (targets, task, members, feature settings) with ``<member>.skops``
(the tree members' scikit-learn estimators and arrays, skops with genolm's allow-list: loading never runs
code from the folder) and ``transformer/`` (safetensors + config.json + tokenizer.json). Folders written by
earlier versions (``<member>`` files in a format that can run code) are refused with a "retrain or convert
with `genolm convert`" message (``genolm.core.persist``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from genolm.chem.featurize import FeatureConfig, featurize
from genolm.chem.trees import TREE_ARCHS, TreeModel
from genolm.io.errors import InputError, UsageError

log = logging.getLogger("genolm.chem")

MEMBERS = ("rf", "et", "hgb", "svm", "transformer")
ALIASES = {
    "trees": ["rf", "et", "svm"],
    "auto": ["rf", "et", "svm"],
    "forests": ["rf", "et"],
    "ensemble": ["rf", "et", "transformer"],
    "all": ["rf", "et", "hgb", "svm", "transformer"],
}
FORMAT = "genolm-chem/1"
MARKER = "chem_model.json"  # the file that makes a folder a chem model folder


def resolve_arch(arch: str) -> list[str]:
    """'ensemble' / 'hgb,transformer' / 'rf' -> ordered list of member names; UsageError when unknown."""
    members: list[str] = []
    for part in str(arch).replace("+", ",").split(","):
        part = part.strip().lower()
        if not part:
            continue
        names = ALIASES.get(part, [part])
        for n in names:
            if n not in MEMBERS:
                raise UsageError(
                    f"unknown --arch {part!r}; choose from "
                    f"{', '.join(MEMBERS + tuple(ALIASES))} "
                    f"or a comma-separated list"
                )
            if n not in members:
                members.append(n)
    if not members:
        raise UsageError("empty --arch")
    return members


class ChemModel:
    def __init__(
        self,
        task: str,
        targets: list[str],
        members: list[str],
        features: FeatureConfig = FeatureConfig(),
        smiles_col: str = "smiles",
    ):
        if task not in ("classification", "regression"):
            raise UsageError(f"--task must be classification or regression, not {task!r}")
        self.task, self.targets, self.member_names = task, list(targets), list(members)
        self.features, self.smiles_col = features, smiles_col
        self.members: dict = {}
        self.member_seconds: dict[str, float] = {}

    @property
    def needs_features(self) -> bool:
        return any(m in TREE_ARCHS for m in self.member_names)

    def fit(
        self,
        mols: list,
        Y: np.ndarray,
        valid_mols: list | None = None,
        valid_Y: np.ndarray | None = None,
        seed: int = 0,
        time_budget: float | None = None,
        epochs: int | None = None,
        max_steps: int | None = None,
        X: np.ndarray | None = None,
        valid_X: np.ndarray | None = None,
        transformer_overrides: dict | None = None,
        out_dir: str | os.PathLike | None = None,
        resume: bool = False,
        checkpoint_every: int = 0,
    ) -> "ChemModel":
        """Fit every member. ``out_dir`` (the run directory), ``resume`` and ``checkpoint_every`` (steps) go
        to the transformer's training loop (``genolm.core.train``), which checkpoints in ``out_dir/checkpoint``."""
        from genolm.chem.metrics import selection_score
        from genolm.chem.transformer import SmilesTransformer, TransformerConfig

        started = time.monotonic()
        deadline = None if time_budget is None else started + time_budget
        if self.needs_features and X is None:
            X = featurize(mols, self.features, desc="featurising train")
        has_tf = "transformer" in self.member_names
        # the svm (one kernel, no budget control, fast) is fitted first; the forests share 45% of the budget
        # when a transformer follows, 90% otherwise: the k-th of n forests must finish by k/n of that share,
        # so one forest cannot starve the next
        forests = [m for m in self.member_names if m in ("rf", "et")]
        for name in sorted(self.member_names, key=lambda n: n != "svm"):
            t0 = time.monotonic()
            if name in TREE_ARCHS:
                share = None
                if deadline is not None and name in forests:
                    k = forests.index(name) + 1
                    share = started + time_budget * (0.45 if has_tf else 0.9) * k / len(forests)
                member = TreeModel(
                    name, self.task, len(self.targets), seed=seed, fp_columns=self.features.morgan_bits
                ).fit(X, Y, deadline=share)
            else:
                cfg = TransformerConfig(n_tasks=len(self.targets), task=self.task, **(transformer_overrides or {}))
                if epochs:
                    cfg.epochs = epochs
                if max_steps:
                    cfg.max_steps = max_steps
                remaining = None if deadline is None else max(30.0, 0.92 * (deadline - time.monotonic()))
                member = SmilesTransformer(cfg).fit(
                    mols,
                    Y,
                    valid_mols,
                    valid_Y,
                    seed=seed,
                    time_budget=remaining,
                    score_fn=(lambda yt, yp: selection_score(self.task, yt, yp)) if valid_Y is not None else None,
                    out_dir=out_dir,
                    resume=resume,
                    checkpoint_every=checkpoint_every,
                )
            self.members[name] = member
            self.member_seconds[name] = round(time.monotonic() - t0, 1)
            log.info("member %s trained in %.1fs", name, self.member_seconds[name])
        return self

    def predict_members(self, mols: list, X: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Each member's (n, n_tasks) predictions; rows of invalid molecules (None) are NaN."""
        if self.needs_features and X is None:
            X = featurize(mols, self.features, desc="featurising")
        out = {}
        for name in self.member_names:
            member = self.members[name]
            out[name] = member.predict(X) if name in TREE_ARCHS else member.predict(mols)
        return out

    @staticmethod
    def combine(preds: dict[str, np.ndarray]) -> np.ndarray:
        """Equal-weight mean of the members (probabilities or values)."""
        return np.mean(np.stack(list(preds.values())), axis=0)

    def predict(self, mols: list, X: np.ndarray | None = None) -> np.ndarray:
        return self.combine(self.predict_members(mols, X))

    # ---------------------------------------------------------------- persistence
    def save(self, directory: str | os.PathLike) -> None:
        from genolm.core.persist import SKOPS_SUFFIX, save_estimator
        from genolm.io.atomic import atomic_write_text

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name, member in self.members.items():
            if name in TREE_ARCHS:
                save_estimator(member.state(), d / f"{name}{SKOPS_SUFFIX}")
            else:
                member.save_pretrained(d / name)
        atomic_write_text(
            d / MARKER,
            json.dumps(
                {
                    "format": FORMAT,
                    "task": self.task,
                    "targets": self.targets,
                    "members": self.member_names,
                    "smiles_col": self.smiles_col,
                    "features": self.features.to_dict(),
                    "member_seconds": self.member_seconds,
                },
                indent=1,
            ),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ChemModel":
        """Load from a run directory or its model/ folder."""
        from genolm.chem.transformer import SmilesTransformer
        from genolm.core.loading import find_model_dir
        from genolm.core.persist import SKOPS_SUFFIX, load_estimator

        d = find_model_dir(path, marker=MARKER, what="genolm chem model")
        meta_path = d / MARKER
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT:
                raise InputError(f"unsupported chem model format {meta.get('format')!r}", meta_path)
            model = cls(
                meta["task"],
                meta["targets"],
                meta["members"],
                FeatureConfig(**meta["features"]),
                meta.get("smiles_col", "smiles"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise InputError(f"corrupt chem_model.json ({type(e).__name__}: {e})", meta_path) from None
        for name in model.member_names:
            if name in TREE_ARCHS:
                stored = d / f"{name}{SKOPS_SUFFIX}"
                state = load_estimator(stored)  # an old-format file in its place: "retrain or convert"
                try:
                    model.members[name] = TreeModel.from_state(state)
                except (KeyError, TypeError, ValueError, AttributeError) as e:
                    raise InputError(f"not a genolm chem {name} member ({type(e).__name__}: {e})", stored) from None
            else:
                model.members[name] = SmilesTransformer.from_pretrained(d / name)
        return model
