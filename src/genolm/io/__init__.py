"""genolm.io"""
