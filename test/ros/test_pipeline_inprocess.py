"""All pipeline nodes in one executor (fake 'bright blob' detector): one output per frame."""
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from repose_ros.msg import FrameReport  # noqa: E402
from repose_ros.nodes.aggregator import AggregatorNode  # noqa: E402
from repose_ros.nodes.camera import CameraNode  # noqa: E402
from repose_ros.nodes.edge_detector import EdgeDetectorNode  # noqa: E402
from repose_ros.nodes.partitioner import PartitionerNode  # noqa: E402
from repose_ros.ros.convert import bgr_to_image  # noqa: E402
from repose_ros.ros.executors import close_executor  # noqa: E402
from repose_ros.ros.params import reliable  # noqa: E402

W, H = 1280, 720
BLOBS = [(100, 100, 140, 200), (400, 150, 430, 230), (900, 500, 990, 700), (1000, 80, 1020, 120)]


def _frame():
    img = np.full((H, W, 3), 15, np.uint8)
    for x0, y0, x1, y1 in BLOBS:
        img[y0:y1, x0:x1] = 240
    return img


class Harness:
    """Nodes + a test node that feeds frames and collects outputs."""

    def __init__(self, num_servers=2, partitioner="meanshift", extra=None):
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        shared = [Parameter("num_servers", value=num_servers), Parameter("backend", value="fake")]
        extra = extra or {}
        self.part = PartitionerNode(standalone=False, context=self.ctx, namespace="repose", parameter_overrides=[
            *shared, Parameter("partitioner", value=partitioner), Parameter("budget_ms", value=3000.0),
            Parameter("deadline_factor", value=1.0), *extra.get("partitioner", [])])
        # As in frontend_node: the camera sends coarse blocks (coarse.on_edge) to the partitioner's live servers.
        self.cam = CameraNode(sink=self.part.on_coarse, live_servers=self.part.live_servers,
                              budget_ms=lambda: float(self.part.p["budget_ms"]), profiles=self.part.repose.profiles,
                              context=self.ctx, namespace="repose", parameter_overrides=[
                                  *shared, Parameter("queue.size", value=8), Parameter("qos.depth", value=10),
                                  *extra.get("camera", [])])
        self.edges = [EdgeDetectorNode(context=self.ctx, namespace="repose", parameter_overrides=[
            *shared, Parameter("server_id", value=i), Parameter("status_period_s", value=0.1),
            Parameter("warmup_models", value=[""]), *extra.get("edge", [])]) for i in range(num_servers)]
        self.agg = AggregatorNode(context=self.ctx, namespace="repose", parameter_overrides=[
            Parameter("deadline_slack_ms", value=300.0)])
        self.test = rclpy.create_node("tester", context=self.ctx)
        self.out, self.reports = [], []
        self.test.create_subscription(Detection2DArray, "/repose/detections", self.out.append, reliable(50))
        self.test.create_subscription(FrameReport, "/repose/frame_report", self.reports.append, reliable(50))
        self.pub = self.test.create_publisher(Image, "/repose/image_raw", reliable(10))
        self.pub_c = self.test.create_publisher(CompressedImage, "/repose/image_raw/compressed", reliable(10))
        self.ex = MultiThreadedExecutor(num_threads=4, context=self.ctx)
        for n in [self.part, self.cam, *self.edges, self.agg, self.test]:
            self.ex.add_node(n)

    def spin_until(self, cond, timeout=20.0):
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            self.ex.spin_once(timeout_sec=0.05)
        return cond()

    def wait_ready(self, n_servers):
        assert self.spin_until(lambda: len(self.part.live_servers()) == n_servers
                               and self.pub.get_subscription_count() > 0)

    def close(self):
        close_executor(self.ex)
        for n in [self.part, self.cam, *self.edges, self.agg, self.test]:
            n.destroy_node()
        rclpy.try_shutdown(context=self.ctx)


@pytest.fixture
def harness():
    h = Harness()
    yield h
    h.close()


def _img(stamp_sec):
    m = bgr_to_image(_frame())
    m.header.stamp.sec = stamp_sec
    m.header.frame_id = "cam"
    return m


