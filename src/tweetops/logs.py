"""One log line per event, tagged with the stage (logger name) that wrote it."""
from __future__ import annotations

import contextlib
import logging
import time

FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"


def setup_logging(level: str = "INFO") -> None:
    """`level` is the command's --log-level, else LOG_LEVEL (tweetops.settings), else INFO."""
    logging.basicConfig(level=level.upper(), format=FORMAT, force=True)


@contextlib.contextmanager
def timed(log: logging.Logger, what: str):
    """Log `what` with its wall time once the block ends."""
    start = time.perf_counter()
    yield
    log.info("%s in %.2fs", what, time.perf_counter() - start)
