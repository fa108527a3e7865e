"""genolm.chem"""
