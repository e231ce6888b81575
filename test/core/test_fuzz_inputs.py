"""Hostile input: fuzz the image decoding, the frame assembler and every message handler.

* ``decode_raw`` / ``decode_compressed`` with random sizes, encodings, steps and bytes either
  succeed or raise :class:`ImageDecodeError`, never anything else, and never allocate more than
  the size limit allows (measured with tracemalloc; numpy and OpenCV's Python arrays are traced).
* :class:`FrameAssembler` under random sequences of plans, results, polls: every planned frame is
  released exactly once, memory stays bounded.
* The nodes' message handlers (camera, partitioner, edge detector, aggregator) called in-process
  with random field values: no exception escapes (an escaping exception kills the node process).
"""
import os
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from repose_ros.core.aggregation import FrameAssembler
from repose_ros.core.detections import Detections
from repose_ros.core.image_codec import (ImageDecodeError, SizeLimit, SUPPORTED_ENCODINGS, decode_compressed,
                                         decode_raw, pixel_type)

cv2 = pytest.importorskip("cv2")

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMIT = SizeLimit(64, 48)
# Largest legitimate output (64 x 48 x 3 bytes) plus intermediate copies (16-bit, 4 channels,
# conversions) and the decoders' bookkeeping: far below what a forged header could ask for.
ALLOC_BOUND = 64 * 48 * 4 * 2 * 4 + 256 * 1024

U32 = 2 ** 32 - 1
sizes = st.one_of(st.integers(-3, 80), st.integers(0, U32), st.sampled_from([0, 1, 2, 3, 47, 48, 49, 63, 64, 65]))
TYPE_ONLY = ["8UC1", "8UC3", "8UC4", "8U", "16UC1", "16UC3", "16UC4", "8UC2", "32FC1", "64FC3", "16SC1", "8UC0"]
encodings = st.one_of(st.sampled_from(SUPPORTED_ENCODINGS), st.text(max_size=12), st.sampled_from(TYPE_ONLY),
                      st.sampled_from(["yuv420", "BGR8", "bgr8 ", "nv12", "bayer_rggb", "bgr16 ", ""]))
ambiguous_as = st.sampled_from(["", "bgr8", "rgb8", "rgba8", "mono8", "mono16", "bgr16", "yuyv", "bayer_gbrg16",
                                "junk", "8UC3"])


def _bpp(enc):
    """Bytes per pixel of an encoding (type-only ones from their type; 1 for unknown ones)."""
    if enc in SUPPORTED_ENCODINGS:
        enc = pixel_type(enc)
    try:
        depth, ch = enc.split("C")
        return int(depth[:-1]) // 8 * int(ch)
    except ValueError:
        return 1


def _peak(fn):
    """Run ``fn``; return (result or exception, peak traced bytes)."""
    tracemalloc.start()
    try:
        try:
            out = fn()
        except Exception as exc:  # noqa: BLE001 - returned to the caller for inspection
            out = exc
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _check_decoded(out, peak):
    if isinstance(out, Exception):
        assert isinstance(out, ImageDecodeError), f"{type(out).__name__}: {out}"
        assert out.reason
    else:
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
        assert 0 < out.shape[1] <= LIMIT.max_width and 0 < out.shape[0] <= LIMIT.max_height
    assert peak <= ALLOC_BOUND, f"{peak} bytes allocated"


@st.composite
def raw_images(draw):
    """Fields of a sensor_msgs/Image: mostly near-valid, sometimes wild."""
    enc = draw(st.sampled_from(SUPPORTED_ENCODINGS)) if draw(st.integers(0, 4)) else draw(encodings)
    w, h = draw(sizes), draw(sizes)
    row = max(0, w) * _bpp(enc)
    step = draw(st.one_of(st.integers(row - 3, row + 9), st.integers(0, U32)))
    # A buffer that fits the fields only while they are small: a row of a 2^32-pixel-wide image would take
    # gigabytes of the test's own memory (the decoder must refuse such fields without one).
    if draw(st.integers(0, 3)) and 0 < h <= 80 and 0 <= step <= 2000 and row <= 2000:
        need = step * (h - 1) + row + draw(st.integers(-4, 4))
        data = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))).integers(
            0, 256, max(0, need), dtype=np.uint8).tobytes()  # large buffers: numpy, not hypothesis bytes
    else:
        data = draw(st.binary(max_size=512))
    kind = draw(st.sampled_from([bytes, bytearray, memoryview, "array"]))
    if kind == "array":
        import array

        data = array.array("B", data)
    else:
        data = kind(data)
    return enc, h, w, step, data, draw(st.booleans())


