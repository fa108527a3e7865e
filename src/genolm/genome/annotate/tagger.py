"""The tagger: a dilated-CNN token classifier over single bases, its training windows and posteriors.

- :func:`read_genome` reads a FASTA into upper-case ACGTN strings;
- :func:`split_train_dev` cuts the genome into training and dev segments (free of long N runs);
- :class:`WindowBatches` draws random training windows (both strands) as padded batches;
- :func:`posteriors` gives (L, n_labels) per-base label probabilities of a sequence of any length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from genolm.io.bed import Region, read_bed
from genolm.io.fasta import normalize, read_fasta
from genolm.sequence import encode, reverse_complement, token_lookup


def read_genome(path: str) -> dict[str, str]:
    """FASTA -> {name: normalized sequence} (upper case, ambiguity codes as N)."""
    return {name: normalize(seq) for name, seq in read_fasta(path)}


def base_lookup(tokenizer) -> np.ndarray:
    """ASCII byte -> the tokenizer's id of that base (single-base tokenizer)."""
    return token_lookup(tokenizer.get_vocab(), tokenizer.unk_token_id)


def token_ids(seq: str, lut: np.ndarray) -> np.ndarray:
    """Token ids of a sequence through a :func:`base_lookup` table."""
    return lut[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]


@dataclass
class Segment:
    contig: str
    start: int
    end: int


def segments(seqs: dict[str, str], min_n_run: int = 100) -> dict[str, list[Segment]]:
    """Stretches of each contig free of long N runs (masked/held-out blocks)."""
    out: dict[str, list[Segment]] = {}
    for name, s in seqs.items():
        cuts = [(m.start(), m.end()) for m in re.finditer(r"N{%d,}" % min_n_run, s)]
        pos, segs = 0, []
        for a, b in cuts:
            if a > pos:
                segs.append(Segment(name, pos, a))
            pos = b
        if pos < len(s):
            segs.append(Segment(name, pos, len(s)))
        out[name] = segs
    return out


def split_train_dev(seqs: dict[str, str], dev_fraction: float, seed: int) -> tuple[list[Segment], list[Segment]]:
    """Many contigs: hold out whole contigs. Few long contigs: hold out the last ``dev_fraction`` of each."""
    segs = segments(seqs)
    names = list(seqs)
    train, dev = [], []
    if len(names) >= 20:
        rng = np.random.default_rng(seed)
        dev_names = set(rng.choice(names, size=max(1, int(round(dev_fraction * len(names)))), replace=False))
        for n in names:
            (dev if n in dev_names else train).extend(segs[n])
        return train, dev
    for n in names:
        total = sum(s.end - s.start for s in segs[n])
        want = int(total * dev_fraction)
        for s in reversed(segs[n]):
            if want <= 0:
                train.append(s)
                continue
            take = min(want, s.end - s.start)
            dev.append(Segment(n, s.end - take, s.end))
            if s.end - take > s.start:
                train.append(Segment(n, s.start, s.end - take))
            want -= take
    return train, dev


def split_by_regions(seqs: dict[str, str], valid_bed: str) -> tuple[list[Segment], list[Segment]]:
    """A dev split given as BED regions (``--valid``): dev = the regions, train = the rest of each segment."""
    from genolm.io.bed import check_regions, merge_regions

    regions = read_bed(valid_bed)
    check_regions(regions, {k: len(v) for k, v in seqs.items()}, valid_bed)
    regions = merge_regions(regions)
    by: dict[str, list[Region]] = {}
    for r in regions:
        by.setdefault(r.chrom, []).append(r)
    train, dev = [], []
    for name, segs in segments(seqs).items():
        rs = by.get(name, [])
        for sg in segs:
            pos = sg.start
            for r in rs:
                lo, hi = max(sg.start, r.start), min(sg.end, r.end)
                if hi <= lo:
                    continue
                if lo > pos:
                    train.append(Segment(name, pos, lo))
                dev.append(Segment(name, lo, hi))
                pos = hi
            if pos < sg.end:
                train.append(Segment(name, pos, sg.end))
    return train, dev


