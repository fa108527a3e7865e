"""genolm.genome"""
