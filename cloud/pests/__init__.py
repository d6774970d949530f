"""Pests from trap photos: the card counter (counting.py) and the species classifier interface (classifier.py)."""
