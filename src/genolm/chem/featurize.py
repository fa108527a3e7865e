"""RDKit featurisation: SMILES -> molecules -> fixed-length feature vectors.

Features are Morgan (ECFP-like) count fingerprints, folded to ``n_bits``, and the RDKit 2D descriptor set
(``rdkit.Chem.Descriptors``). Counts keep more information than bits for tree models; descriptors bring
physico-chemistry (logP, TPSA, charges...) that fingerprints miss and that dominates solubility and
permeability. Descriptor values that RDKit cannot compute stay NaN; the models handle NaN themselves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Large descriptor values (e.g. Ipc) overflow float32; clip to a range where float32 and trees are happy.
_CLIP = 1e7


@dataclass(frozen=True)
class FeatureConfig:
    """Which features to compute; stored with every model so prediction recomputes the same ones."""

    morgan_radius: int = 2
    morgan_bits: int = 2048
    descriptors: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def _quiet_rdkit() -> None:
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")


def parse_smiles(smiles: list) -> tuple[list, list[str]]:
    """Parse SMILES with RDKit -> (molecules, errors); an unparsable entry gives (None, 'reason')."""
    from rdkit import Chem

    _quiet_rdkit()
    mols, errors = [], []
    for s in smiles:
        if not isinstance(s, str) or not s.strip():
            mols.append(None)
            errors.append("empty SMILES")
            continue
        mol = Chem.MolFromSmiles(s.strip())
        if mol is None:
            # Some MoleculeNet SMILES (hypervalent N, odd charges) only fail sanitisation; keep them when a
            # partial sanitisation succeeds so they can still be scored.
            mol = Chem.MolFromSmiles(s.strip(), sanitize=False)
            if mol is not None:
                try:
                    mol.UpdatePropertyCache(strict=False)
                    Chem.SanitizeMol(
                        mol,
                        Chem.SanitizeFlags.SANITIZE_FINDRADICALS
                        | Chem.SanitizeFlags.SANITIZE_SETAROMATICITY
                        | Chem.SanitizeFlags.SANITIZE_SETCONJUGATION
                        | Chem.SanitizeFlags.SANITIZE_SETHYBRIDIZATION
                        | Chem.SanitizeFlags.SANITIZE_SYMMRINGS,
                        catchErrors=True,
                    )
                    Chem.GetSymmSSSR(mol)
                except Exception:
                    mol = None
        if mol is None or mol.GetNumAtoms() == 0:
            mols.append(None)
            errors.append("invalid SMILES (RDKit cannot parse it)")
        else:
            mols.append(mol)
            errors.append("")
    return mols, errors


def descriptor_names() -> list[str]:
    from rdkit.Chem import Descriptors

    return [name for name, _ in Descriptors._descList]


def feature_names(config: FeatureConfig) -> list[str]:
    names = [f"morgan{config.morgan_radius}_{i}" for i in range(config.morgan_bits)]
    if config.descriptors:
        names += descriptor_names()
    return names


def _descriptors(mol) -> np.ndarray:
    from rdkit.Chem import Descriptors

    out = np.full(len(Descriptors._descList), np.nan, dtype=np.float64)
    for i, (_, fn) in enumerate(Descriptors._descList):
        try:
            out[i] = fn(mol)
        except Exception:
            pass  # stays NaN
    return out


def featurize(mols: list, config: FeatureConfig = FeatureConfig(), desc: str = "featurising") -> np.ndarray:
    """Molecules (None allowed) -> float32 matrix (n, n_features); rows for None are all NaN."""
    from rdkit.Chem import rdFingerprintGenerator

    from genolm.core.progress import progress

    _quiet_rdkit()
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=config.morgan_radius, fpSize=config.morgan_bits)
    n_feat = len(feature_names(config))
    X = np.full((len(mols), n_feat), np.nan, dtype=np.float32)
    for i, mol in enumerate(progress(mols, total=len(mols), desc=desc, unit="mol")):
        if mol is None:
            continue
        try:
            X[i, : config.morgan_bits] = gen.GetCountFingerprintAsNumPy(mol)
        except Exception:
            continue
        if config.descriptors:
            d = _descriptors(mol)
            d[~np.isfinite(d)] = np.nan
            X[i, config.morgan_bits :] = np.clip(d, -_CLIP, _CLIP)
    return X


def canonical_smiles(mol) -> str:
    from rdkit import Chem

    return Chem.MolToSmiles(mol)


def random_smiles(mol, rng: np.random.Generator) -> str:
    """A randomised (non-canonical) SMILES of the same molecule: data augmentation for sequence models."""
    from rdkit import Chem

    n = mol.GetNumAtoms()
    if n <= 1:
        return Chem.MolToSmiles(mol)
    order = [int(i) for i in rng.permutation(n)]
    try:
        return Chem.MolToSmiles(Chem.RenumberAtoms(mol, order), canonical=False)
    except Exception:
        return Chem.MolToSmiles(mol)
