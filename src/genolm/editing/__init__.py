"""genolm.editing"""
