"""Decoding: network posteriors + codon Markov chains + splice-site PWMs -> Viterbi -> GFF3 gene models.

- :class:`ContentModel` (codon-position Markov chains, GeneMark-style) and :class:`SpliceModel`
  (donor/acceptor PWMs as log-odds) add evidence to the network's per-base posteriors;
- :class:`Annotator` is a loaded annotation model: posteriors -> weighted emissions -> Viterbi
  (:mod:`genolm.genome.annotate.hmm`) -> gene models, reused across regions;
- :func:`genes_to_features` writes gene models as GFF3 gene/mRNA/exon/CDS(+phase)/UTR/intron features;
- :func:`annotate_sequences` is the one prediction path behind `genolm annotate predict` and
  ``genolm.load(model).predict(...)``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from genolm.genome.annotate.hmm import GeneHMM, GeneModel, HMMParams, build_hmm, codon_mask, path_to_genes, viterbi
from genolm.genome.annotate.labels import SCHEMES, swap_strand_labels
from genolm.genome.annotate.tagger import PROGRESS_MIN_BASES, posteriors, read_genome
from genolm.io.bed import Region, check_regions, read_bed
from genolm.io.errors import InputError, UsageError
from genolm.io.gff import Feature, write_gff
from genolm.sequence import encode, reverse_complement

#: the file that marks an annotation model folder (written by `genolm annotate train`)
CONTENT_MODEL_FILE = "content_model.npz"
SPLICE_MODEL_FILE = "splice_model.npz"


def base_codes(seq: str) -> np.ndarray:
    """int64 base codes (A C G T = 0 1 2 3, other 4) for the Markov chains and PWMs."""
    return encode(seq).astype(np.int64)


# ---- content model: codon-position Markov chains (GeneMark-style), combined with the network ------


class ContentModel:
    """Order-k Markov chains per fine label (coding labels per codon position), fitted by counting.

    ``loglik(seq)`` gives (L, n_labels) log P(base_i | k previous bases, label); minus-strand labels are
    scored on the reverse complement with the plus-strand chain. Fitting the whole E. coli genome takes
    seconds, and in the decoder these log-likelihoods add gene-length evidence the network may miss.
    """

    def __init__(self, scheme: str, order: int = 5, logp: np.ndarray | None = None):
        self.scheme, self.order = scheme, order
        self.n = len(SCHEMES[scheme])
        self.counts = np.zeros((self.n, 4**order, 4))
        self.logp = logp

    def _contexts(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Context index for every position i >= order, and whether the context+base is free of N."""
        k, L = self.order, len(c)
        if L <= k:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        ctx = np.zeros(L - k, dtype=np.int64)
        ok = c[k:] < 4
        for j in range(k, 0, -1):
            prev = c[k - j : L - j]
            ok &= prev < 4
            ctx = ctx * 4 + np.minimum(prev, 3)
        return ctx, ok

    def add(self, seq: str, labels: np.ndarray) -> None:
        """Count one sequence with its fine labels (-100 = ignore); both strands are counted."""
        swap = swap_strand_labels(self.scheme)
        for s, lab in (
            (seq, labels),
            (reverse_complement(seq), np.where(labels >= 0, swap[np.maximum(labels, 0)], -100)[::-1]),
        ):
            c = base_codes(s)
            ctx, ok = self._contexts(c)
            y = lab[self.order :]
            ok &= y >= 0
            idx = (y[ok] * 4**self.order + ctx[ok]) * 4 + c[self.order :][ok]
            self.counts += np.bincount(idx, minlength=self.counts.size).reshape(self.counts.shape)

    def finalize(self, pseudo: float = 0.5) -> ContentModel:
        c = self.counts + pseudo
        self.logp = np.log(c / c.sum(-1, keepdims=True)).astype(np.float32)
        return self

    def loglik(self, seq: str) -> np.ndarray:
        names = SCHEMES[self.scheme]
        swap = swap_strand_labels(self.scheme)
        L = len(seq)
        out = np.zeros((L, self.n), dtype=np.float32)
        k = self.order
        for rc, s in ((False, seq), (True, reverse_complement(seq))):
            c = base_codes(s)
            ctx, ok = self._contexts(c)
            ll = np.zeros((L, self.n), dtype=np.float32)
            if len(ctx):
                ll[k:][ok] = self.logp[:, ctx[ok], c[k:][ok]].T
            if not rc:
                for j, n in enumerate(names):
                    if "-" not in n:
                        out[:, j] = ll[:, j]
            else:
                ll = ll[::-1]
                for j, n in enumerate(names):
                    if "-" in n:
                        out[:, j] = ll[:, swap[j]]
        return out

    def save(self, path) -> None:
        from genolm.io.atomic import atomic_path

        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, logp=self.logp, order=self.order, scheme=self.scheme)

    @classmethod
    def load(cls, path) -> ContentModel:
        d = np.load(path)
        return cls(str(d["scheme"]), int(d["order"]), d["logp"])


