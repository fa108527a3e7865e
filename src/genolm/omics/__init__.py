"""genolm.omics"""
