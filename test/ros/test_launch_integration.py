"""Integration: `ros2 launch repose_ros pipeline.launch.py` as separate processes.

One /itest/detections message per input frame, with the input's stamp, boxes inside the image,
every (synthetic) person found; then a clean shutdown on SIGINT.
"""
import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from repose_ros.msg import FrameReport  # noqa: E402
from repose_ros.ros.convert import bgr_to_image  # noqa: E402
from repose_ros.ros.params import reliable  # noqa: E402

W, H = 1920, 1080
BLOBS = [(100, 100, 140, 200), (400, 150, 430, 230), (900, 500, 990, 700), (1600, 80, 1620, 120),
         (1700, 900, 1800, 1070)]


def _frame(shift):
    img = np.full((H, W, 3), 15, np.uint8)
    for x0, y0, x1, y1 in BLOBS:
        img[y0:y1, x0 + shift:x1 + shift] = 240
    return img


def _start(tmp_path, client, args):
    """Start `ros2 launch repose_ros pipeline.launch.py ARGS` in its own session (log in tmp_path/launch.log)
    and a client node on its own context; return (launch, log, ctx, node, executor)."""
    log = open(tmp_path / "launch.log", "w")
    launch = subprocess.Popen(["ros2", "launch", "repose_ros", "pipeline.launch.py", *args],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node(client, context=ctx)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    return launch, log, ctx, node, ex


def _stop(launch, node, ctx, log):
    """SIGINT to the launch's whole process group (a terminal's Ctrl-C); return its exit code or "hung"."""
    os.killpg(launch.pid, signal.SIGINT)
    try:
        rc = launch.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(launch.pid, signal.SIGKILL)
        rc = "hung"
    node.destroy_node()
    rclpy.try_shutdown(context=ctx)
    log.close()
    return rc


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ros2") is None, reason="no ros2 command on PATH")
def test_launched_pipeline_answers_every_frame(tmp_path):
    launch, log, ctx, node, ex = _start(tmp_path, "itest_client", [
        "namespace:=itest", "input_topic:=/itest_in", "num_servers:=2", "backend:=fake", "log_level:=warn"])
    out, reports = [], []
    node.create_subscription(Detection2DArray, "/itest/detections", out.append, reliable(20))
    node.create_subscription(FrameReport, "/itest/frame_report", reports.append, reliable(20))
    pub = node.create_publisher(Image, "/itest_in", reliable(10))
    try:
        # Wait for the pipeline: subscribers on the input and both edge servers reporting active.
        from repose_ros.msg import ServerStatus

        active = {}
        node.create_subscription(ServerStatus, "/itest/server_status",
                                 lambda m: active.__setitem__(m.server_id, m.state), reliable(10))
        end = time.monotonic() + 90
        while (pub.get_subscription_count() == 0 or list(active.values()).count("active") < 2) \
                and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.1)
            assert launch.poll() is None, (tmp_path / "launch.log").read_text()[-3000:]
        assert pub.get_subscription_count() > 0 and len(active) == 2
        # The camera may be active before the partitioner and aggregator (each node walks to active on
        # its own); a frame reaching an inactive partitioner is counted and not planned.
        from lifecycle_msgs.srv import GetState

        for n in ("/itest/partitioner", "/itest/aggregator"):
            end = time.monotonic() + 60
            while _call(node, ex, GetState, f"{n}/get_state", GetState.Request(), timeout=60
                        ).current_state.label != "active" and time.monotonic() < end:
                time.sleep(0.2)
        time.sleep(1.0)
        stamps = []
        for i in range(4):
            msg = bgr_to_image(_frame(i * 5))
            msg.header.stamp.sec, msg.header.stamp.nanosec = 1000 + i, 500
            msg.header.frame_id = "itest_cam"
            stamps.append(1000 + i)
            pub.publish(msg)
            time.sleep(0.2)
        end = time.monotonic() + 60
        while len(out) < 4 and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.1)
        t_extra = time.monotonic() + 1.0
        while time.monotonic() < t_extra:
            ex.spin_once(timeout_sec=0.1)
    finally:
        rc = _stop(launch, node, ctx, log)
    text = (tmp_path / "launch.log").read_text()
    assert sorted(m.header.stamp.sec for m in out) == stamps, text[-3000:]
    for m in out:
        i = m.header.stamp.sec - 1000
        assert m.header.frame_id == "itest_cam" and m.header.stamp.nanosec == 500
        got = sorted((round(d.bbox.center.position.x - d.bbox.size_x / 2),
                      round(d.bbox.center.position.y - d.bbox.size_y / 2)) for d in m.detections)
        assert got == sorted((x0 + i * 5, y0) for x0, y0, _, _ in BLOBS), text[-3000:]
        for d in m.detections:
            cx, cy, hw, hh = d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.size_x / 2, d.bbox.size_y / 2
            assert 0 <= cx - hw and cx + hw <= W and 0 <= cy - hh and cy + hh <= H
    assert len(reports) == 4 and not any(r.degraded for r in reports), [r.drop_reason for r in reports]
    # Track ids (aggregator, ByteTrack): every person keeps one id over the 4 frames.
    by_frame = sorted(out, key=lambda m: m.header.stamp.sec)
    ids = [{round(d.bbox.center.position.y): d.id for d in m.detections} for m in by_frame]
    assert all(i for frame in ids for i in frame.values()), ids
    assert all(frame == ids[0] for frame in ids) and len(set(ids[0].values())) == len(BLOBS), ids
    assert rc == 0, f"launch exit code {rc}\n{text[-3000:]}"
    assert "Traceback" not in text and "exit code -2" not in text, text[-3000:]


