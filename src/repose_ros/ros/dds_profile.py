"""Fast DDS XML profiles for the pipeline's own processes (launch argument ``dds_profile``).

``default`` leaves the environment as it is. ``shm`` selects the shipped profile
``config/fastdds/shm_large.xml`` (a large shared-memory segment for same-host traffic, UDPv4 kept
for discovery, other hosts and processes with the default configuration, reliable writers that
announce their data every 100 ms; ``shm_large_fastdds2.xml`` on Humble and Jazzy, whose Fast DDS 2
names the writer times differently). ``auto`` (the launch file's default) is ``shm`` unless the
environment has already chosen: a profile file of its own, ``FASTDDS_BUILTIN_TRANSPORTS`` (a
LARGE_DATA process cannot reach one that offers UDP and shared memory only), an RMW other than
Fast DDS, or a /dev/shm smaller than 512 MiB (a container's default); then it is ``default``
(:func:`auto_choice` says why). Any other value is the path of a
profile file of your own.

Fast DDS reads the profile file named by an environment variable when the process creates its
first participant: ``FASTDDS_DEFAULT_PROFILES_FILE`` in Fast DDS 3 (Kilted, Rolling),
``FASTRTPS_DEFAULT_PROFILES_FILE`` in Fast DDS 2 (Humble, Jazzy). The Kilted RMW still honours
the old name, with a deprecation warning, so the old name is only set where ``ROS_DISTRO`` names a
Fast DDS 2 distribution. The profile holds participant settings only, which rmw_fastrtps applies
without ``RMW_FASTRTPS_USE_QOS_FROM_XML``. Other RMW implementations ignore both variables.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, Mapping, Optional, Tuple

SHIPPED = {"shm": "fastdds/shm_large.xml"}
SHIPPED_FASTDDS2 = {"shm": "fastdds/shm_large_fastdds2.xml"}
DEFAULT_CHOICES = ("", "default", "none")
AUTO = "auto"
FASTDDS_RMWS = ("rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")
FASTDDS_VAR = "FASTDDS_DEFAULT_PROFILES_FILE"
FASTRTPS_VAR = "FASTRTPS_DEFAULT_PROFILES_FILE"
# Distributions whose Fast DDS (2.x) reads only the FASTRTPS_ name.
FASTDDS2_DISTROS = ("foxy", "galactic", "humble", "iron", "jazzy")


MIN_SHM_BYTES = 512 * 1024 * 1024
"""``auto`` keeps the environment's settings when /dev/shm is smaller (a container's default is 64 MiB:
the profile's 128 MiB segments would not fit, and a process that writes past the end of a full tmpfs dies)."""


def shm_size(path: str = "/dev/shm") -> Optional[int]:
    """Return the size in bytes of the shared-memory file system, or None where there is none."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_frsize * st.f_blocks


def auto_choice(environ: Optional[Mapping[str, str]] = None,
                shm_bytes: Optional[Callable[[], Optional[int]]] = None) -> Tuple[str, str]:
    """Return what ``dds_profile:=auto`` stands for in ``environ`` (default: this process's): ``(choice, why)``.

    ``choice`` is ``"shm"`` or ``"default"``; ``why`` is a sentence for the launch log.
    ``shm_bytes`` returns the size of /dev/shm (default :func:`shm_size`).
    """
    environ = os.environ if environ is None else environ
    for var in (FASTDDS_VAR, FASTRTPS_VAR):
        if environ.get(var):
            return "default", f"{var} is set: the environment's own profile file applies"
    if environ.get("FASTDDS_BUILTIN_TRANSPORTS"):
        return "default", (f"FASTDDS_BUILTIN_TRANSPORTS={environ['FASTDDS_BUILTIN_TRANSPORTS']} is set: "
                           "the environment's transports apply")
    rmw = environ.get("RMW_IMPLEMENTATION", "")
    if rmw and rmw not in FASTDDS_RMWS:
        return "default", f"RMW_IMPLEMENTATION={rmw} is not Fast DDS"
    size = (shm_bytes or shm_size)()
    if size is not None and size < MIN_SHM_BYTES:
        return "default", (f"/dev/shm holds only {size / 2**20:.0f} MiB (a container without --ipc=host or "
                           f"--shm-size?): too small for the profile's 128 MiB segments")
    return "shm", "the shipped shared-memory profile (large segments, UDPv4 kept, 100 ms heartbeats)"


def resolve_profile(value: str, environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """Return the absolute path of the profile that ``dds_profile:=value`` selects, or None for the default.

    ``environ`` (default: this process's) decides ``auto`` and which Fast DDS the shipped profiles
    are written for. Raises FileNotFoundError for a path (or a shipped profile) that does not exist.
    """
    return choose_profile(value, environ)[0]


def choose_profile(value: str, environ: Optional[Mapping[str, str]] = None) -> Tuple[Optional[str], str]:
    """Return ``(path or None, why)``: :func:`resolve_profile` and, for ``auto``, why it chose (else "")."""
    environ = os.environ if environ is None else environ
    value = (value or "").strip()
    why = ""
    if value.lower() == AUTO:
        value, why = auto_choice(environ)
    return _profile_path(value, environ), why


def _profile_path(value: str, environ: Mapping[str, str]) -> Optional[str]:
    """Return the path of a non-``auto`` choice (None for the default); FileNotFoundError if missing."""
    if value.lower() in DEFAULT_CHOICES:
        return None
    if value in SHIPPED:
        from repose_ros.core.paths import find_config_file

        fastdds2 = environ.get("ROS_DISTRO", "").lower() in FASTDDS2_DISTROS
        return str(find_config_file((SHIPPED_FASTDDS2 if fastdds2 else SHIPPED)[value]))
    path = os.path.abspath(os.path.expanduser(value))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"dds_profile: no such file {value!r} (use {AUTO}, default, "
                                f"{', '.join(SHIPPED)} or the path of a Fast DDS XML profile)")
    return path


def profile_env(path: Optional[str], environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """Return the environment variables that make a process's Fast DDS load ``path`` (empty for None)."""
    if path is None:
        return {}
    environ = os.environ if environ is None else environ
    env = {FASTDDS_VAR: path}
    if environ.get("ROS_DISTRO", "").lower() in FASTDDS2_DISTROS:
        env[FASTRTPS_VAR] = path
    return env
