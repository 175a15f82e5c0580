"""The one exception type for errors a user can cause: its message is shown as it is."""


class TweetopsError(Exception):
    """A bad path, file, parameter or request: one sentence that says what to do."""