class SpliceModel:
    """Donor (GT) and acceptor (AG) position weight matrices as log-odds against all GT/AG sites.

    Donor window: 3 exon bases + GT + 4 intron bases; acceptor window: 16 intron bases + AG + 2 exon
    bases. ``bonuses(seq)`` gives the log-odds at every possible site on both strands, keyed by the
    HMM state that is entered there.
    """

    DONOR = (3, 9)  # bases before the G of GT, window length
    ACCEPTOR = (16, 20)  # bases before the A of AG, window length

    def __init__(self, donor: np.ndarray | None = None, acceptor: np.ndarray | None = None):
        self.donor, self.acceptor = donor, acceptor
        self._pos = {"donor": np.zeros((9, 4)), "acceptor": np.zeros((20, 4))}
        self._bg = {"donor": np.zeros((9, 4)), "acceptor": np.zeros((20, 4))}

    @staticmethod
    def _windows(c: np.ndarray, sites: np.ndarray, before: int, length: int) -> np.ndarray:
        idx = sites[:, None] + np.arange(-before, length - before)[None, :]
        ok = (idx >= 0) & (idx < len(c))
        w = np.full(idx.shape, 4, dtype=np.int64)
        w[ok] = c[idx[ok]]
        return w

    def _count(self, table: np.ndarray, w: np.ndarray) -> None:
        for j in range(w.shape[1]):
            col = w[:, j]
            table[j] += np.bincount(col[col < 4], minlength=4)

    def add(self, seq: str, introns: list[tuple[int, int]]) -> None:
        """Plus-strand sequence and its plus-strand introns (0-based half-open)."""
        c = base_codes(seq)
        gt = np.flatnonzero(codon_mask(c, ("GT",)))
        ag = np.flatnonzero(codon_mask(c, ("AG",)))
        self._count(self._bg["donor"], self._windows(c, gt, *self.DONOR))
        self._count(self._bg["acceptor"], self._windows(c, ag, *self.ACCEPTOR))
        d = np.array([a for a, b in introns if seq[a : a + 2] == "GT"], dtype=np.int64)
        a_ = np.array([b - 2 for a, b in introns if seq[b - 2 : b] == "AG"], dtype=np.int64)
        if len(d):
            self._count(self._pos["donor"], self._windows(c, d, *self.DONOR))
        if len(a_):
            self._count(self._pos["acceptor"], self._windows(c, a_, *self.ACCEPTOR))

    def finalize(self, pseudo: float = 1.0) -> SpliceModel:
        def lo(pos, bg):
            p = (pos + pseudo) / (pos + pseudo).sum(1, keepdims=True)
            q = (bg + pseudo) / (bg + pseudo).sum(1, keepdims=True)
            return np.log(p / q).astype(np.float32)

        self.donor = lo(self._pos["donor"], self._bg["donor"])
        self.acceptor = lo(self._pos["acceptor"], self._bg["acceptor"])
        return self

    def _scores(self, seq: str) -> tuple[np.ndarray, np.ndarray]:
        c = base_codes(seq)
        L = len(c)
        out = []
        for pwm, (before, length) in ((self.donor, self.DONOR), (self.acceptor, self.ACCEPTOR)):
            sc = np.zeros(L, dtype=np.float32)
            for j in range(length):
                k = j - before
                src = np.arange(L) + k
                ok = (src >= 0) & (src < L)
                cc = np.full(L, 4, dtype=np.int64)
                cc[ok] = c[src[ok]]
                m = cc < 4
                sc[m] += pwm[j, cc[m]]
            out.append(sc)
        return out[0], out[1]

    def bonuses(self, seq: str) -> dict[str, np.ndarray]:
        L = len(seq)
        d_plus, a_plus = self._scores(seq)
        d_rc, a_rc = self._scores(reverse_complement(seq))
        # a site at rc position i' (first base of GT/AG) is read on plus at p = L - 2 - i'
        d_minus = np.zeros(L, dtype=np.float32)
        a_minus = np.zeros(L, dtype=np.float32)
        if L >= 2:
            d_minus[: L - 1] = d_rc[: L - 1][::-1]
            a_minus[: L - 1] = a_rc[: L - 1][::-1]
        out = {}
        for k in (1, 2, 3):
            out[f"Da{k}"] = d_plus
            out[f"Aa{k}"] = a_plus
            out[f"rDa{k}"] = d_minus
            out[f"rAa{k}"] = a_minus
        return out

    def save(self, path) -> None:
        from genolm.io.atomic import atomic_path

        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, donor=self.donor, acceptor=self.acceptor)

    @classmethod
    def load(cls, path) -> SpliceModel:
        d = np.load(path)
        return cls(d["donor"], d["acceptor"])


