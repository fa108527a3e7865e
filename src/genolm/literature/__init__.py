"""genolm.literature"""
