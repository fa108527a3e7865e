"""genolm.serve"""