@pytest.mark.ros
def test_one_output_per_frame_with_all_people(harness):
    """Every frame gets exactly one Detection2DArray with its stamp and every blob found."""
    harness.wait_ready(2)
    for s in range(1, 4):
        harness.pub.publish(_img(s))
    assert harness.spin_until(lambda: len(harness.out) >= 3)
    harness.spin_until(lambda: False, timeout=0.5)
    assert sorted(m.header.stamp.sec for m in harness.out) == [1, 2, 3]
    for m in harness.out:
        assert m.header.frame_id == "cam"
        boxes = sorted((round(d.bbox.center.position.x - d.bbox.size_x / 2),
                        round(d.bbox.center.position.y - d.bbox.size_y / 2)) for d in m.detections)
        assert boxes == sorted((x0, y0) for x0, y0, _, _ in BLOBS)
        for d in m.detections:
            assert 0 <= d.bbox.center.position.x <= W and 0 <= d.bbox.center.position.y <= H
            assert d.results[0].hypothesis.class_id == "0"
    assert not any(r.degraded for r in harness.reports)
    assert all(r.blocks_received == r.blocks_expected > 0 for r in harness.reports)


@pytest.mark.ros
@pytest.mark.parametrize("mutate,reason", [
    (lambda m: setattr(m, "encoding", "yuv420"), "bad_encoding"),
    (lambda m: (setattr(m, "height", 0), setattr(m, "width", 0)), "empty"),
    (lambda m: setattr(m, "data", bytes(m.data)[:1000]), "short_data"),
    (lambda m: setattr(m, "step", 3), "bad_step"),
    (lambda m: setattr(m, "height", 100000), "too_large"),
])
def test_bad_frames_are_answered_degraded(harness, mutate, reason):
    """A malformed frame gets one (empty, degraded) answer; the next good frame still works."""
    harness.wait_ready(2)
    bad = _img(10)
    mutate(bad)
    harness.pub.publish(bad)
    harness.pub.publish(_img(11))
    assert harness.spin_until(lambda: len(harness.out) >= 2)
    by_stamp = {m.header.stamp.sec: m for m in harness.out}
    assert len(by_stamp[10].detections) == 0 and len(by_stamp[11].detections) == len(BLOBS)
    rep = {r.header.stamp.sec: r for r in harness.reports}
    assert rep[10].degraded and reason in rep[10].drop_reason
    assert harness.cam.counts[reason] == 1


@pytest.mark.ros
def test_corrupt_jpeg_and_good_jpeg():
    """CompressedImage input: a corrupt JPEG is answered degraded, a good one normally."""
    import cv2

    h = Harness(extra={"camera": [Parameter("compressed", value=True)]})
    try:
        assert h.spin_until(lambda: len(h.part.live_servers()) == 2 and h.pub_c.get_subscription_count() > 0)
        ok, jpg = cv2.imencode(".jpg", _frame())
        good = CompressedImage(format="jpeg", data=jpg.tobytes())
        good.header.stamp.sec = 21
        bad = CompressedImage(format="jpeg", data=jpg.tobytes()[:200] + b"\x00" * 50)
        bad.header.stamp.sec = 20
        h.pub_c.publish(bad)
        h.pub_c.publish(good)
        assert h.spin_until(lambda: len(h.out) >= 2)
        by_stamp = {m.header.stamp.sec: m for m in h.out}
        assert len(by_stamp[20].detections) == 0
        assert len(by_stamp[21].detections) == len(BLOBS)
    finally:
        h.close()


@pytest.mark.ros
def test_missing_server_degrades_to_coarse_boxes():
    """A server that never answers: after the deadline the frame is published with coarse boxes."""
    h = Harness(extra={"partitioner": [Parameter("require_live_servers", value=False),
                                       Parameter("budget_ms", value=300.0)]})
    try:
        h.edges[1].destroy_node()  # server 1 is gone: its blocks are never answered
        h.edges = h.edges[:1]
        assert h.spin_until(lambda: h.pub.get_subscription_count() > 0)
        h.pub.publish(_img(30))
        assert h.spin_until(lambda: len(h.out) >= 1, timeout=10)
        h.spin_until(lambda: False, timeout=0.5)
        assert len(h.out) == 1
        rep = h.reports[0]
        # Coarse detections stand in for the missing blocks: every blob is still reported.
        assert len(h.out[0].detections) == len(BLOBS)
        if rep.blocks_received < rep.blocks_expected:
            assert rep.degraded and len(rep.missing_block_ids) == rep.blocks_expected - rep.blocks_received
    finally:
        h.close()