# ---- prediction ---------------------------------------------------------------------------------


class Annotator:
    """A loaded annotation model: posteriors -> Viterbi -> gene models, reused across regions."""

    def __init__(self, model, tokenizer, info, model_dir: str | None = None):
        meta = (info.extra or {}).get("annotate")
        if not meta:
            raise InputError(
                "not a genolm annotation model (no 'annotate' entry in genolm.json); "
                "train one with `genolm annotate train`"
            )
        self.model, self.tok, self.info = model, tokenizer, info
        self.scheme = meta["scheme"]
        self.params = HMMParams(**meta["hmm"])
        self.hmm: GeneHMM = build_hmm(self.scheme, self.params)
        self.log_prior = np.log(np.asarray(meta["label_prior"]))
        self.swap = swap_strand_labels(self.scheme)
        self.net_weight = float(meta.get("net_weight", 1.0))
        self.content_weight = float(meta.get("content_weight", 0.0))
        self.splice_weight = float(meta.get("splice_weight", 0.0))
        self.content: ContentModel | None = None
        self.splice: SpliceModel | None = None
        if model_dir and (Path(model_dir) / CONTENT_MODEL_FILE).is_file():
            self.content = ContentModel.load(Path(model_dir) / CONTENT_MODEL_FILE)
        if model_dir and (Path(model_dir) / SPLICE_MODEL_FILE).is_file():
            self.splice = SpliceModel.load(Path(model_dir) / SPLICE_MODEL_FILE)

    @classmethod
    def load(cls, spec: str | os.PathLike) -> Annotator:
        """From a run directory of `genolm annotate train` or its model/ folder."""
        from genolm.core.loading import find_model_dir, load_model

        model_dir = find_model_dir(spec, marker="genolm.json", what="annotation model")
        model, tok, info = load_model(model_dir, task="token-classification")
        return cls(model, tok, info, str(model_dir))

    def posteriors(self, seq: str) -> np.ndarray:
        return posteriors(self.model, self.tok, seq, swap=self.swap)

    def decode(
        self,
        seq: str,
        post: np.ndarray,
        net_weight: float | None = None,
        content_weight: float | None = None,
        splice_weight: float | None = None,
        content_ll: np.ndarray | None = None,
        splice_bonus: dict | None = None,
    ) -> list[GeneModel]:
        """Viterbi over w_net * log p_network + w_content * log-likelihood of the codon Markov chains
        (+ w_splice * splice-site log-odds on entering an intron / leaving it)."""
        wn = self.net_weight if net_weight is None else net_weight
        wc = self.content_weight if content_weight is None else content_weight
        ws = self.splice_weight if splice_weight is None else splice_weight
        logp = wn * np.log(np.clip(post, 1e-6, 1.0))
        if wc and self.content is not None:
            logp = logp + wc * (content_ll if content_ll is not None else self.content.loglik(seq))
        bonus = None
        if ws and self.splice is not None:
            bonus = {k: ws * v for k, v in (splice_bonus or self.splice.bonuses(seq)).items()}
        path = viterbi(self.hmm, logp, seq, self.log_prior, self.params.prior_weight * wn, bonus)
        return path_to_genes(self.hmm, path, post)

    def decode_long(self, seq: str, post: np.ndarray, chunk: int | None = None, overlap: int = 20_000):
        """Decode in overlapping chunks so memory stays bounded (Viterbi keeps states x bases pointers).

        Each chunk is decoded with ``overlap`` extra bases; a gene is kept by the chunk it starts in.
        Returns (chunk offset, GeneModel) pairs."""
        chunk = chunk or (1_000_000 if self.scheme == "prokaryote" else 200_000)
        L = len(seq)
        if L <= chunk + overlap:
            return [(0, g) for g in self.decode(seq, post)]
        from genolm.core.progress import progress

        out = []
        kept_end = 0  # genes of the previous chunk own the bases up to here
        starts = range(0, L, chunk)
        for a in progress(starts, desc="decode", unit="chunk") if L >= PROGRESS_MIN_BASES else starts:
            b = min(L, a + chunk + overlap)
            last = kept_end
            for g in self.decode(seq[a:b], post[a:b]):
                if a + g.start < kept_end:  # a fragment of a gene the previous chunk already called
                    continue
                if g.start < chunk or a + chunk >= L:
                    out.append((a, g))
                    last = max(last, a + g.end)
            kept_end = last
        return out

    def predict_regions(
        self, seqs: dict[str, str], regions: list[Region], context: int = 1000, keep_posteriors: bool = False
    ):
        """Gene models inside each region: (contig, region start, GeneModel) with region-relative coords."""
        from genolm.core.progress import progress

        out = []
        posts = []
        for r in progress(regions, desc="annotate", unit="region"):
            s = seqs[r.chrom]
            lo, hi = max(0, r.start - context), min(len(s), r.end + context)
            post = self.posteriors(s[lo:hi])[r.start - lo : r.end - lo]
            for a, g in self.decode_long(s[r.start : r.end], post):
                out.append((r.chrom, r.start + a, g))
            if keep_posteriors:
                posts.append((r, post))
        return (out, posts) if keep_posteriors else out


