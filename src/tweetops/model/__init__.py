"""What the model bundle pickles, and the bundle itself: the normaliser, the lexicon features, the one
pipeline builder, the serving fast path, and the hash-checked bundle folder.

Nothing here knows about stages, registries or HTTP, so a bundle loads wherever this package does.
"""

LABELS = ("negative", "neutral", "positive")  # the classes, in the order of every probability vector
