"""The shipped Fast DDS profile (dds_profile:=shm): large images, and peers without the profile.

A process with the profile publishes 4K bgr8 frames; another process with the profile and this
test process (default Fast DDS, like a camera driver or rviz) both receive them intact. This
process publishes a 4K frame too (a default camera driver), which the profiled process receives.
The profiled processes also report that their own shared-memory segment has the profile's size,
so the file was really loaded (a profile that fails to parse leaves the defaults, silently but
for a log line).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from repose_ros.ros.dds_profile import FASTDDS_VAR, FASTRTPS_VAR, auto_choice, profile_env, resolve_profile

H, W = 2160, 3840
FRAMES = 3
NS = "{http://www.eprosima.com}"

PEER = textwrap.dedent(
    """
    import hashlib, json, os, sys, time
    import numpy as np
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    role, frames, subscribers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    H, W = 2160, 3840
    rclpy.init()
    node = rclpy.create_node("dds_profile_" + role)
    qos = QoSProfile(depth=FRAMES_DEPTH, reliability=ReliabilityPolicy.RELIABLE)


    def own_segment_bytes():
        # The largest Fast DDS data segment this process maps (its own, or a writer's it reads).
        sizes = [0]
        for line in open("/proc/self/maps"):
            path = line.split()[-1]
            if path.startswith("/dev/shm/fastdds_") and "_port" not in path and os.path.exists(path):
                sizes.append(os.stat(path).st_size)
        return max(sizes)


    got = {"frames": [], "camera": []}
    segment = own_segment_bytes()
    if role == "pub":
        pub = node.create_publisher(Image, "/dds_profile_test/frames", qos)
        deadline = time.monotonic() + 30
        while pub.get_subscription_count() < subscribers and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        time.sleep(0.5)
        for seq in range(frames):
            m = Image()
            m.height, m.width, m.encoding, m.step = H, W, "bgr8", W * 3
            m.data = np.full(H * W * 3, seq + 1, np.uint8).tobytes()
            m.header.frame_id = str(seq)
            pub.publish(m)
            time.sleep(0.2)
        # Stay until every reader has acknowledged (reliable), at most 20 s.
        pub.wait_for_all_acked(rclpy.duration.Duration(seconds=20))
    else:
        def keep(kind):
            def cb(m):
                px = np.frombuffer(m.data, np.uint8)
                got[kind].append([m.header.frame_id, len(px), int(px[0]), int(px[-1]), m.width, m.height])
            return cb
        node.create_subscription(Image, "/dds_profile_test/frames", keep("frames"), qos)
        node.create_subscription(Image, "/dds_profile_test/camera", keep("camera"), qos)
        deadline = time.monotonic() + 40
        while (len(got["frames"]) < frames or not got["camera"]) and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    got["segment_bytes"] = max(segment, own_segment_bytes())
    print("RESULT " + json.dumps(got), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    """
).replace("FRAMES_DEPTH", str(FRAMES))


def test_resolve_profile_choices(tmp_path):
    """default keeps the environment; shm is the shipped file; a path is taken as it is; a bad path fails."""
    assert resolve_profile("default") is None and resolve_profile("") is None
    shipped = resolve_profile("shm")
    assert shipped.endswith(os.path.join("config", "fastdds", "shm_large.xml")) and os.path.isfile(shipped)
    own = tmp_path / "mine.xml"
    own.write_text("<dds/>")
    assert resolve_profile(str(own)) == str(own)
    with pytest.raises(FileNotFoundError):
        resolve_profile(str(tmp_path / "missing.xml"))


def test_profile_env_names_the_variable_of_each_fast_dds():
    """Fast DDS 3 reads FASTDDS_..., Fast DDS 2 (Humble, Jazzy) FASTRTPS_...; default sets nothing."""
    assert profile_env(None) == {}
    assert profile_env("/p.xml", {"ROS_DISTRO": "kilted"}) == {FASTDDS_VAR: "/p.xml"}
    assert profile_env("/p.xml", {}) == {FASTDDS_VAR: "/p.xml"}
    for distro in ("humble", "jazzy"):
        assert profile_env("/p.xml", {"ROS_DISTRO": distro}) == {FASTDDS_VAR: "/p.xml", FASTRTPS_VAR: "/p.xml"}


def test_shipped_profile_keeps_udp_and_enlarges_shared_memory():
    """The default participant profile has SHM with a segment for several 4K frames, and UDPv4."""
    root = ET.parse(resolve_profile("shm")).getroot()
    descriptors = {d.findtext(f"{NS}transport_id"): d for d in root.iter(f"{NS}transport_descriptor")}
    kinds = {d.findtext(f"{NS}type") for d in descriptors.values()}
    assert kinds == {"SHM", "UDPv4"}
    shm = next(d for d in descriptors.values() if d.findtext(f"{NS}type") == "SHM")
    assert int(shm.findtext(f"{NS}segment_size")) >= 4 * H * W * 3
    participants = [p for p in root.iter(f"{NS}participant") if p.get("is_default_profile") == "true"]
    assert len(participants) == 1
    rtps = participants[0].find(f"{NS}rtps")
    assert rtps.findtext(f"{NS}useBuiltinTransports") == "false"
    used = [t.text for t in rtps.find(f"{NS}userTransports")]
    assert sorted(used) == sorted(descriptors)


def test_shipped_profile_shortens_the_heartbeat_of_reliable_writers():
    """The default writer profile announces every 100 ms (Fast DDS's default is 3 s)."""
    root = ET.parse(resolve_profile("shm", {})).getroot()
    writers = [w for w in root.iter(f"{NS}data_writer") if w.get("is_default_profile") == "true"]
    assert len(writers) == 1
    period = writers[0].find(f"{NS}times/{NS}heartbeat_period")
    assert (int(period.findtext(f"{NS}sec")), int(period.findtext(f"{NS}nanosec"))) == (0, 100_000_000)


def _canonical(path, rename=None):
    """Return the profile's elements as (tag, attributes, text) in document order, tags renamed by ``rename``."""
    rename = rename or {}
    return [(rename.get(e.tag, e.tag), sorted(e.attrib.items()), (e.text or "").strip())
            for e in ET.parse(path).getroot().iter()]


def test_humble_and_jazzy_get_the_same_profile_in_fast_dds_2_names():
    """On Fast DDS 2 distributions the shipped profile is the Fast DDS 2 file; it differs only in the times' names."""
    kilted = resolve_profile("shm", {"ROS_DISTRO": "kilted"})
    assert kilted == resolve_profile("shm", {})
    assert kilted.endswith("shm_large.xml")
    for distro in ("humble", "jazzy"):
        old = resolve_profile("shm", {"ROS_DISTRO": distro})
        assert old.endswith("shm_large_fastdds2.xml") and os.path.isfile(old)
    renamed = {f"{NS}heartbeatPeriod": f"{NS}heartbeat_period"}
    assert _canonical(old, renamed) == _canonical(kilted)
    assert _canonical(old) != _canonical(kilted)


@pytest.mark.parametrize("environ, expected", [
    ({}, "shm"),
    ({"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}, "shm"),
    ({"RMW_IMPLEMENTATION": "rmw_fastrtps_dynamic_cpp", "ROS_DISTRO": "jazzy"}, "shm"),
    ({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}, "default"),
    ({"RMW_IMPLEMENTATION": "rmw_zenoh_cpp"}, "default"),
    ({FASTDDS_VAR: "/mine.xml"}, "default"),
    ({FASTRTPS_VAR: "/mine.xml"}, "default"),
    ({"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}, "default"),
    ({FASTDDS_VAR: ""}, "shm"),
])
def test_auto_takes_the_shipped_profile_unless_the_environment_has_chosen(environ, expected, monkeypatch):
    """dds_profile:=auto is shm on a plain Fast DDS environment and leaves an environment's own choice alone."""
    import repose_ros.ros.dds_profile as dds

    monkeypatch.setattr(dds, "shm_size", lambda path="/dev/shm": 8 * 2**30)
    choice, why = auto_choice(environ)
    assert choice == expected and why
    path = resolve_profile("auto", environ)
    assert (path is None) == (expected == "default")
    if path is not None:
        assert path == resolve_profile("shm", environ)


def test_auto_keeps_the_defaults_where_dev_shm_is_small():
    """A container's 64 MiB /dev/shm cannot hold the profile's segments: auto says so and sets nothing."""
    choice, why = auto_choice({}, shm_bytes=lambda: 64 * 2**20)
    assert choice == "default" and "64 MiB" in why
    assert auto_choice({}, shm_bytes=lambda: 2**30)[0] == "shm"
    assert auto_choice({}, shm_bytes=lambda: None)[0] == "shm"  # no /dev/shm to measure: Fast DDS decides


def _result(proc, timeout):
    out, _ = proc.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, out[-3000:]
    assert "XMLPARSER" not in out, out[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.ros
@pytest.mark.slow
def test_profiled_processes_exchange_4k_frames_and_default_peers_still_talk(tmp_path):
    """Profile -> profile and profile -> default carry 4K frames; default -> profile too."""
    rclpy = pytest.importorskip("rclpy")
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    script = tmp_path / "peer.py"
    script.write_text(PEER)
    env = dict(os.environ, **profile_env(resolve_profile("shm")))
    env.pop("FASTDDS_BUILTIN_TRANSPORTS", None)
    qos = QoSProfile(depth=FRAMES, reliability=ReliabilityPolicy.RELIABLE)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("dds_profile_default_peer", context=ctx)
    got = []
    node.create_subscription(Image, "/dds_profile_test/frames", got.append, qos)
    camera = node.create_publisher(Image, "/dds_profile_test/camera", qos)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    run = [sys.executable, str(script)]
    sub = subprocess.Popen(run + ["sub", str(FRAMES), "0"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    pub = subprocess.Popen(run + ["pub", str(FRAMES), "2"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 40
        sent = False
        while time.monotonic() < deadline and (len(got) < FRAMES or not sent):
            ex.spin_once(timeout_sec=0.05)
            if not sent and camera.get_subscription_count() > 0:
                time.sleep(0.3)
                m = Image()
                m.height, m.width, m.encoding, m.step = H, W, "bgr8", W * 3
                m.data = np.full(H * W * 3, 77, np.uint8).tobytes()
                m.header.frame_id = "camera"
                camera.publish(m)
                sent = True
        camera.wait_for_all_acked(rclpy.duration.Duration(seconds=15))
        pub_result = _result(pub, 40)
        sub_result = _result(sub, 40)
    finally:
        for p in (pub, sub):
            if p.poll() is None:
                p.kill()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    expected = [[str(i), H * W * 3, i + 1, i + 1, W, H] for i in range(FRAMES)]
    # With the profile on both sides.
    assert sub_result["frames"] == expected
    assert sub_result["segment_bytes"] >= 4 * H * W * 3 and pub_result["segment_bytes"] >= 4 * H * W * 3
    # A default participant (this process) receives from the profiled one...
    assert [[m.header.frame_id, len(m.data), m.data[0], m.data[-1], m.width, m.height] for m in got] == expected
    # ... and the profiled one receives from a default publisher.
    assert sub_result["camera"] == [["camera", H * W * 3, 77, 77, W, H]]


def _launch_module(repo_root):
    """Import this checkout's launch/pipeline.launch.py as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("repose_pipeline_launch", repo_root / "launch" / "pipeline.launch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("choice", ["auto", "auto-own-env", "default", "shm", "own", "missing"])
def test_launch_file_gives_the_profile_to_its_node_processes_only(repo_root, tmp_path, monkeypatch, choice):
    """auto and shm (or a path) pass the profile to every node; default or an environment's own choice nothing."""
    pytest.importorskip("launch")
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument

    mod = _launch_module(repo_root)
    context = LaunchContext()
    for entity in mod.generate_launch_description().entities:
        if isinstance(entity, DeclareLaunchArgument) and entity.default_value is not None:
            context.launch_configurations[entity.name] = "".join(s.perform(context) for s in entity.default_value)
    own = tmp_path / "own.xml"
    own.write_text("<dds/>")
    values = {"auto": "auto", "auto-own-env": "auto", "default": "default", "shm": "shm", "own": str(own),
              "missing": str(tmp_path / "none.xml")}
    for var in (FASTDDS_VAR, FASTRTPS_VAR, "FASTDDS_BUILTIN_TRANSPORTS", "RMW_IMPLEMENTATION", "ROS_DISTRO"):
        monkeypatch.delenv(var, raising=False)
    if choice == "auto-own-env":
        monkeypatch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    context.launch_configurations.update(dds_profile=values[choice], num_servers="2", backend="fake")
    if choice == "missing":
        with pytest.raises(FileNotFoundError):
            mod._nodes(context)
        return
    # The real Node class accepts what the launch file passes (the stand-in also as Humble's).
    monkeypatch.setenv("REPOSE_COMPAT_DISTRO", "humble")
    assert len(mod._nodes(context)) == 5  # the profile's log line and four nodes
    made, notes = [], []
    monkeypatch.setattr(mod, "Node", lambda **kw: made.append(kw) or kw)
    monkeypatch.setattr(mod, "LogInfo", lambda **kw: notes.append(kw["msg"]) or kw)
    mod._nodes(context)
    assert len(made) == 4  # frontend, aggregator, two edge detectors
    assert len(notes) == 1 and notes[0].startswith(f"dds_profile {values[choice]}: ")
    envs = [kw.get("additional_env") for kw in made]
    if choice in ("default", "auto-own-env"):
        assert envs == [None] * 4
        assert "environment settings" in notes[0]
    else:
        expected = str(own) if choice == "own" else str(repo_root / "config" / "fastdds" / "shm_large.xml")
        assert all(env and env[FASTDDS_VAR] == expected for env in envs), envs
        assert expected in notes[0]
    assert FASTDDS_VAR not in os.environ  # the launch process itself is left alone


def _session_environ(sid):
    """Return {pid: environ} of the processes of session ``sid`` (the launch and its nodes)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getsid(int(entry)) != sid:
                continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                pairs = [item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item]
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ProcessLookupError):
            continue
        out[int(entry)] = (cmd, {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs})
    return out


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ros2") is None, reason="no ros2 command on PATH")
def test_launched_pipeline_with_shm_profile_answers_a_default_4k_camera(repo_root, tmp_path):
    """With dds_profile:=shm the nodes load the profile, and a 4K frame from a default publisher is answered."""
    rclpy = pytest.importorskip("rclpy")
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from repose_ros.msg import ServerStatus
    from repose_ros.ros.params import reliable

    env = {k: v for k, v in os.environ.items() if k not in (FASTDDS_VAR, FASTRTPS_VAR, "FASTDDS_BUILTIN_TRANSPORTS")}
    log = open(tmp_path / "launch.log", "w")
    launch = subprocess.Popen(["ros2", "launch", str(repo_root / "launch" / "pipeline.launch.py"), "namespace:=ddsp",
                               "input_topic:=/ddsp_in", "num_servers:=1", "backend:=fake", "log_level:=warn",
                               "dds_profile:=shm"], stdout=log, stderr=subprocess.STDOUT, env=env,
                              start_new_session=True)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("ddsp_client", context=ctx)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    out, active = [], {}
    node.create_subscription(Detection2DArray, "/ddsp/detections", out.append, reliable(5))
    node.create_subscription(ServerStatus, "/ddsp/server_status",
                             lambda m: active.__setitem__(m.server_id, m.state), reliable(10))
    pub = node.create_publisher(Image, "/ddsp_in", reliable(2))
    try:
        end = time.monotonic() + 45
        # the aggregator's plan subscription too: a plan published before the frontend sees it is
        # answered by nobody (the frontend counts the frame as unanswered)
        while (pub.get_subscription_count() == 0 or active.get(0) != "active"
               or node.count_publishers("/ddsp/detections") == 0
               or node.count_subscribers("/ddsp/plan") == 0) and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.1)
            assert launch.poll() is None, (tmp_path / "launch.log").read_text()[-3000:]
        assert active.get(0) == "active", (tmp_path / "launch.log").read_text()[-3000:]
        procs = _session_environ(launch.pid)
        time.sleep(1.0)
        img = np.full((H, W, 3), 15, np.uint8)
        img[1000:1200, 1800:1900] = 240
        msg = Image()
        msg.height, msg.width, msg.encoding, msg.step = H, W, "bgr8", W * 3
        msg.data = img.tobytes()
        msg.header.stamp.sec, msg.header.frame_id = 4242, "ddsp_cam"
        pub.publish(msg)
        end = time.monotonic() + 30
        while not out and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.1)
    finally:
        os.killpg(launch.pid, signal.SIGINT)
        try:
            launch.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(launch.pid, signal.SIGKILL)
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        log.close()
    text = (tmp_path / "launch.log").read_text()
    assert "XMLPARSER" not in text, text[-3000:]
    shipped = str(repo_root / "config" / "fastdds" / "shm_large.xml")
    nodes = {cmd: e for cmd, e in procs.values() if "_node" in cmd and "ros2" not in cmd.split()[0:2]}
    assert len([c for c in nodes if "edge_detector_node" in c]) == 1 and any("frontend_node" in c for c in nodes), \
        list(nodes)
    assert all(e.get(FASTDDS_VAR) == shipped for e in nodes.values()), {c: e.get(FASTDDS_VAR) for c, e in nodes.items()}
    launcher = [e for cmd, e in procs.values() if "launch" in cmd and "_node" not in cmd]
    assert launcher and all(FASTDDS_VAR not in e for e in launcher)
    assert [m.header.stamp.sec for m in out] == [4242], text[-3000:]
    boxes = [(round(d.bbox.center.position.x), round(d.bbox.center.position.y)) for d in out[0].detections]
    assert boxes == [(1850, 1100)], boxes
