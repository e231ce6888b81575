"""What ``/proc`` tells of a launched pipeline (Linux; no psutil needed): children, roles, memory."""
from __future__ import annotations

import os
from typing import Dict, List, Optional


def proc_children(pid: int) -> List[int]:
    """Return the pids of every descendant of ``pid`` (children, grandchildren, ...)."""
    parents: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        # The command name may contain spaces and parentheses: the fields after the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1:
            parents.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def proc_cmdline(pid: int) -> List[str]:
    """Return the command line of a process ([] if it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def proc_environ(pid: int) -> Dict[str, str]:
    """Return the environment a process was started with ({} if it is gone)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            items = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return {}
    return dict(i.split("=", 1) for i in items if "=" in i)


def proc_rss_kb(pid: int) -> Optional[int]:
    """Return the resident set size of a process in KiB (None if it is gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_state(pid: int) -> str:
    """Return the one-letter state of a process (R, S, T, Z, ...), '' if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return ""
    return stat[stat.rfind(")") + 2:].split()[0]


def node_role(cmdline: List[str]) -> str:
    """Name a pipeline process by its node: ``frontend``, ``aggregator``, ``edge_detector_<i>``."""
    for i, arg in enumerate(cmdline):
        if arg.startswith("__node:=") and i > 0 and cmdline[i - 1] in ("-r", "--remap"):
            return arg.split(":=", 1)[1]
    for arg in cmdline[:3]:
        base = os.path.basename(arg)
        if base.endswith("_node"):
            return base[:-len("_node")]
    return os.path.basename(cmdline[0]) if cmdline else "?"


def pipeline_processes(launch_pid: int) -> Dict[str, int]:
    """Return ``{role: pid}`` of the node processes started by a ``ros2 launch`` process."""
    out = {}
    for pid in proc_children(launch_pid):
        cmd = proc_cmdline(pid)
        if any(os.path.basename(a).endswith("_node") for a in cmd[:3]):
            out[node_role(cmd)] = pid
    return out
