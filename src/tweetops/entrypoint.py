"""The Docker image's ENTRYPOINT: `docker run IMAGE <command> [options]`.

  serve          `tweetops serve`: FastAPI on $PORT (SageMaker runs `docker run IMAGE serve`)
  batch-predict  `tweetops batch-predict --input URI --output URI` (one AWS Batch array shard)
  train          the SageMaker training contract (tweetops.sagemaker_train)
  pipeline       `tweetops run`: the six stages, writing under TWEETOPS_HOME
  monitor        `tweetops monitor`: drift of the served predictions against the baked model's reference
Anything else is run as a command (`docker run IMAGE tweetops gate ...`, `docker run IMAGE bash`).
"""
from __future__ import annotations

import os
import signal
import sys

USAGE = ("usage: docker run IMAGE serve | batch-predict --input URI --output URI | train | pipeline | monitor "
         "[options]")
COMMANDS = {"serve": ["serve"], "batch-predict": ["batch-predict"], "pipeline": ["run"], "monitor": ["monitor"]}


def _terminate_on_sigterm() -> None:
    """In a container this process is PID 1, and PID 1 ignores SIGTERM unless it installs a handler.

    Raising KeyboardInterrupt lets the CLI stop cleanly (atomic writes leave nothing half-written)
    instead of being killed 10-30 s later by SIGKILL. The server installs its own graceful handler.
    """
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "train":
        _terminate_on_sigterm()
        from tweetops import sagemaker_train

        return sagemaker_train.main(rest)
    if command in COMMANDS:
        if command != "serve":
            _terminate_on_sigterm()
        from tweetops.cli import main as cli_main

        return cli_main([*COMMANDS[command], *rest])
    try:
        os.execvp(command, argv)  # a plain command: replace this process, so signals reach it directly
    except FileNotFoundError:
        print(f"error: unknown command {command!r}. {USAGE}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
