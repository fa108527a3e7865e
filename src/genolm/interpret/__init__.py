"""genolm.interpret"""
