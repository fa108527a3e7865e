"""genolm: language models and deep learning for genetics research."""

__version__ = "0.1.0"
