"""``repose bench transport``: what a compressed block transport costs and saves (blocks.transport).

On real frames, per transport (raw bgr8, JPEG at given qualities, PNG): the bytes of a
BlockAssignment's pixels, the time to encode them (partitioner) and decode them (edge detector)
through the code the nodes run (``ros.convert.encode_block`` / ``decode_block``), and the
accuracy of the detector on decoded blocks (COCO mAP50:95 against the ground truth, quadrants of
MOT frames as blocks, the shipped person model at the block's size).
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional, Sequence


def bench_transport(dataset: str, qualities: Sequence[int] = (95, 90, 75), n_frames: int = 12,
                    imgsz: int = 640) -> dict:
    """Measure bytes, encode / decode time and mAP50:95 per transport on ``n_frames`` MOT frames."""
    import numpy as np
    from tqdm import tqdm

    from repose_ros.detectors.backends import make_zoo
    from repose_ros.evaluation.metrics import DetectionEvaluator
    from repose_ros.datasets.mot import find_mot_sequences, mot_frames
    from repose_ros.msg import BlockAssignment
    from repose_ros.ros.convert import decode_block, encode_block

    frames = mot_frames(find_mot_sequences(dataset), n_frames)
    if not frames:
        raise FileNotFoundError(f"no MOT frames under {dataset}")
    transports = [("raw", 0)] + [("jpeg", int(q)) for q in qualities] + [("png", 0)]
    zoo = make_zoo("ultralytics", ["yolov8s"], ["builtin:yolov8s-person"], torch_threads=1)
    key = f"yolov8s@{imgsz}"
    stats = {f"{t}{q or ''}": {"bytes": [], "encode_ms": [], "decode_ms": [], "eval": DetectionEvaluator()}
             for t, q in transports}
    for fr in tqdm(frames, desc="repose bench transport", unit="frame"):
        img = fr.load()
        h, w = img.shape[:2]
        quads = [(0, 0, w // 2, h // 2), (w // 2, 0, w, h // 2), (0, h // 2, w // 2, h), (w // 2, h // 2, w, h)]
        for t, q in transports:
            s = stats[f"{t}{q or ''}"]
            decoded = np.empty_like(img)
            for x0, y0, x1, y1 in quads:
                crop = np.ascontiguousarray(img[y0:y1, x0:x1])
                t0 = time.perf_counter()
                image, compressed = encode_block(crop, None, t, q or 90)
                t1 = time.perf_counter()
                out = decode_block(BlockAssignment(image=image, image_compressed=compressed))
                t2 = time.perf_counter()
                s["bytes"].append(len(image.data) + len(compressed.data))
                s["encode_ms"].append((t1 - t0) * 1000.0)
                s["decode_ms"].append((t2 - t1) * 1000.0)
                decoded[y0:y1, x0:x1] = out
            dets = zoo.detect_crops(key, decoded, quads, conf=0.001, iou=0.6)
            xyxy = np.concatenate([d.xyxy for d in dets]) if dets else np.zeros((0, 4))
            scores = np.concatenate([d.scores for d in dets]) if dets else np.zeros(0)
            s["eval"].add(fr.gt, xyxy, scores, fr.ignore, w, h)
    out = {}
    for name, s in stats.items():
        m = s["eval"].summary()
        out[name] = {"block_kb_median": float(np.median(s["bytes"]) / 1024.0),
                     "encode_ms_median": float(np.median(s["encode_ms"])),
                     "decode_ms_median": float(np.median(s["decode_ms"])),
                     "map50_95": float(m["map50_95"]), "map50": float(m["map50"])}
    return {"dataset": str(dataset), "frames": len(frames), "blocks": "quadrants", "model": key,
            "transports": out}


def main_bench_transport(argv: Optional[List[str]] = None) -> int:
    """Parse arguments, run :func:`bench_transport`, print (and write) the JSON."""
    p = argparse.ArgumentParser(prog="repose bench transport", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True, help="folder with MOT sequences (e.g. ../shared/data/mot17_mini)")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--qualities", type=int, nargs="+", default=[95, 90, 75])
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--json", help="also write the result to this file")
    args = p.parse_args(argv)
    from repose_ros.cli.output import print_result

    print_result(bench_transport(args.dataset, args.qualities, args.frames, args.imgsz), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main_bench_transport())
