"""``repose bag``: write a rosbag2 of camera frames from images, a video or PANDA.

    repose bag out_bag frames/                      # folder of images
    repose bag out_bag clip.mp4 --compressed        # video, JPEG CompressedImage
    repose bag out_bag PANDA/images --panda-json PANDA/annos/person_bbox_train.json --resize 3840x2160
    repose bag out_bag --demo                       # the built-in demo frames

Play it with ``ros2 bag play out_bag`` or ``ros2 run repose_ros replay_node --ros-args -p bag:=out_bag``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Iterator, List, Optional

import numpy as np


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="repose bag", description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="bag folder to create (must not exist)")
    p.add_argument("inputs", nargs="*", help="image files, folders of images, or video files")
    p.add_argument("--demo", action="store_true", help="use the built-in demo frames as input")
    p.add_argument("--panda-json", help="PANDA annotation JSON: take the images it lists, relative to the input")
    p.add_argument("--topic", default="/camera/image_raw", help="image topic (default /camera/image_raw)")
    p.add_argument("--compressed", action="store_true", help="store JPEG CompressedImage on <topic>/compressed")
    p.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")
    p.add_argument("--rate", type=float, default=10.0, help="frame rate of the stamps (Hz)")
    p.add_argument("--resize", default="", help="resize every frame, e.g. 3840x2160 (PANDA in the paper)")
    p.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0: all)")
    p.add_argument("--frame-id", default="camera")
    return p


def _panda_frames(root: Path, json_path: str) -> Iterator[np.ndarray]:
    import cv2

    with open(json_path, encoding="utf-8") as f:
        annos = json.load(f)
    for rel in sorted(annos):
        img = cv2.imread(str(root / rel), cv2.IMREAD_COLOR)
        if img is None:
            raise IOError(f"cannot read PANDA image {root / rel}")
        yield img


def main_bag(argv: Optional[List[str]] = None) -> int:
    """Write the bag; returns 0 on success."""
    args = _parser().parse_args(argv)
    from tqdm import tqdm

    from repose_ros.datasets.bags import parse_size, write_bag
    from repose_ros.datasets.frames import iter_frames

    if Path(args.out).exists():
        raise SystemExit(f"repose bag: {args.out} exists; choose a new folder")
    if args.demo:
        from repose_ros.datasets.demo import demo_frames

        frames = iter(demo_frames(args.max_frames or 6)[0])
    elif args.panda_json:
        if len(args.inputs) != 1:
            raise SystemExit("repose bag: --panda-json takes exactly one input folder (the PANDA image root)")
        frames = _panda_frames(Path(args.inputs[0]), args.panda_json)
    elif args.inputs:
        frames = (f for _, _, f in iter_frames(args.inputs))
    else:
        raise SystemExit("repose bag: give input files/folders, --panda-json or --demo")
    if args.max_frames:
        frames = (f for i, f in zip(range(args.max_frames), frames))
    bar = tqdm(desc="repose bag", unit="frame")
    n = write_bag(args.out, frames, topic=args.topic, compressed=args.compressed, storage=args.storage,
                  rate_hz=args.rate, frame_id=args.frame_id, resize=parse_size(args.resize),
                  progress=lambda _: bar.update(1))
    bar.close()
    print(f"repose bag: {n} frames -> {args.out} ({'CompressedImage' if args.compressed else 'Image'}, "
          f"{args.storage})")
    return 0
