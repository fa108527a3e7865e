"""Regulatory-element scanning: slide a fine-tuned sequence classifier along both strands of a genome.

Writes a bedGraph track (max over strands of the positive-class probability, one value per ``stride``
tile centred in each window) and merged peak calls (BED6: name, score 0-1000, strand).

Speed comes from reuse and batching: each region is encoded to token ids once (and its reverse
complement once); windows are strided views of those arrays, batched with no padding (all windows
have one length), so the per-window cost is one slice. :func:`scan_naive` is the per-window loop
(tokenise one string, run the model on it) kept for the throughput benchmark.

Coordinates: BED/bedGraph, 0-based half-open.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from genolm.io.bed import Region, check_regions, read_bed, write_bed, write_bedgraph
from genolm.io.errors import InputError, UsageError
from genolm.io.fasta import normalize, read_fasta
from genolm.sequence import encode, reverse_complement, token_lookup

#: regions at least this long show progress within the region (windows scored)
PROGRESS_MIN_BASES = 200_000

log = logging.getLogger("genolm.scan")


@dataclass
class Scanner:
    model: object
    tokenizer: object
    window: int
    stride: int
    positive: int
    batch_size: int = 512

    @classmethod
    def load(
        cls,
        model: str,
        window: int | None = None,
        stride: int | None = None,
        positive_label: str | None = None,
        batch_size: int = 512,
    ) -> Scanner:
        from genolm.core.loading import load_model

        net, tok, info = load_model(model)
        if info.task != "classification":
            raise InputError(
                f"scan needs a sequence classifier (task 'classification'), this model is "
                f"{info.task!r}; fine-tune one with `genolm finetune`",
                model,
            )
        names = [str(n) for n in (info.label_names or range(net.config.num_labels))]
        if positive_label is None:
            positive = names.index("1") if "1" in names else len(names) - 1
        elif str(positive_label) in names:
            positive = names.index(str(positive_label))
        else:
            raise UsageError(f"--positive-label {positive_label!r} is not a label of the model ({', '.join(names)})")
        if window is not None and window < 8:
            raise UsageError(f"--window must be >= 8, got {window}")
        if stride is not None and stride < 1:
            raise UsageError(f"--stride must be >= 1, got {stride}")
        if window is None:
            window = int((info.extra or {}).get("window") or info.max_length or 0) or 200
        if info.max_length and window + 2 > info.max_length:
            raise UsageError(f"--window {window} is longer than the model accepts ({info.max_length - 2})")
        if stride is None:
            stride = max(1, window // 2)
        if window < 8:
            raise UsageError(f"--window must be >= 8, got {window}")
        return cls(net, tok, window, stride, positive, batch_size)

    # -- helpers --
    def lookup(self) -> np.ndarray:
        """ASCII byte -> token id (:func:`genolm.sequence.token_lookup`)."""
        return token_lookup(self.tokenizer.get_vocab(), self.tokenizer.unk_token_id)

    def score_ids(self, ids: np.ndarray, bar=None) -> np.ndarray:
        """(n, window) token ids (no specials) -> positive-class probabilities."""
        import torch

        n = len(ids)
        out = np.empty(n, dtype=np.float32)
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        dev = next(self.model.parameters()).device
        with torch.inference_mode():
            for i in range(0, n, self.batch_size):
                chunk = torch.from_numpy(np.ascontiguousarray(ids[i : i + self.batch_size]))
                parts = [chunk]
                if cls_id is not None:
                    parts.insert(0, torch.full((len(chunk), 1), cls_id, dtype=torch.long))
                if sep_id is not None:
                    parts.append(torch.full((len(chunk), 1), sep_id, dtype=torch.long))
                x = torch.cat(parts, 1).to(dev)
                logits = self.model(input_ids=x).logits.float()
                out[i : i + len(chunk)] = torch.softmax(logits, -1)[:, self.positive].cpu().numpy()
                if bar is not None:
                    bar.update(len(chunk))
        return out

    def scan_sequence(self, seq: str, max_n_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Window starts and (plus, minus) strand probabilities; windows with many N get NaN.

        A long sequence (a chromosome) shows progress over its windows."""
        from genolm.core.progress import progress

        self.model.eval()
        L = len(seq)
        if L < self.window:
            return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
        lut = self.lookup()
        ids = lut[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
        rc_ids = lut[np.frombuffer(reverse_complement(seq).encode("ascii"), dtype=np.uint8)]
        starts = np.arange(0, L - self.window + 1, self.stride)
        view = np.lib.stride_tricks.sliding_window_view(ids, self.window)[starts]
        # minus strand window at [s, s+w) is rc_ids[L-s-w : L-s]
        rc_view = np.lib.stride_tricks.sliding_window_view(rc_ids, self.window)[L - starts - self.window]
        is_n = encode(seq) == 4
        n_frac = np.convolve(is_n, np.ones(self.window), "valid")[starts] / self.window
        ok = n_frac <= max_n_fraction
        plus = np.full(len(starts), np.nan, dtype=np.float32)
        minus = np.full(len(starts), np.nan, dtype=np.float32)
        if ok.any():
            n_ok = int(ok.sum())
            bar = progress(total=2 * n_ok, desc="scan windows", unit="window") if L >= PROGRESS_MIN_BASES else None
            plus[ok] = self.score_ids(view[ok], bar)
            minus[ok] = self.score_ids(rc_view[ok], bar)
            if bar is not None:
                bar.close()
        return starts, plus, minus


def scan_naive(model, tokenizer, seq: str, window: int, stride: int, positive: int) -> np.ndarray:
    """The straightforward loop: tokenise each window string and run the model on it alone (benchmark)."""
    import torch

    out = []
    model.eval()
    with torch.inference_mode():
        for s in range(0, len(seq) - window + 1, stride):
            for w in (seq[s : s + window], reverse_complement(seq[s : s + window])):
                enc = tokenizer(w, return_tensors="pt")
                logits = model(input_ids=enc["input_ids"]).logits
                out.append(float(torch.softmax(logits, -1)[0, positive]))
    return np.asarray(out)


def call_peaks(
    chrom: str,
    offset: int,
    starts: np.ndarray,
    window: int,
    probs: np.ndarray,
    strand: str,
    threshold: float,
    min_windows: int = 1,
) -> list[Region]:
    """Merge overlapping windows whose probability >= threshold into peaks (score = 1000 x max prob)."""
    hit = np.nan_to_num(probs, nan=0.0) >= threshold
    peaks = []
    i, n = 0, len(starts)
    while i < n:
        if not hit[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and hit[j + 1] and starts[j + 1] < starts[j] + window:
            j += 1
        if j - i + 1 >= min_windows:
            best = float(np.nanmax(probs[i : j + 1]))
            peaks.append(
                Region(
                    chrom,
                    offset + int(starts[i]),
                    offset + int(starts[j]) + window,
                    "peak",
                    int(round(1000 * best)),
                    strand,
                )
            )
        i = j + 1
    return peaks


def scan(
    model: str,
    genome: str,
    out: str,
    regions: str | None = None,
    window: int | None = None,
    stride: int | None = None,
    peaks: str | None = None,
    threshold: float = 0.9,
    positive_label: str | None = None,
    batch_size: int = 512,
    min_windows: int = 1,
) -> dict:
    """Scan a genome (or BED regions) and write a bedGraph (and optionally peak BED)."""
    from genolm.core.progress import progress

    if not 0 < threshold < 1:
        raise UsageError("--threshold must be between 0 and 1")
    scanner = Scanner.load(model, window, stride, positive_label, batch_size)
    seqs = {n: normalize(s) for n, s in read_fasta(genome)}
    if regions:
        regs = read_bed(regions)
        check_regions(regs, {k: len(v) for k, v in seqs.items()}, regions)
    else:
        regs = [Region(k, 0, len(v)) for k, v in seqs.items()]
    tracks, all_peaks = [], []
    t0 = time.perf_counter()
    n_windows, n_bases = 0, 0
    w, st = scanner.window, scanner.stride
    tile_lo = (w - st) // 2 if st < w else 0
    for r in progress(regs, desc="scan", unit="region"):
        seq = seqs[r.chrom][r.start : r.end]
        starts, plus, minus = scanner.scan_sequence(seq)
        if not len(starts):
            continue
        n_windows += 2 * int(np.isfinite(plus).sum())
        n_bases += len(seq)
        best = np.fmax(plus, minus)
        keep = np.isfinite(best)
        a = r.start + starts + tile_lo
        b = a + min(st, w)
        tracks.append((r.chrom, a[keep], b[keep], best[keep]))
        all_peaks += call_peaks(r.chrom, r.start, starts, w, plus, "+", threshold, min_windows)
        all_peaks += call_peaks(r.chrom, r.start, starts, w, minus, "-", threshold, min_windows)
    seconds = time.perf_counter() - t0
    write_bedgraph(out, tracks, name="genolm scan", description=f"P(positive) window={w} stride={st}")
    all_peaks.sort(key=lambda p: (p.chrom, p.start, p.strand))
    for k, p in enumerate(all_peaks, 1):
        p.name = f"peak{k}"
    if peaks:
        write_bed(peaks, all_peaks)
    return {
        "regions": len(regs),
        "bases": n_bases,
        "windows": n_windows,
        "peaks": len(all_peaks),
        "seconds": round(seconds, 2),
        "mb_per_min": round(n_bases / 1e6 / max(seconds, 1e-9) * 60, 3),
        "window": w,
        "stride": st,
        "threshold": threshold,
        "out": str(out),
        "peaks_out": peaks,
    }
