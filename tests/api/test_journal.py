"""The journal under faults no server is needed for: a write cut short by a full file system."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from tweetops.serving.journal import read_unshipped


def test_a_write_cut_short_is_undone_so_the_next_record_is_not_glued_to_it(tmp_path):
    # A file-size limit makes the kernel accept part of a write and refuse the rest (EFBIG), as a disk that
    # fills up mid-write does; in a child process, so the limit touches nothing else.
    script = textwrap.dedent(f"""
        import resource, signal
        from pathlib import Path
        from tweetops.serving.journal import Journal, JournalFull
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        journal = Journal(Path({str(tmp_path)!r}))
        journal.append(b'{{"n": 1}}\\n' * 50)  # 450 bytes
        resource.setrlimit(resource.RLIMIT_FSIZE, (700, resource.RLIM_INFINITY))
        try:
            journal.append(b'{{"n": 2}}\\n' * 50)  # 250 of its 450 bytes fit
        except JournalFull as exc:
            print(exc.strerror)
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        journal.append(b'{{"n": 3}}\\n')
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "the prediction journal cannot be written (File too large)"
    [journal] = tmp_path.glob("journal-*.jsonl")
    assert read_unshipped(journal).lines == [b'{"n": 1}'] * 50 + [b'{"n": 3}']
