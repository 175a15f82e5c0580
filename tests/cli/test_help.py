"""The `tweetops` command's own surface: a help that loads nothing heavy, a description and an example for
every command, --version, and `tweetops env` (real console-script processes where the process matters)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tweetops import __version__
from tweetops.cli import build_parser
from tweetops.settings import Environment

TWEETOPS = str(Path(sys.executable).parent / "tweetops")
HEAVY = {"numpy", "pandas", "scipy", "sklearn", "pyarrow", "pydantic", "yaml", "sqlalchemy", "fastapi", "starlette",
         "uvicorn", "mlflow", "boto3", "matplotlib", "vaderSentiment"}


def tweetops(*args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([TWEETOPS, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **env})


def _commands(parser, prefix=()):
    """(path, subparser) of every command and sub-command, e.g. (("report", "compare"), parser)."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for name, sub in action.choices.items():
            yield (*prefix, name), sub
            yield from _commands(sub, (*prefix, name))


def test_the_help_imports_no_library_heavier_than_argparse():
    probe = ("import sys\nfrom tweetops.cli import build_parser\nbuild_parser()\n"
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                                timeout=60).stdout.split())
    assert loaded & HEAVY == set()


def test_every_command_has_a_description_and_an_example():
    commands = dict(_commands(build_parser()))
    assert {path[0] for path in commands} == {"run", "stage", "publish", "gate", "registry", "report", "serve",
                                              "model-path", "batch-predict", "monitor", "notify", "env"}
    for path, parser in commands.items():
        assert parser.description and len(parser.description) > 40, path
        assert parser.epilog.startswith("example"), path
        assert all(line.startswith("  tweetops ") or "=" in line.split()[0]
                   for line in parser.epilog.splitlines()[1:]), path


@pytest.mark.parametrize("args", [("--help",), ("run", "--help"), ("report", "compare", "--help")])
def test_help_exits_0_and_names_the_environment(args):
    done = tweetops(*args)
    assert done.returncode == 0 and done.stderr == ""
    if args == ("--help",):
        assert "tweetops env" in done.stdout and "DATABASE_URL" in done.stdout and "exit status" in done.stdout
    else:
        assert "example" in done.stdout


def test_every_option_names_every_source_of_its_default():
    """--model is resolved MODEL_DIR, MODEL_URI, SageMaker's folder, the image's bundle, the champion, and every
    --params from TWEETOPS_PARAMS first: a help that names fewer hides where a model or params came from."""
    for path, parser in _commands(build_parser()):
        for action in parser._actions:
            if "--model" in action.option_strings:
                assert all(source in action.help for source in ("MODEL_DIR", "MODEL_URI", "/opt/ml/model",
                                                                "champion")), path
            if "--params" in action.option_strings:
                assert "TWEETOPS_PARAMS" in action.help, path


def test_version():
    done = tweetops("--version")
    assert (done.returncode, done.stdout) == (0, f"tweetops {__version__}\n")


def test_a_wrong_choice_is_refused_by_name():
    done = tweetops("serve", "--log-level", "loud")
    assert done.returncode == 2
    assert "argument --log-level: invalid choice: 'LOUD'" in done.stderr


def test_env_lists_every_variable_and_hides_secrets():
    done = tweetops("env", "--values", TWEETOPS_API_KEYS="sekrit", PORT="9001",
                    DATABASE_URL="postgresql://app:sekrit@db.internal:5432/tweets", SM_CHANNEL_TRAINING="/opt/ml/in",
                    SM_CHANNEL_Extra="s3://user:sekrit@host/x")
    assert done.returncode == 0, done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines() if not line.startswith(" ")]
    assert names == [name for name, _, _ in Environment.variables()]
    assert "sekrit" not in done.stdout
    lines = done.stdout.splitlines()
    assert lines[names.index("TWEETOPS_API_KEYS") * 2 + 1].strip() == "= (set, hidden)"
    assert lines[names.index("PORT") * 2 + 1].strip() == "= 9001"
    assert lines[names.index("DATABASE_URL") * 2 + 1].strip() == "= postgresql://app:***@db.internal:5432/tweets"
    assert names[-1] == "SM_CHANNEL_<NAME>"  # read by prefix (SageMaker training's input channels)
    assert lines[-1].strip() == "= SM_CHANNEL_Extra=s3://user:***@host/x, SM_CHANNEL_TRAINING=/opt/ml/in"


def test_env_refuses_a_bad_value_with_one_sentence():
    done = tweetops("env", PORT="eighty")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: PORT") and len(done.stderr.strip().splitlines()) == 1


def test_a_reader_that_leaves_early_gets_no_traceback():
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written (`| head -0`)
    command = subprocess.Popen([TWEETOPS, "env"], stdout=write, stderr=subprocess.PIPE)
    os.close(write)
    assert command.wait(timeout=60) == 141 and command.stderr.read() == b""


def test_bare_make_lists_every_target_and_builds_nothing(tmp_path):
    root = Path(__file__).resolve().parents[2]
    phony = next(line for line in (root / "Makefile").read_text().splitlines() if line.startswith(".PHONY:"))
    done = subprocess.run(["make", "-C", str(root), "--no-print-directory"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("usage: make TARGET")
    listed = {line.split()[0] for line in done.stdout.splitlines()[1:] if line.startswith("  ") and line[2] != " "}
    assert listed == set(phony.split()[1:])
