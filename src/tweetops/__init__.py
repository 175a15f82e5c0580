"""tweetops: a tweet sentiment classifier with its whole CI/CD/CT pipeline."""

__version__ = "0.1.0"
