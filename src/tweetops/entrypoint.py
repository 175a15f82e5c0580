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
import sys

from tweetops.errors import sigterm_interrupts

USAGE = ("usage: docker run IMAGE serve | batch-predict --input URI --output URI | train | pipeline | monitor "
         "[options]")
COMMANDS = {"serve": ["serve"], "batch-predict": ["batch-predict"], "pipeline": ["run"], "monitor": ["monitor"]}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "train":
        # In a container this process is PID 1, which ignores SIGTERM unless it handles it: stop cleanly
        # now rather than be killed 10-30 s later. The CLI's commands do the same (the server its own way).
        with sigterm_interrupts():
            try:
                from tweetops import sagemaker_train

                return sagemaker_train.main(rest)
            except KeyboardInterrupt:  # while the modules load, or once training ended: nothing to clean up
                print("interrupted", file=sys.stderr)
                return 130
    if command in COMMANDS:
        from tweetops.cli import main as cli_main

        return cli_main([*COMMANDS[command], *rest])
    try:
        os.execvp(command, argv)  # a plain command: replace this process, so signals reach it directly
    except FileNotFoundError:
        print(f"error: unknown command {command!r}. {USAGE}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
