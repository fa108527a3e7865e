"""genolm.core"""