class WindowBatches:
    """Endless random training windows (both strands) as padded token/label batches."""

    def __init__(self, seqs, labels, segments, lut, window, batch_size, swap, cls_id, sep_id, pad_id, seed):
        self.seqs, self.labels, self.segments = seqs, labels, segments
        self.lut, self.window, self.batch_size, self.swap = lut, window, batch_size, swap
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id
        lens = np.array([s.end - s.start for s in segments], dtype=float)
        # short segments (whole loci) are drawn about as often as one window of a long one
        self.weights = np.maximum(lens, window) / np.maximum(lens, window).sum() if len(lens) else lens
        self.rng = np.random.default_rng(seed)

    def window_at(self, seg: Segment, start: int, rc: bool):
        end = min(seg.end, start + self.window)
        s = self.seqs[seg.contig][start:end]
        lab = self.labels[seg.contig][start:end].copy()
        ids = token_ids(s, self.lut)
        lab[encode(s) == 4] = -100
        if rc:
            ids = token_ids(reverse_complement(s), self.lut)
            lab = np.where(lab >= 0, self.swap[np.maximum(lab, 0)], -100)[::-1]
        return ids, lab

    def draw(self, rng) -> tuple[np.ndarray, np.ndarray]:
        seg = self.segments[rng.choice(len(self.segments), p=self.weights)]
        n = seg.end - seg.start
        start = seg.start + (int(rng.integers(0, n - self.window + 1)) if n > self.window else 0)
        return self.window_at(seg, start, bool(rng.random() < 0.5))

    def collate(self, items):
        import torch

        n = max(len(i) for i, _ in items) + 2
        ids = torch.full((len(items), n), self.pad_id, dtype=torch.long)
        lab = torch.full((len(items), n), -100, dtype=torch.long)
        mask = torch.zeros((len(items), n), dtype=torch.long)
        for k, (i, l) in enumerate(items):
            m = len(i)
            ids[k, 0], ids[k, m + 1] = self.cls_id, self.sep_id
            ids[k, 1 : m + 1] = torch.from_numpy(np.ascontiguousarray(i))
            lab[k, 1 : m + 1] = torch.from_numpy(np.ascontiguousarray(l))
            mask[k, : m + 2] = 1
        out = {"input_ids": ids, "labels": lab}
        if not bool(mask.all()):
            out["attention_mask"] = mask
        return out

    def __iter__(self):
        while True:
            yield self.collate([self.draw(self.rng) for _ in range(self.batch_size)])


def posteriors(
    model,
    tokenizer,
    seq: str,
    chunk: int = 8192,
    context: int = 1024,
    batch_size: int = 4,
    both_strands: bool = True,
    swap: np.ndarray | None = None,
) -> np.ndarray:
    """(L, n_labels) per-base label probabilities of a sequence of any length.

    The sequence is cut into chunks read with ``context`` bases either side (beyond the network's
    receptive field, so chunking does not change the result); with ``both_strands`` the reverse
    complement is predicted too and averaged (labels strand-swapped). A long sequence (a chromosome)
    shows a progress bar over its bases.
    """
    from genolm.core.progress import progress

    lut = base_lookup(tokenizer)
    strands = 2 if both_strands and swap is not None else 1
    bar = progress(total=strands * len(seq), desc="posteriors", unit="bp") if len(seq) >= PROGRESS_MIN_BASES else None
    p = posteriors_one(model, tokenizer, seq, lut, chunk, context, batch_size, bar)
    if strands == 2:
        q = posteriors_one(model, tokenizer, reverse_complement(seq), lut, chunk, context, batch_size, bar)[::-1]
        inv = np.argsort(swap)
        p = 0.5 * (p + q[:, inv])
    if bar is not None:
        bar.close()
    return p


#: sequences at least this long show progress within the sequence (posteriors, decoding, scanning)
PROGRESS_MIN_BASES = 200_000


def posteriors_one(model, tokenizer, seq, lut, chunk, context, batch_size, bar=None) -> np.ndarray:
    """One strand of :func:`posteriors`; ``bar`` (a progress bar) advances by the bases done."""
    import torch

    L = len(seq)
    ids_all = token_ids(seq, lut)
    dev = next(model.parameters()).device
    n_lab = model.config.num_labels
    out = np.zeros((L, n_lab), dtype=np.float32)
    jobs = [(a, min(L, a + chunk)) for a in range(0, L, chunk)]
    model.eval()
    with torch.inference_mode():
        for k in range(0, len(jobs), batch_size):
            group = jobs[k : k + batch_size]
            pieces = []
            for a, b in group:
                lo, hi = max(0, a - context), min(L, b + context)
                pieces.append((lo, a, b, ids_all[lo:hi]))
            n = max(len(x[3]) for x in pieces) + 2
            ids = torch.full((len(pieces), n), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(pieces), n), dtype=torch.long)
            for r, (_, _, _, x) in enumerate(pieces):
                ids[r, 0] = tokenizer.cls_token_id
                ids[r, 1 : len(x) + 1] = torch.from_numpy(x)
                ids[r, len(x) + 1] = tokenizer.sep_token_id
                mask[r, : len(x) + 2] = 1
            kw = {"attention_mask": mask.to(dev)} if not bool(mask.all()) else {}
            logits = model(input_ids=ids.to(dev), **kw).logits.float()
            prob = torch.softmax(logits, -1).cpu().numpy()
            for r, (lo, a, b, _) in enumerate(pieces):
                out[a:b] = prob[r, 1 + (a - lo) : 1 + (b - lo)]
            if bar is not None:
                bar.update(sum(b - a for a, b in group))
    return out
