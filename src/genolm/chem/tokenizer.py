"""SMILES tokenizer: the regular expression of Schwaller et al. (Molecular Transformer, ACS Cent Sci 2019).

Bracket atoms (``[C@@H]``, ``[NH3+]``), two-letter elements (``Cl``, ``Br``), ring-bond numbers (``%12``)
and bonds/branches are single tokens. The vocabulary is built from the training SMILES; unseen tokens map
to ``<unk>``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

SMILES_REGEX = (
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$"
    r"|%[0-9]{2}|[0-9])"
)
_PATTERN = re.compile(SMILES_REGEX)

PAD, UNK, CLS = "<pad>", "<unk>", "<cls>"
SPECIALS = [PAD, UNK, CLS]


def tokenize(smiles: str) -> list[str]:
    """Split a SMILES string into tokens; characters the regex does not cover become single tokens."""
    tokens, pos = [], 0
    for m in _PATTERN.finditer(smiles):
        if m.start() > pos:  # unusual characters: keep them visible rather than dropping them
            tokens.extend(smiles[pos : m.start()])
        tokens.append(m.group(0))
        pos = m.end()
    tokens.extend(smiles[pos:])
    return tokens


class SmilesTokenizer:
    """Regex SMILES tokenizer with a learned vocabulary; ``encode`` prepends ``<cls>`` and truncates."""

    def __init__(self, vocab: list[str], max_length: int = 128):
        self.vocab = list(vocab)
        self.index = {t: i for i, t in enumerate(self.vocab)}
        self.max_length = max_length

    @classmethod
    def fit(cls, smiles: list[str], max_length: int = 128, min_count: int = 1) -> "SmilesTokenizer":
        counts: dict[str, int] = {}
        for s in smiles:
            for t in tokenize(s):
                counts[t] = counts.get(t, 0) + 1
        tokens = sorted(t for t, c in counts.items() if c >= min_count)
        return cls(SPECIALS + tokens, max_length=max_length)

    @property
    def pad_id(self) -> int:
        return self.index[PAD]

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, smiles: str) -> list[int]:
        unk = self.index[UNK]
        ids = [self.index[CLS]] + [self.index.get(t, unk) for t in tokenize(smiles)]
        return ids[: self.max_length]

    def batch(self, smiles: list[str]):
        """-> (ids LongTensor (B, L), padding mask BoolTensor (B, L) True at padding)."""
        import torch

        enc = [self.encode(s) for s in smiles]
        length = max(len(e) for e in enc)
        ids = torch.full((len(enc), length), self.pad_id, dtype=torch.long)
        for i, e in enumerate(enc):
            ids[i, : len(e)] = torch.tensor(e, dtype=torch.long)
        return ids, ids.eq(self.pad_id)

    def save(self, directory: str | os.PathLike) -> None:
        from genolm.io.atomic import atomic_write_text

        atomic_write_text(
            Path(directory) / "tokenizer.json",
            json.dumps(
                {"type": "smiles-regex", "regex": SMILES_REGEX, "max_length": self.max_length, "vocab": self.vocab},
                indent=1,
            ),
        )

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "SmilesTokenizer":
        data = json.loads((Path(directory) / "tokenizer.json").read_text(encoding="utf-8"))
        return cls(data["vocab"], max_length=data["max_length"])