def genes_to_features(genes, scheme: str, source: str = "genolm") -> list[Feature]:
    """(contig, offset, GeneModel) -> sorted GFF3 features (gene/mRNA/exon/CDS/UTR/intron)."""
    feats: list[Feature] = []
    counter: dict[str, int] = defaultdict(int)
    for chrom, off, g in sorted(genes, key=lambda x: (x[0], x[1] + x[2].start)):
        counter[chrom] += 1
        gid = f"{chrom}.g{counter[chrom]}"
        score = f"{g.score:.3f}"
        if g.kind == "RNA":
            feats.append(
                Feature(
                    chrom,
                    source,
                    "gene",
                    off + g.start + 1,
                    off + g.end,
                    score,
                    g.strand,
                    ".",
                    {"ID": gid, "gene_biotype": "RNA"},
                )
            )
            feats.append(
                Feature(
                    chrom,
                    source,
                    "ncRNA",
                    off + g.start + 1,
                    off + g.end,
                    score,
                    g.strand,
                    ".",
                    {"ID": f"{gid}.t1", "Parent": gid},
                )
            )
            continue
        tid = f"{gid}.t1"
        feats.append(
            Feature(
                chrom,
                source,
                "gene",
                off + g.start + 1,
                off + g.end,
                score,
                g.strand,
                ".",
                {"ID": gid, "gene_biotype": "protein_coding"},
            )
        )
        feats.append(
            Feature(
                chrom, source, "mRNA", off + g.start + 1, off + g.end, score, g.strand, ".", {"ID": tid, "Parent": gid}
            )
        )
        parts = []
        for k, (s, e) in enumerate(g.exons, 1):
            parts.append(
                Feature(
                    chrom,
                    source,
                    "exon",
                    off + s + 1,
                    off + e,
                    ".",
                    g.strand,
                    ".",
                    {"ID": f"{tid}.exon{k}", "Parent": tid},
                )
            )
        for s, e in g.introns:
            parts.append(Feature(chrom, source, "intron", off + s + 1, off + e, ".", g.strand, ".", {"Parent": tid}))
        for s, e, ph in g.cds:
            parts.append(
                Feature(
                    chrom,
                    source,
                    "CDS",
                    off + s + 1,
                    off + e,
                    ".",
                    g.strand,
                    str(ph),
                    {"ID": f"{tid}.cds", "Parent": tid},
                )
            )
        for typ, ivs in (("five_prime_UTR", g.utr5), ("three_prime_UTR", g.utr3)):
            for s, e in ivs:
                parts.append(Feature(chrom, source, typ, off + s + 1, off + e, ".", g.strand, ".", {"Parent": tid}))
        feats.extend(sorted(parts, key=lambda f: (f.start, f.end)))
    return feats