@pytest.mark.ros
def test_restarted_frontend_is_answered_from_frame_zero_again():
    """A new camera + partitioner (frontend restart) numbers frames from 0 again: every frame is answered."""
    h = Harness()
    try:
        h.wait_ready(2)
        for s in (40, 41):
            h.pub.publish(_img(s))
        assert h.spin_until(lambda: len(h.out) >= 2)
        first_session = h.cam.session_id
        # Replace the frontend (camera + partitioner) with fresh nodes, as after a process restart.
        old = (h.cam, h.part)
        for n in old:
            h.ex.remove_node(n)
        h.spin_until(lambda: False, timeout=0.5)  # callbacks the executor had already taken for them
        for n in old:
            n.destroy_node()
        shared = [Parameter("num_servers", value=2), Parameter("backend", value="fake")]
        h.part = PartitionerNode(standalone=False, context=h.ctx, namespace="repose", parameter_overrides=[
            *shared, Parameter("partitioner", value="meanshift"), Parameter("deadline_factor", value=1.0)])
        h.cam = CameraNode(sink=h.part.on_coarse, context=h.ctx, namespace="repose", parameter_overrides=[
            *shared, Parameter("queue.size", value=8)])
        h.ex.add_node(h.part)
        h.ex.add_node(h.cam)
        assert h.cam.session_id != first_session
        h.wait_ready(2)
        for s in (42, 43):
            h.pub.publish(_img(s))
        assert h.spin_until(lambda: len(h.out) >= 4)
        h.spin_until(lambda: False, timeout=0.5)
    finally:
        h.close()
    assert sorted(m.header.stamp.sec for m in h.out) == [40, 41, 42, 43]
    reports = {r.header.stamp.sec: r for r in h.reports}
    assert [reports[s].frame_seq for s in (40, 41, 42, 43)] == [0, 1, 0, 1]
    assert reports[40].session_id == reports[41].session_id == first_session != reports[42].session_id
    # Processed normally, not dropped (a block may miss its deadline on a busy machine: that is flagged,
    # and the coarse boxes stand in for it).
    assert all(not r.drop_reason and (not r.degraded or r.missing_block_ids) for r in h.reports), \
        [(r.header.stamp.sec, r.degraded, r.drop_reason, list(r.missing_block_ids)) for r in h.reports]
    assert all(len(m.detections) == len(BLOBS) for m in h.out)


@pytest.mark.ros
def test_parameters_set_at_run_time_take_effect(harness):
    """ros2 param set on a running pipeline: valid values apply to the next frame, invalid ones are refused."""
    h = harness
    h.wait_ready(2)

    def set_param(node, name, value):
        return node.set_parameters([Parameter(name, value=value)])[0]

    # Refused, with the reason the caller sees; the value is unchanged.
    bad = set_param(h.agg, "fusion.method", "median")
    assert not bad.successful and "fusion.method must be one of" in bad.reason
    assert h.agg.p["fusion.method"] == "nms" and h.agg.get_parameter("fusion.method").value == "nms"
    assert not set_param(h.part, "partitioner", "kmeans").successful
    assert not set_param(h.cam, "queue.policy", "drop_random").successful
    assert not set_param(h.part, "num_servers", 3).successful          # read-only
    # Applied: a uniform grid instead of clusters, wbf fusion, a smaller size limit, a tighter budget.
    for node, name, value in ((h.part, "partitioner", "uniform"), (h.agg, "fusion.method", "wbf"),
                              (h.cam, "max_width", 1000), (h.part, "budget_ms", 1234.0)):
        assert set_param(node, name, value).successful, name
    assert h.agg.assembler.fusion_method == "wbf" and h.cam.limit.max_width == 1000
    h.pub.publish(_img(50))                       # 1280 px wide: now too large
    assert h.spin_until(lambda: len(h.reports) >= 1)
    assert set_param(h.cam, "max_width", 7680).successful
    h.pub.publish(_img(51))
    assert h.spin_until(lambda: len(h.reports) >= 2)
    rep = {r.header.stamp.sec: r for r in h.reports}
    assert "too_large" in rep[50].drop_reason and rep[50].degraded
    grid = h.part.repose.config.uniform_grid
    # Every grid cell is a block: sent, or left out by the plan (a cell without people) and answered by
    # its coarse boxes.
    assert rep[51].blocks_expected + rep[51].blocks_skipped == grid[0] * grid[1]
    assert rep[51].budget_ms == pytest.approx(1234.0)
    assert not rep[51].degraded


