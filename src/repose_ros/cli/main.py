"""The ``repose`` command: one entry point, one sub-command per job.

Sub-commands::

    repose demo                 run the ROS pipeline on the built-in default input
    repose detect IMAGE|VIDEO   run the whole method in one process; annotated images + JSON
    repose train-dca            train the RL-DCA policy (PPO)
    repose profile              measure latency / precision profiles of the model family
    repose coarse-study         recall and block time of the coarse stage per coarse setting
    repose partition-study      candidate partitions end to end, and how the planner's value ranks them
    repose eval --dataset KIND:PATH   accuracy/latency against full frame, uniform, SAHI, REMIX
    repose bag OUT INPUTS...    write a rosbag2 of camera frames
    repose export               weights to ONNX / OpenVINO / TensorRT (offline); --compare: latency, mAP
    repose bench overhead       partition + planning time per frame
    repose soak --minutes M     long run of the pipeline (fake detector): frames, drops, memory
"""
from __future__ import annotations

import importlib
import sys
from typing import List, Optional

# sub-command -> (module, function, one-line help)
COMMANDS = {
    "demo": ("repose_ros.cli.demo", "main_demo", "run the ROS 2 pipeline on the built-in default input"),
    "detect": ("repose_ros.cli.detect", "main_detect", "run RE-POSE in one process on images or videos"),
    "train-dca": ("repose_ros.cli.train_dca", "main_train", "train the RL-DCA partitioning policy"),
    "profile": ("repose_ros.cli.profile", "main_profile", "measure latency and precision profiles"),
    "coarse-study": ("repose_ros.cli.coarse_study", "main_coarse_study",
                     "recall and block time of the coarse stage per input size and threshold"),
    "partition-study": ("repose_ros.cli.partition_study", "main_partition_study",
                        "candidate partitions end to end, and how the planner's value ranks them"),
    "eval": ("repose_ros.cli.eval", "main_eval", "accuracy and latency of RE-POSE against the baselines"),
    "bag": ("repose_ros.cli.bag", "main_bag", "write a rosbag2 of camera frames (images, video, PANDA)"),
    "export": ("repose_ros.cli.export", "main_export",
               "export the weights to onnx / openvino / engine; --compare measures them"),
    "soak": ("repose_ros.cli.soak", "main_soak", "long run of the launched pipeline: frames, drops, memory"),
    "bench": ("repose_ros.cli.bench", "main_bench", "benchmarks (overhead)"),
}


def _usage() -> str:
    lines = ["usage: repose <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "repose <command> --help shows the options of a command."]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Dispatch to a sub-command; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"repose: unknown command '{cmd}'\n\n{_usage()}", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[cmd]
    rc = getattr(importlib.import_module(module), func)(rest)
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