def _get_params(node, ex, fqn, names, timeout=20.0):
    """Read parameters of a running node through its get_parameters service."""
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    res = _call(node, ex, GetParameters, f"{fqn}/get_parameters", GetParameters.Request(names=list(names)),
                timeout=timeout)
    return dict(zip(names, (parameter_value_to_python(v) for v in res.values)))


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ros2") is None, reason="no ros2 command on PATH")
def test_launch_arguments_win_over_the_params_file(tmp_path, repo_root):
    """compressed, backend, num_servers, input_topic, coarse_on_edge: the launch argument wins, also over
    node-specific entries of params_file (read back from the running nodes)."""
    import yaml

    params = yaml.safe_load((repo_root / "config" / "repose.yaml").read_text())
    params["/**/camera"]["ros__parameters"].update(compressed=False, backend="ultralytics", num_servers=4)
    params["/**/partitioner"]["ros__parameters"].update(num_servers=4)
    params["/**/edge_detector_0"] = {"ros__parameters": {"backend": "ultralytics", "num_servers": 4}}
    params["/**/camera"]["ros__parameters"]["coarse.on_edge"] = False
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    launch, log, ctx, node, ex = _start(tmp_path, "largs_client", [
        "namespace:=largs", f"params_file:={params_file}", "input_topic:=/largs_in/compressed", "compressed:=true",
        "num_servers:=1", "backend:=fake", "coarse_on_edge:=true", "log_level:=warn"])
    try:
        cam = _get_params(node, ex, "/largs/camera", ["compressed", "backend", "num_servers", "coarse.on_edge"],
                          timeout=60.0)
        part = _get_params(node, ex, "/largs/partitioner", ["num_servers"])
        edge = _get_params(node, ex, "/largs/edge_detector_0", ["backend", "server_id"])
        end = time.monotonic() + 20
        subs = []
        while time.monotonic() < end and not subs:
            subs = node.get_subscriptions_info_by_topic("/largs_in/compressed")
            ex.spin_once(timeout_sec=0.2)
    finally:
        _stop(launch, node, ctx, log)
    text = (tmp_path / "launch.log").read_text()[-3000:]
    assert cam == {"compressed": True, "backend": "fake", "num_servers": 1, "coarse.on_edge": True}, text
    assert part == {"num_servers": 1}, text
    assert edge == {"backend": "fake", "server_id": 0}, text
    assert [s.topic_type for s in subs] == ["sensor_msgs/msg/CompressedImage"], text


def _call(node, ex, srv_type, name, request, timeout=30.0, attempt=5.0):
    """Call service NAME and return its response; for read-only services (the default) the request is sent
    again every ATTEMPT seconds until TIMEOUT, because a server can see a request before its reply writer has
    matched this client's reader, and that reply is lost (seen once in CI as a 60 s get_parameters timeout).
    attempt=None sends once (for calls that change state)."""
    client = node.create_client(srv_type, name)
    try:
        end = time.monotonic() + timeout
        while not client.service_is_ready() and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.1)
        assert client.service_is_ready(), f"no service {name}"
        tries = 0
        while True:
            tries += 1
            future = client.call_async(request)
            left = end - time.monotonic()
            ex.spin_until_future_complete(future, timeout_sec=max(0.1, min(left, attempt or left)))
            if future.done() or attempt is None or time.monotonic() >= end:
                break
            client.remove_pending_request(future)
        assert future.done(), f"{name} timed out after {tries} request(s) in {timeout} s"
        return future.result()
    finally:
        node.destroy_client(client)


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ros2") is None, reason="no ros2 command on PATH")
def test_lifecycle_manager_brings_a_manual_pipeline_up(tmp_path):
    """autostart:=false: every node waits unconfigured; driven through change_state (as nav2_lifecycle_manager
    does: servers, aggregator, partitioner, camera) the pipeline answers a frame."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    launch, log, ctx, node, ex = _start(tmp_path, "lcm_client", [
        "namespace:=lcm", "input_topic:=/lcm_in", "num_servers:=1", "backend:=fake", "autostart:=false",
        "log_level:=warn"])
    out = []
    node.create_subscription(Detection2DArray, "/lcm/detections", out.append, reliable(10))
    pub = node.create_publisher(Image, "/lcm_in", reliable(10))
    order = ["/lcm/edge_detector_0", "/lcm/aggregator", "/lcm/partitioner", "/lcm/camera"]
    try:
        states = {n: _call(node, ex, GetState, f"{n}/get_state", GetState.Request(), timeout=60).current_state.label
                  for n in order}
        assert set(states.values()) == {"unconfigured"}, states
        assert pub.get_subscription_count() == 0  # the camera takes no frame before it is active
        for tid in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            for n in order:
                res = _call(node, ex, ChangeState, f"{n}/change_state",
                            ChangeState.Request(transition=Transition(id=tid)), attempt=None)
                assert res.success, (n, tid, (tmp_path / "launch.log").read_text()[-2000:])
        end = time.monotonic() + 30
        while pub.get_subscription_count() == 0 and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.1)
        time.sleep(1.5)  # the edge server's first status reaches the partitioner
        msg = bgr_to_image(_frame(0))
        msg.header.stamp.sec = 4242
        pub.publish(msg)
        end = time.monotonic() + 30
        while not out and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.1)
    finally:
        rc = _stop(launch, node, ctx, log)
    text = (tmp_path / "launch.log").read_text()[-3000:]
    assert [m.header.stamp.sec for m in out] == [4242], text
    assert len(out[0].detections) == len(BLOBS), text
    assert rc == 0 and "Traceback" not in text, text
