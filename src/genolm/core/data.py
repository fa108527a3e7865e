"""Datasets and batching shared by every sequence task.

- ``GenomeWindows``: random windows from a genome for LM pretraining (both strands, N-runs skipped).
- ``TokenizedSequences``: a labelled (or unlabelled) list of sequences tokenised once up front.
- ``collate``: dynamic padding to the longest sequence in the batch (no wasted padding; a batch of
  equal-length sequences gets no attention mask at all, so fused attention runs mask-free).
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from genolm.io.errors import InputError
from genolm.io.fasta import normalize, read_fasta, reverse_complement


def tokenize_batch(tokenizer, seqs: Sequence[str], max_length: int | None = None) -> list[list[int]]:
    enc = tokenizer(
        list(seqs),
        add_special_tokens=True,
        truncation=max_length is not None,
        max_length=max_length,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    return enc["input_ids"]


def collate(batch: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    lengths = [len(b["input_ids"]) for b in batch]
    n = max(lengths)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, b in enumerate(batch):
        ids[i, : lengths[i]] = torch.as_tensor(b["input_ids"])
        mask[i, : lengths[i]] = 1
    out = {"input_ids": ids, "attention_mask": mask}
    if "labels" in batch[0]:
        lab = [b["labels"] for b in batch]
        out["labels"] = torch.tensor(lab, dtype=torch.float32 if isinstance(lab[0], float) else torch.long)
    return out


class TokenizedSequences(Dataset):
    def __init__(self, tokenizer, seqs: Sequence[str], labels: Sequence | None = None, max_length: int | None = None):
        self.ids = tokenize_batch(tokenizer, seqs, max_length)
        self.labels = None if labels is None else list(labels)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        item = {"input_ids": self.ids[i]}
        if self.labels is not None:
            item["labels"] = self.labels[i]
        return item

    @property
    def n_tokens(self) -> int:
        return sum(len(x) for x in self.ids)


_NRUN = re.compile(r"N+")


class GenomeWindows(IterableDataset):
    """Endless random windows of ``length`` bases from a genome, reverse-complemented half the time.

    Windows overlapping an N run longer than ``max_n_run`` are never drawn. Sampling is seeded per
    process (seed + rank) so data-parallel workers see different windows.
    """

    def __init__(self, genome: str | dict[str, str], length: int, seed: int = 0, max_n_run: int = 0, rank: int = 0):
        if isinstance(genome, str):
            path = genome
            genome = {name: normalize(seq) for name, seq in read_fasta(genome)}
        else:
            path = "<memory>"
            genome = {k: normalize(v) for k, v in genome.items()}
        self.length = length
        self.seed = seed + 1000 * rank
        self.contigs: list[str] = []
        self.starts: list[np.ndarray] = []
        total = 0
        for name, seq in genome.items():
            if len(seq) < length:
                continue
            ok = np.ones(len(seq) - length + 1, dtype=bool)
            for m in _NRUN.finditer(seq):
                if m.end() - m.start() > max_n_run:
                    ok[max(0, m.start() - length + 1) : m.end()] = False
            starts = np.flatnonzero(ok)
            if len(starts):
                self.contigs.append(seq)
                self.starts.append(starts)
                total += len(starts)
        if total == 0:
            raise InputError(f"no window of {length} bases free of N runs in the genome", path)
        self.weights = np.array([len(s) for s in self.starts], dtype=float) / total
        self.n_positions = total

    def _draw(self, rng: np.random.Generator) -> str:
        c = rng.choice(len(self.contigs), p=self.weights) if len(self.contigs) > 1 else 0
        s = int(self.starts[c][rng.integers(len(self.starts[c]))])
        w = self.contigs[c][s : s + self.length]
        return reverse_complement(w) if rng.random() < 0.5 else w

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        while True:
            yield self._draw(rng)

    def sample(self, n: int, seed: int) -> list[str]:
        """A fixed sample (e.g. a validation set), independent of the training stream."""
        rng = np.random.default_rng(seed)
        return [self._draw(rng) for _ in range(n)]