def regions_for(genome_seqs: dict[str, str], regions_bed: str | None) -> list[Region]:
    """The BED regions (checked against the genome), or every whole sequence."""
    if regions_bed is None:
        return [Region(k, 0, len(v)) for k, v in genome_seqs.items()]
    regions = read_bed(regions_bed)
    check_regions(regions, {k: len(v) for k, v in genome_seqs.items()}, regions_bed)
    return regions


def class_columns(scheme: str, cls: str) -> list[int]:
    """Fine-label columns of a class name prefix (CDS, intron, UTR5, UTR3, RNA, intergenic)."""
    cols = [i for i, n in enumerate(SCHEMES[scheme]) if n.startswith(cls)]
    if not cols:
        raise UsageError(
            f"unknown --bedgraph-class {cls!r}; one of CDS, intron, UTR5, UTR3, RNA, "
            "intergenic (prefixes of the model's labels)"
        )
    return cols


def annotate_sequences(
    annot: Annotator, seqs: dict[str, str], regions: list[Region] | None = None, keep_posteriors: bool = False
):
    """GFF3 features of the gene models in ``regions`` (default: every whole sequence), sorted as written.

    With ``keep_posteriors`` also the (region, posteriors) pairs."""
    regs = regions if regions is not None else [Region(k, 0, len(v)) for k, v in seqs.items()]
    if keep_posteriors:
        genes, posts = annot.predict_regions(seqs, regs, keep_posteriors=True)
    else:
        genes, posts = annot.predict_regions(seqs, regs), []
    feats = genes_to_features(genes, annot.scheme)
    return (feats, posts) if keep_posteriors else feats


def predict(
    model: str,
    genome: str,
    out: str,
    regions: str | None = None,
    bedgraph: str | None = None,
    bedgraph_class: str = "CDS",
) -> dict:
    """Annotate a genome (or BED regions of it) into a GFF3 file; optional bedGraph of class probability."""
    from genolm.io.bed import write_bedgraph

    annot = Annotator.load(model)
    cols = class_columns(annot.scheme, bedgraph_class) if bedgraph else []
    seqs = read_genome(genome)
    regs = regions_for(seqs, regions)
    if bedgraph:
        feats, posts = annotate_sequences(annot, seqs, regs, keep_posteriors=True)
    else:
        feats, posts = annotate_sequences(annot, seqs, regs), []
    write_gff(
        out,
        feats,
        {k: len(v) for k, v in seqs.items()},
        comments=[f"genolm annotate predict; model {model}; scheme {annot.scheme}"],
    )
    if bedgraph:
        tracks = []
        for r, post in posts:
            pos = np.arange(r.start, r.end)
            tracks.append((r.chrom, pos, pos + 1, post[:, cols].sum(1)))
        write_bedgraph(bedgraph, tracks, name=f"P({bedgraph_class})", description="genolm annotate")
    n_genes = sum(1 for f in feats if f.type == "gene")
    n_introns = sum(1 for f in feats if f.type == "intron")
    return {
        "genes": n_genes,
        "introns": n_introns,
        "regions": len(regs),
        "bases": sum(len(r) for r in regs),
        "out": str(out),
    }
