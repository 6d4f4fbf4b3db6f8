"""Run one command and write its own resource usage: ``launch.py RESULT LIMIT -- COMMAND ...``.

Why a launcher: on Linux a child's ``ru_maxrss`` starts from the high-water mark of the memory
it ran in before its ``exec``, and ``subprocess`` spawns with vfork, where that memory is the
parent's. The benchmark keeps every run's ids and ends above 150 MB, so a tap spawned straight
from it reported the benchmark's peak RSS whenever that was larger. This small process spawns
the command instead, reaps it with ``os.wait4`` and writes the command's CPU, peak RSS and wall
time as JSON to RESULT; the command's stdin, stdout and stderr are this process's. It stops the
command (SIGKILL) after LIMIT seconds (0: no limit) and exits with the command's exit code.
Standard library only (run with ``python -I``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write(__doc__ or "")
        return 2
    result, limit, command = argv[0], float(argv[1]), argv[3:]
    start = time.monotonic()
    proc = subprocess.Popen(command)  # noqa: S603 - the benchmark's fixed local commands
    killed = threading.Event()

    def stop() -> None:
        killed.set()
        proc.kill()

    timer = threading.Timer(limit, stop) if limit > 0 else None
    if timer:
        timer.start()
    # The benchmark ending this launcher (SIGTERM) ends the command too.
    signal.signal(signal.SIGTERM, lambda *_: proc.kill())
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if timer:
        timer.cancel()
    proc.returncode = code = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    report = {
        "exit_code": code,
        "killed": killed.is_set(),
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_kib": usage.ru_maxrss,  # Linux reports KiB
    }
    with open(result, "w") as f:
        json.dump(report, f)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
