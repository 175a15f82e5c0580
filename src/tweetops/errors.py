"""The one exception type for errors a user can cause (its message is shown as it is), and how a
command turns it into one sentence and an exit status."""
import sys


class TweetopsError(Exception):
    """A bad path, file, parameter or request: one sentence that says what to do."""


def guarded(call, *args) -> int:
    """Run a command: a TweetopsError becomes `error: <sentence>` on stderr and exit status 2, an
    interrupt (Ctrl-C, or SIGTERM where the entrypoint maps it) exit status 130; never a traceback."""
    try:
        return call(*args)
    except TweetopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
