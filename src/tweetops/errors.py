"""The one exception type for errors a user can cause (its message is shown as it is), and how a
command turns it into one sentence and an exit status."""
import contextlib
import errno
import os
import signal
import sys
import threading


class TweetopsError(Exception):
    """A bad path, file, parameter or request: one sentence that says what to do."""


# A disk, a quota or the file size limit (ulimit -f) full: the machine's state, not a defect, so one sentence too.
NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as Ctrl-C's exception so that every `except KeyboardInterrupt` clean-up runs. Not
    KeyboardInterrupt itself: CPython marks an exact KeyboardInterrupt that passes out of code it runs while a
    module loads as unhandled, and then ends the process by SIGINT even after we caught it (seen: a training
    stopped during a lazy import exited -2 instead of 130, with "interrupted" printed)."""


_terminated = threading.Event()  # a SIGTERM arrived in the current sigterm_interrupts block


@contextlib.contextmanager
def sigterm_interrupts():
    """While the block runs, SIGTERM stops it as Ctrl-C does (Terminated, a KeyboardInterrupt), so `finally`
    blocks and context managers run: temporary files and folders are removed, atomic writes leave nothing
    half-written. By default SIGTERM would end the process on the spot; PID 1 in a container would even ignore
    it."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        _terminated.set()
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _terminated.clear()


def stop_if_terminated() -> None:
    """Raise Terminated again when a SIGTERM arrived whose exception was swallowed (a library's bare `except:`
    around an optional import: seen once in about 90 stops of a training while its modules loaded, which then ran
    to the end with the signal ignored). Long jobs call it between steps."""
    if _terminated.is_set():
        raise Terminated


def guarded(call, *args, sigterm: bool = True) -> int:
    """Run a command: a TweetopsError or a full disk becomes `error: <sentence>` on stderr and exit status 2,
    an interrupt (Ctrl-C, or SIGTERM unless `sigterm` is False) exit status 130, a closed pipe on stdout 141;
    never a traceback."""
    try:
        with sigterm_interrupts() if sigterm else contextlib.nullcontext():
            status = call(*args)
            sys.stdout.flush()  # a closed pipe shows here, inside the guard, rather than at exit
            return status
    except TweetopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (`tweetops env | head`): stop quietly, as SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the final flush cannot fail again
        return 141
    except OSError as exc:
        if exc.errno not in NO_ROOM:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        # os.strerror, not exc.strerror: pyarrow's is two sentences ("error writing bytes to file. detail: ...").
        print(f"error: could not write{where}: {os.strerror(exc.errno).lower()}; free some space (or raise the "
              "file size limit) and run the command again.", file=sys.stderr)
        return 2
