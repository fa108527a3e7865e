"""DNA tokenizers as Hugging Face ``PreTrainedTokenizerFast`` objects (save/load like any HF tokenizer).

- ``base``: one token per nucleotide (A C G T N); best for variant effects (one base = one token).
- ``kmer:K``: non-overlapping K-mers (a trailing partial K-mer is its own token).
- ``bpe:V``: byte-pair encoding with vocabulary size V, learned from the training sequences
  (as in DNABERT-2).
Input is normalised by the caller (upper-case, IUPAC -> N); lowercase is upper-cased here too.
"""

from __future__ import annotations

import itertools
import re
from typing import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from genolm.io.errors import UsageError

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BASES = "ACGTN"


def parse_tokenizer_spec(spec: str) -> tuple[str, int]:
    """'base' -> ('base', 1); 'kmer:6' -> ('kmer', 6); 'bpe:4096' -> ('bpe', 4096)."""
    m = re.fullmatch(r"(base|char|kmer|bpe)(?::(\d+))?", spec.strip().lower())
    if not m:
        raise UsageError(f"unknown tokenizer {spec!r}; use base, kmer:K (e.g. kmer:6) or bpe:V (e.g. bpe:4096)")
    kind, n = m.group(1), m.group(2)
    if kind in ("base", "char"):
        return "base", 1
    if n is None:
        raise UsageError(f"tokenizer {spec!r} needs a size, e.g. kmer:6 or bpe:4096")
    n = int(n)
    if kind == "kmer" and not 1 <= n <= 8:
        raise UsageError("k-mer size must be between 1 and 8")
    if kind == "bpe" and n < 16:
        raise UsageError("BPE vocabulary size must be at least 16")
    return kind, n


def _wrap(tok: Tokenizer, name: str) -> PreTrainedTokenizerFast:
    # soft-masked (lowercase) bases are read as the same bases
    tok.normalizer = normalizers.Sequence([normalizers.Replace(c, c.upper()) for c in "acgtn"])
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        bos_token="[CLS]",
        eos_token="[SEP]",
        model_max_length=1_000_000,
    )
    fast.init_kwargs["genolm_tokenizer"] = name
    return fast


def build_dna_tokenizer(spec: str = "base", training_sequences: Iterable[str] | None = None) -> PreTrainedTokenizerFast:
    kind, n = parse_tokenizer_spec(spec)
    if kind == "base" or kind == "kmer":
        k = n
        vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
        for length in range(1, k + 1):
            for kmer in itertools.product(BASES, repeat=length):
                vocab.setdefault("".join(kmer), len(vocab))
        tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(f".{{1,{k}}}"), behavior="isolated")
        return _wrap(tok, "base" if k == 1 else f"kmer:{k}")
    # BPE over the raw nucleotide string (no whitespace in DNA: the whole window is one "word")
    if training_sequences is None:
        raise UsageError("a BPE tokenizer must be trained: give training sequences")
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("N+|[ACGT]{1,512}"), behavior="isolated")
    tok.decoder = decoders.BPEDecoder()
    trainer = trainers.BpeTrainer(
        vocab_size=n, special_tokens=SPECIAL_TOKENS, initial_alphabet=list(BASES), show_progress=False
    )
    tok.train_from_iterator((s.upper() for s in training_sequences), trainer=trainer)
    return _wrap(tok, f"bpe:{n}")
