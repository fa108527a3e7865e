"""genolm.scale"""