@FUZZ
@given(raw_images(), ambiguous_as)
def test_decode_raw_only_refuses_or_decodes_within_the_limit(args, ambiguous):
    """Random Image fields (and ways to read type-only encodings): a BGR frame within the limit, or ImageDecodeError."""
    enc, h, w, step, data, big = args
    out, peak = _peak(lambda: decode_raw(enc, h, w, step, data, big, LIMIT, ambiguous))
    _check_decoded(out, peak)
    if not isinstance(out, Exception):
        assert out.shape[:2] == (h, w)
    elif enc not in SUPPORTED_ENCODINGS and not enc.startswith(("8U", "16U")):
        assert out.reason in ("bad_encoding", "ambiguous_encoding"), out


@pytest.mark.parametrize("enc", TYPE_ONLY)
def test_type_only_encodings_are_refused_by_default(enc):
    """8UC3, 16UC1, ...: refused as ambiguous, not guessed, whatever the data."""
    out, peak = _peak(lambda: decode_raw(enc, 4, 4, 64, bytes(256), False, LIMIT))
    assert isinstance(out, ImageDecodeError) and out.reason == "ambiguous_encoding", out
    assert peak <= ALLOC_BOUND


def _encoded(ext, h, w, seed):
    img = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


@st.composite
def compressed_images(draw):
    """Random bytes, or a real small image (JPEG, PNG, BMP, ...) mutated: flips, truncation, forged size."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=600))
    ext = draw(st.sampled_from([".jpg", ".png", ".bmp", ".tiff", ".webp", ".ppm"]))
    data = bytearray(_encoded(ext, draw(st.integers(1, 70)), draw(st.integers(1, 70)), draw(st.integers(0, 5))))
    for _ in range(draw(st.integers(0, 6))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        # Forge a large size into the header fields a decoder reads first.
        big = draw(st.integers(65, 6000)).to_bytes(4, "big")
        for pos in draw(st.lists(st.integers(0, min(len(data), 64) - 1), max_size=4)):
            data[pos:pos + 2] = big[2:]
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    return bytes(data)


@FUZZ
@given(compressed_images(), st.sampled_from(["jpeg", "png", "", "rgb8; jpeg compressed bgr8", "bmp"]))
def test_decode_compressed_only_refuses_or_decodes_within_the_limit(data, fmt):
    """Random CompressedImage data: a BGR frame within the limit, or ImageDecodeError."""
    out, peak = _peak(lambda: decode_compressed(fmt, data, LIMIT))
    _check_decoded(out, peak)


def _jpeg_with_forged_size(w, h, pad_segments):
    """A small JPEG whose SOF claims ``w x h``, after ``pad_segments`` 60 KB comment segments."""
    data = bytearray(_encoded(".jpg", 16, 16, 0))
    i = 2
    while data[i + 1] not in (0xC0, 0xC1, 0xC2):
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    data[i + 5:i + 7] = h.to_bytes(2, "big")
    data[i + 7:i + 9] = w.to_bytes(2, "big")
    pad = b"".join(b"\xff\xfe" + (60002).to_bytes(2, "big") + b"\0" * 60000 for _ in range(pad_segments))
    return bytes(data[:2]) + pad + bytes(data[2:])


@pytest.mark.parametrize("pad_segments", [0, 2])
def test_forged_jpeg_size_is_refused_before_decoding(pad_segments):
    """A JPEG claiming 4000x3000 is refused from its header, even when the SOF is beyond 64 KB."""
    data = _jpeg_with_forged_size(4000, 3000, pad_segments)
    out, peak = _peak(lambda: decode_compressed("jpeg", data, LIMIT))
    assert isinstance(out, ImageDecodeError) and out.reason == "too_large", out
    assert peak <= ALLOC_BOUND + len(data)


def test_forged_bmp_size_is_refused_before_decoding():
    """A BMP (a format image_transport never sends) claiming 4000x3000 allocates nothing large."""
    data = bytearray(_encoded(".bmp", 8, 8, 0))
    data[18:22] = (4000).to_bytes(4, "little", signed=True)
    data[22:26] = (3000).to_bytes(4, "little", signed=True)
    out, peak = _peak(lambda: decode_compressed("bmp", bytes(data), LIMIT))
    assert isinstance(out, ImageDecodeError) and out.reason == "bad_encoding", out
    assert peak <= ALLOC_BOUND


@pytest.mark.parametrize("enc", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"])
def test_packed_yuv_with_odd_width_is_refused(enc):
    """Two pixels share one YUV 4:2:2 sample: an odd width is refused, not an OpenCV assertion."""
    with pytest.raises(ImageDecodeError) as err:
        decode_raw(enc, 2, 3, 6, bytes(12))
    assert err.value.reason == "bad_size"


# ------------------------------------------------------------------------------------------------
# FrameAssembler

def _dets(n, seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 200, (n, 2)).astype(np.float32)
    wh = rng.uniform(1, 30, (n, 2)).astype(np.float32)
    return Detections(np.hstack([xy, xy + wh]), rng.uniform(0, 1, n).astype(np.float32), np.zeros(n, np.int32))


ops = st.lists(st.one_of(
    st.tuples(st.just("plan"), st.integers(0, 40), st.integers(0, 5), st.floats(0, 30), st.booleans(),
              st.booleans()),
    st.tuples(st.just("result"), st.integers(-2, 45), st.integers(-1, 6), st.booleans(), st.integers(0, 4)),
    st.tuples(st.just("poll"), st.floats(0, 40)),
), max_size=120)


@FUZZ
@given(ops, st.integers(1, 8))
def test_assembler_releases_each_planned_frame_exactly_once(seq, max_pending):
    """Random plans/results/polls: one release per planned frame, bounded memory, no surprise exception."""
    a = FrameAssembler(max_pending=max_pending, released_memory=64)
    released, planned = [], set()
    for op in seq:
        if op[0] == "plan":
            _, fs, n, deadline, drop, bad_rects = op
            rects = [(b * 10, 0, b * 10 + 10, 10) for b in range(n + (1 if bad_rects else 0))]
            if bad_rects and fs not in planned:  # a repeated plan is ignored before it is checked
                with pytest.raises(ValueError):
                    a.add_plan(fs, n, deadline, _dets(3, fs), rects, "drop" if drop else "")
                continue
            planned.add(fs)
            out = a.add_plan(fs, n, deadline, _dets(3, fs), rects, "drop" if drop else "")
        elif op[0] == "result":
            _, fs, b, ok, n = op
            out = a.add_result(fs, b, _dets(n, abs(b)) if ok else None, "" if ok else "boom")
        else:
            out = a.poll(op[1])
        released += out
        assert a.pending <= max_pending
        assert sum(len(v) for v in a._early.values()) <= max_pending * 64
    released += a.flush()
    seqs = [o.frame_seq for o in released]
    assert len(seqs) == len(set(seqs)), "a frame was released twice"
    assert set(seqs) == planned
    for o in released:
        assert o.blocks_received + len(o.missing_block_ids) == o.blocks_expected
        assert o.degraded == bool(o.missing_block_ids or o.drop_reason)


def test_assembler_early_results_are_bounded_and_stale_ones_do_not_block_new_frames():
    """Results of frames whose plan never comes (e.g. sent before an aggregator restart) do not pile up."""
    a = FrameAssembler(max_pending=4)
    for fs in range(100):
        for b in range(50):
            a.add_result(fs, b, _dets(1, b))
    assert len(a._early) <= 4 and sum(len(v) for v in a._early.values()) <= 4 * 64
    # A fresh frame whose result overtakes its plan still completes normally.
    a.add_result(1000, 0, _dets(2, 0))
    (o,) = a.add_plan(1000, 1, 10.0, _dets(1, 1), [(0, 0, 300, 300)])
    assert not o.degraded and o.blocks_received == 1


# ------------------------------------------------------------------------------------------------
# message handlers, in-process

rclpy = pytest.importorskip("rclpy")

from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose  # noqa: E402

from repose_ros.msg import (BlockAssignment, BlockDetections, BlockInfo, CoarseFrame, FramePlan,  # noqa: E402
                            ServerStatus)

U64 = 2 ** 64 - 1
f64 = st.floats(allow_nan=True, allow_infinity=True)
f32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
small = st.integers(0, 8)
texts = st.text(max_size=20)


@st.composite
def images(draw):
    """A sensor_msgs/Image with random fields."""
    m = Image()
    m.encoding = draw(encodings)
    m.height = draw(st.one_of(small, st.integers(0, 80), st.integers(0, U32)))
    m.width = draw(st.one_of(small, st.integers(0, 80), st.integers(0, U32)))
    m.step = draw(st.one_of(st.integers(0, 300), st.integers(0, U32)))
    m.is_bigendian = draw(st.integers(0, 255))
    m.data = draw(st.binary(max_size=2048))
    m.header.stamp.sec = draw(st.integers(-2 ** 31, 2 ** 31 - 1))
    m.header.stamp.nanosec = draw(st.integers(0, U32))
    m.header.frame_id = draw(texts)
    return m


@st.composite
def detection_arrays(draw):
    """A Detection2DArray with random (also non-finite, negative-size) boxes and hypotheses."""
    out = Detection2DArray()
    for _ in range(draw(st.integers(0, 4))):
        d = Detection2D()
        d.bbox.center.position.x, d.bbox.center.position.y = draw(f64), draw(f64)
        d.bbox.size_x, d.bbox.size_y = draw(f64), draw(f64)
        for _ in range(draw(st.integers(0, 2))):
            h = ObjectHypothesisWithPose()
            h.hypothesis.class_id = draw(st.one_of(texts, st.integers(-2 ** 40, 2 ** 40).map(str)))
            h.hypothesis.score = draw(f64)
            d.results.append(h)
        out.detections.append(d)
    return out


def _roi(draw, m):
    m.x_offset, m.y_offset = draw(st.integers(0, U32)), draw(st.integers(0, U32))
    m.width, m.height = draw(st.one_of(small, st.integers(0, U32))), draw(st.one_of(small, st.integers(0, U32)))


@st.composite
def plans(draw):
    """A FramePlan with random fields (block count and list need not agree)."""
    m = FramePlan()
    m.frame_seq = draw(st.one_of(small, st.integers(0, U64)))
    m.num_blocks = draw(st.one_of(small, st.integers(0, U32)))
    for _ in range(draw(st.integers(0, 3))):
        b = BlockInfo(block_id=draw(st.integers(0, U32)), model=draw(texts), server_id=draw(st.integers(0, U32)))
        _roi(draw, b.roi)
        m.blocks.append(b)
    m.coarse = draw(detection_arrays())
    m.deadline.sec = draw(st.integers(-2 ** 31, 2 ** 31 - 1))
    m.deadline.nanosec = draw(st.integers(0, U32))
    m.budget_ms = draw(f32)
    m.drop_reason = draw(texts)
    m.image_width, m.image_height = draw(st.integers(0, U32)), draw(st.integers(0, U32))
    return m


@st.composite
def block_results(draw):
    """A BlockDetections with random fields."""
    m = BlockDetections(frame_seq=draw(st.one_of(small, st.integers(0, U64))), block_id=draw(st.integers(0, U32)),
                        server_id=draw(st.integers(0, U32)), model=draw(texts), ok=draw(st.booleans()),
                        error=draw(texts), inference_ms=draw(f32), total_ms=draw(f32))
    m.detections = draw(detection_arrays())
    return m


@st.composite
def assignments(draw):
    """A BlockAssignment with random fields (mostly addressed to server 0 so that it is processed)."""
    m = BlockAssignment(frame_seq=draw(st.integers(0, U64)), block_id=draw(st.integers(0, U32)),
                        num_blocks=draw(st.integers(0, U32)),
                        server_id=draw(st.one_of(st.just(0), st.integers(0, U32))),
                        model=draw(st.one_of(st.just("yolov8s@320"), texts)), budget_ms=draw(f32),
                        expected_latency_ms=draw(f32))
    m.image = draw(images())
    if draw(st.booleans()):
        m.roi.width, m.roi.height = m.image.width, m.image.height
    else:
        _roi(draw, m.roi)
    return m


@st.composite
def statuses(draw):
    """A ServerStatus with random ids, states, model names and (non-finite) latencies."""
    n = draw(st.integers(0, 4))
    return ServerStatus(server_id=draw(st.one_of(small, st.integers(0, U32))),
                        state=draw(st.one_of(st.just("active"), texts)),
                        models=draw(st.lists(st.one_of(st.sampled_from(["yolov8s@320", "yolov8s@640"]), texts),
                                             min_size=n, max_size=n)),
                        latency_ms=draw(st.lists(f32, min_size=n, max_size=n)))


@pytest.fixture(scope="module")
def nodes():
    """Camera, partitioner, edge detector and aggregator nodes in one context (not spun)."""
    from repose_ros.nodes.aggregator import AggregatorNode
    from repose_ros.nodes.camera import CameraNode
    from repose_ros.nodes.edge_detector import EdgeDetectorNode
    from repose_ros.nodes.partitioner import PartitionerNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=30 + (os.getpid() % 30) * 4 + 3)
    shared = [Parameter("num_servers", value=2), Parameter("backend", value="fake")]
    items = []
    part = PartitionerNode(standalone=True, context=ctx, namespace="fuzz", parameter_overrides=[
        *shared, Parameter("partitioner", value="meanshift"), Parameter("require_live_servers", value=False)])
    cam = CameraNode(sink=items.append, context=ctx, namespace="fuzz", parameter_overrides=[
        *shared, Parameter("max_width", value=64), Parameter("max_height", value=48),
        Parameter("queue.size", value=100)])
    edge = EdgeDetectorNode(context=ctx, namespace="fuzz", parameter_overrides=[
        *shared, Parameter("server_id", value=0), Parameter("autostart", value=False),
        Parameter("warmup_models", value=[""])])
    edge.trigger_configure()
    edge.trigger_activate()
    agg = AggregatorNode(context=ctx, namespace="fuzz")
    for n in (cam, part, edge, agg):  # hostile input is logged at warning/error level: keep the output short
        n.get_logger().set_level(rclpy.logging.LoggingSeverity.FATAL)
    yield {"camera": cam, "items": items, "partitioner": part, "edge": edge, "aggregator": agg}
    for n in (cam, part, edge, agg):
        n.destroy_node()
    rclpy.try_shutdown(context=ctx)


HANDLERS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@HANDLERS
@given(st.one_of(images(), st.builds(CompressedImage, format=texts, data=st.binary(max_size=600))))
def test_camera_on_image_survives_random_frames(nodes, msg):
    """CameraNode.on_image: no exception; the frame is handed on (decoded or with a drop reason)."""
    import time

    cam, items = nodes["camera"], nodes["items"]
    before = len(items)
    cam.on_image(msg)  # queues; the worker thread decodes (Image or CompressedImage) and hands on
    end = time.monotonic() + 5.0
    while len(items) == before and time.monotonic() < end:
        time.sleep(0.002)
    assert len(items) == before + 1
    item = items[-1]
    assert (item.frame is not None) != bool(item.drop_reason)
    assert cam.counts["sink_error"] == 0


def _camera_item(cam, items, msg):
    """Hand ``msg`` to the camera node and wait for the item its worker hands on."""
    import time

    before = len(items)
    cam.on_image(msg)
    end = time.monotonic() + 5.0
    while len(items) == before and time.monotonic() < end:
        time.sleep(0.002)
    assert len(items) == before + 1
    return items[-1]


def test_camera_refuses_type_only_frames_unless_told_how_to_read_them(nodes):
    """8UC3 is refused (counted as ambiguous_encoding, answered) until image.ambiguous_as says rgb8."""
    cam, items = nodes["camera"], nodes["items"]
    msg = Image(height=2, width=2, step=6, encoding="8UC3")
    msg.data = bytes([10, 20, 30, 40, 50, 60] * 2)
    before = cam.counts["ambiguous_encoding"]
    item = _camera_item(cam, items, msg)
    assert item.frame is None and item.drop_reason.startswith("ambiguous_encoding")
    assert "image.ambiguous_as" in item.drop_reason and cam.counts["ambiguous_encoding"] == before + 1
    assert cam.set_parameters([Parameter("image.ambiguous_as", value="rgb8")])[0].successful
    try:
        item = _camera_item(cam, items, msg)
        assert not item.drop_reason and item.frame.tolist() == [[[30, 20, 10], [60, 50, 40]]] * 2
    finally:
        cam.set_parameters([Parameter("image.ambiguous_as", value="")])
    refused = cam.set_parameters([Parameter("image.ambiguous_as", value="bgr9")])[0]
    assert not refused.successful and "image.ambiguous_as" in refused.reason


def test_camera_counts_frames_lost_before_its_queue(nodes):
    """Gaps in a publisher's sequence numbers are counted per publisher; odd message info is ignored."""
    cam = nodes["camera"]
    before = cam.counts["lost_before_queue"]
    a, b = {"data": [1] * 16}, {"data": [2] * 16}
    for info in ({"publication_sequence_number": 5, "publisher_gid": a},
                 {"publication_sequence_number": 1, "publisher_gid": b},
                 {"publication_sequence_number": 9, "publisher_gid": a},   # 6, 7, 8 lost
                 {"publication_sequence_number": 2, "publisher_gid": b},
                 {"publication_sequence_number": 10, "publisher_gid": a},
                 {"publication_sequence_number": 0, "publisher_gid": None},  # RMW without sequence numbers
                 {}, None, {"publication_sequence_number": 3, "publisher_gid": 7}):
        cam.count_lost(info)
    assert cam.counts["lost_before_queue"] - before == 3


