"""genolm.core.tokenizers"""
