"""Sequence generation (LM sampling, GAN) and model-guided design."""
