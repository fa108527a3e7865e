"""Tokenizers for every genolm 'language'. DNA: base (one token per nucleotide), k-mer, BPE."""

from .dna import build_dna_tokenizer, parse_tokenizer_spec, SPECIAL_TOKENS

__all__ = ["build_dna_tokenizer", "parse_tokenizer_spec", "SPECIAL_TOKENS"]
