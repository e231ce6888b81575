"""Fast DDS XML profiles for the pipeline's own processes (launch argument ``dds_profile``).

``default`` leaves the environment as it is. ``shm`` selects the shipped profile
``config/fastdds/shm_large.xml`` (a large shared-memory segment for same-host traffic, UDPv4 kept
for discovery, other hosts and processes with the default configuration). Any other value is
the path of a profile file of your own.

Fast DDS reads the profile file named by an environment variable when the process creates its
first participant: ``FASTDDS_DEFAULT_PROFILES_FILE`` in Fast DDS 3 (Kilted, Rolling),
``FASTRTPS_DEFAULT_PROFILES_FILE`` in Fast DDS 2 (Humble, Jazzy). The Kilted RMW still honours
the old name, with a deprecation warning, so the old name is only set where ``ROS_DISTRO`` names a
Fast DDS 2 distribution. The profile holds participant settings only, which rmw_fastrtps applies
without ``RMW_FASTRTPS_USE_QOS_FROM_XML``. Other RMW implementations ignore both variables.
"""
from __future__ import annotations

import os
from typing import Dict, Mapping, Optional

SHIPPED = {"shm": "fastdds/shm_large.xml"}
DEFAULT_CHOICES = ("", "default", "none")
FASTDDS_VAR = "FASTDDS_DEFAULT_PROFILES_FILE"
FASTRTPS_VAR = "FASTRTPS_DEFAULT_PROFILES_FILE"
# Distributions whose Fast DDS (2.x) reads only the FASTRTPS_ name.
FASTDDS2_DISTROS = ("foxy", "galactic", "humble", "iron", "jazzy")


def resolve_profile(value: str) -> Optional[str]:
    """Return the absolute path of the profile that ``dds_profile:=value`` selects, or None for the default.

    Raises FileNotFoundError for a path (or a shipped profile) that does not exist.
    """
    value = (value or "").strip()
    if value.lower() in DEFAULT_CHOICES:
        return None
    if value in SHIPPED:
        from repose_ros.core.paths import find_config_file

        return str(find_config_file(SHIPPED[value]))
    path = os.path.abspath(os.path.expanduser(value))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"dds_profile: no such file {value!r} (use default, "
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
