"""Argument helpers shared by the commands."""
from __future__ import annotations

import argparse
from typing import Any, Callable, List

from repose_ros.core.config import CHECK_VALUES


def comma_list(text: Any, cast: Callable[[str], Any] = str) -> List[Any]:
    """Split a comma-separated option into ``cast`` items (spaces removed, empty items skipped)."""
    return [cast(x) for x in str(text).replace(" ", "").split(",") if x]


def unit_share(text: str) -> float:
    """Argparse type: a share in [0, 1)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {v:g}")
    return v


def add_policy_options(parser: argparse.ArgumentParser, whose: str = "rl_dca") -> None:
    """Add ``--policy``, ``--policy-check/--no-policy-check``, ``--policy-check-value`` and ``--search-share``.

    None (an option not given): the deployed setting.

    ``whose`` names what runs the policy in the help texts (``rl_dca``, ``the rl_dca candidate``).
    """
    parser.add_argument("--policy", default=None,
                        help=f"RL-DCA policy of {whose}: scale:F (F x the bandwidth on every frame), builtin:scale "
                             "(learned scale choice), builtin:ppo (or empty: the keep / merge / split one), a .zip "
                             "or a scale .npz "
                             "(default: the policy setting of config/repose.yaml)")
    parser.add_argument("--policy-check", action=argparse.BooleanOptionalAction, default=None,
                        help=f"{whose}: keep the policy's choice only where the planner values it more "
                             "(default: the policy_check setting of config/repose.yaml)")
    parser.add_argument("--policy-check-value", choices=CHECK_VALUES, default=None,
                        help=f"{whose}'s check of a scale policy compares the plans after budget spending (spent) "
                             "or the knapsack plans (plan) (default: the policy_check_value setting of "
                             "config/repose.yaml)")
    parser.add_argument("--search-share", type=unit_share, default=None,
                        help=f"{whose}: after the policy, greedy look-ahead from its clusters until the partition "
                             "has taken this share of the detection budget; 0: none (default: the search_share "
                             "setting of config/repose.yaml)")