@pytest.mark.ros
@pytest.mark.parametrize("with_info", [True, False])
def test_camera_callback_works_as_each_executor_calls_it(monkeypatch, with_info):
    """Jazzy and later pass (msg, info) to a two-argument callback; Humble's executor passes msg alone.

    The camera subscribes with the callback this rclpy can call: driven as that executor drives it,
    every frame is received (and, with the message info, frames lost by DDS can be counted).
    """
    import repose_ros.nodes.camera as camera_mod

    monkeypatch.setattr(camera_mod, "message_info_supported", lambda: with_info)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        cam = CameraNode(context=ctx, parameter_overrides=[Parameter("backend", value="fake")])
        sub = next(s for s in cam.subscriptions if s.topic_name.endswith("image_raw"))
        if with_info:
            sub.callback(_img(1), {"publication_sequence_number": 7, "publisher_gid": {"data": [1] * 16}})
        else:
            sub.callback(_img(1))                 # as Humble's executor: await_or_execute(sub.callback, msg)
            with pytest.raises(TypeError):        # what the two-argument callback did on Humble
                cam._on_image_with_info(_img(2))
        assert cam.counts["received"] == 1
        cam.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)


@pytest.mark.ros
def test_camera_warms_its_coarse_model_up_before_the_first_frame(harness):
    """The camera's worker runs the coarse model once at start, so the first frame does not pay for loading it."""
    assert harness.spin_until(lambda: harness.cam.counts["warm_up"] == 1, timeout=10)
    assert harness.cam.counts["received"] == 0


@pytest.mark.ros
def test_image_markers_outline_blocks_and_detections(harness):
    """image_markers: per frame a `blocks` and a `detections` LINE_LIST in camera pixels, the frame's header."""
    from visualization_msgs.msg import ImageMarker

    markers = []
    harness.test.create_subscription(ImageMarker, "/repose/image_markers", markers.append, reliable(20))
    harness.wait_ready(2)
    harness.pub.publish(_img(7))
    assert harness.spin_until(lambda: len(markers) >= 2)
    by_ns = {m.ns: m for m in markers}
    assert set(by_ns) == {"blocks", "detections"}
    for m in markers:
        assert m.header.stamp.sec == 7 and m.header.frame_id == "cam" and m.type == ImageMarker.LINE_LIST
    det = by_ns["detections"]
    assert len(det.points) == 8 * len(BLOBS)  # 4 edges x 2 points per person
    xs = sorted({round(p.x) for p in det.points[0::8]})  # each outline starts at its top-left corner
    assert xs == sorted({x0 for x0, _, _, _ in BLOBS})
    report = harness.reports[0]
    assert len(by_ns["blocks"].points) == 8 * (report.blocks_expected + report.blocks_skipped)


@pytest.mark.ros
@pytest.mark.parametrize("transport", ["jpeg", "png"])
def test_compressed_block_transport_finds_every_person(transport):
    """blocks.transport jpeg / png: blocks travel compressed, the edge detectors decode them, nothing is lost."""
    from rclpy.parameter import Parameter

    h = Harness(extra={"partitioner": [Parameter("blocks.transport", value=transport)]})
    try:
        h.wait_ready(2)
        h.pub.publish(_img(11))
        assert h.spin_until(lambda: len(h.out) >= 1 and len(h.reports) >= 1)
        boxes = sorted((round(d.bbox.center.position.x - d.bbox.size_x / 2),
                        round(d.bbox.center.position.y - d.bbox.size_y / 2)) for d in h.out[0].detections)
        assert boxes == sorted((x0, y0) for x0, y0, _, _ in BLOBS)
        assert not h.reports[0].degraded and h.reports[0].blocks_received == h.reports[0].blocks_expected > 0
    finally:
        h.close()


def test_encode_decode_block_round_trip():
    from repose_ros.msg import BlockAssignment
    from repose_ros.ros.convert import decode_block, encode_block

    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (37, 53, 3), dtype=np.uint8)
    for transport in ("raw", "png", "jpeg"):
        image, compressed = encode_block(crop, None, transport, 95)
        out = decode_block(BlockAssignment(image=image, image_compressed=compressed))
        assert out.shape == crop.shape
        if transport != "jpeg":
            assert np.array_equal(out, crop)
        assert (len(compressed.data) > 0) == (transport != "raw") and (len(image.data) > 0) == (transport == "raw")
    with pytest.raises(ValueError, match="blocks.transport"):
        encode_block(crop, None, "webp")