@HANDLERS
@given(plans())
def test_aggregator_on_plan_survives_random_plans(nodes, msg):
    """AggregatorNode.on_plan: no exception escapes."""
    agg = nodes["aggregator"]
    agg.on_plan(msg)
    agg.on_timer()
    assert agg.assembler.pending <= agg.p["max_pending_frames"]


@HANDLERS
@given(block_results())
def test_aggregator_on_block_survives_random_results(nodes, msg):
    """AggregatorNode.on_block: no exception escapes."""
    nodes["aggregator"].on_block(msg)


@HANDLERS
@given(assignments())
def test_edge_detector_on_block_survives_random_assignments(nodes, msg):
    """EdgeDetectorNode.on_block: no exception escapes (a bad block is answered ok=False)."""
    edge = nodes["edge"]
    done, failed, wrong = edge.done, edge.failed, edge.dropped_wrong_server
    edge.on_block(msg)
    assert edge.done + edge.failed + edge.dropped_wrong_server == done + failed + wrong + 1


@HANDLERS
@given(statuses(), st.one_of(images(), st.just(None)), detection_arrays(), texts)
def test_partitioner_handlers_survive_random_input(nodes, status, image, coarse, reason):
    """PartitionerNode.on_status / on_coarse_frame / on_detections: no exception escapes."""
    part = nodes["partitioner"]
    part.on_status(status)
    assume(image is None or image.height * image.width <= 80 * 80)
    msg = CoarseFrame(frame_seq=7, drop_reason=reason if image is None else "", coarse=coarse)
    if image is not None:
        msg.image = image
    part.on_coarse_frame(msg)
    part.on_detections(coarse)
    assert part.live_servers() == [0, 1]
