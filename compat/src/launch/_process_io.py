"""The operating-system side of the processes the LaunchService supervises: start, read, close."""

import os
import pty
import subprocess
from typing import Callable
from typing import Iterable
from typing import Iterator
from typing import List
from typing import Optional
from typing import Set
from typing import Text
from typing import Tuple


class ProcessRecord:
    """One process started by an ExecuteProcess action (respawns reuse the record)."""

    def __init__(self, action, spec, label: Text) -> None:
        self.action = action
        self.spec = spec
        self.label = label
        self.popen: Optional[subprocess.Popen] = None
        self.pid: Optional[int] = None
        self.running = False
        self.returncode: Optional[int] = None
        self.shutdown_started: Optional[float] = None
        self.escalations: Set[str] = set()
        self.retries = 0


def close_quietly(close: Callable, items: Iterable) -> None:
    """Call ``close`` on each item, ignoring OSError (already closed, already gone)."""
    for item in items:
        try:
            close(item)
        except OSError:
            pass


def open_process(spec) -> Tuple[subprocess.Popen, List[Tuple[int, Text]], List[int]]:
    """
    Start the process of a ProcessSpec; return it, its (fd, 'stdout'/'stderr') and pty masters.

    With ``emulate_tty`` the outputs are pseudo-terminals (the caller closes the masters),
    else pipes.
    """
    masters = []
    if spec.emulate_tty:
        out_master, out_slave = pty.openpty()
        err_master, err_slave = pty.openpty()
        masters = [out_master, err_master]
        stdout, stderr = out_slave, err_slave
    else:
        stdout = stderr = subprocess.PIPE
    args = ' '.join(spec.cmd) if spec.shell else spec.cmd
    try:
        # Like osrf_pycommon's async_execute_process (used by the real launch): no new
        # session or process group, so a terminal's Ctrl-C reaches the process directly.
        popen = subprocess.Popen(
            args, cwd=spec.cwd, env=spec.env, shell=spec.shell, stdin=subprocess.DEVNULL,
            stdout=stdout, stderr=stderr)
    except OSError:
        close_quietly(os.close, masters)
        raise
    finally:
        if spec.emulate_tty:
            os.close(stdout)
            os.close(stderr)
    if spec.emulate_tty:
        return popen, [(masters[0], 'stdout'), (masters[1], 'stderr')], masters
    return popen, [(popen.stdout.fileno(), 'stdout'), (popen.stderr.fileno(), 'stderr')], masters


def read_lines(fd: int) -> Iterator[bytes]:
    """Yield the lines (without the newline) read from ``fd`` until end of file or an error."""
    pending = b''
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b'\n')
        yield from lines
    if pending:
        yield pending
