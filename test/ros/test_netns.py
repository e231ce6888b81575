"""Multi-host test bed: every edge detector in its own network namespace, linked by a bridge.

Layout (all created by the test, removed by a fixture finaliser even when the test fails)::

    <p>hub     bridge br0 (and the host ends of the veth pairs)
    <p>front   eth0 10.77.0.1/24: frontend (camera + partitioner), aggregator, the test's client
    <p>e0      eth0 10.77.0.2/24: edge_detector_0
    <p>e1      eth0 10.77.0.3/24: edge_detector_1

The addresses exist only inside these namespaces; nothing is configured in the machine's own
network namespace, and no traffic leaves it. DDS runs as between separate machines: discovery
by multicast over the bridge (``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET``, nothing localhost-only)
and UDPv4 only (``FASTDDS_BUILTIN_TRANSPORTS=UDPv4``: shared memory would bypass the links,
since all namespaces share this machine's /dev/shm). See docs/multi_host.md for real networks.

The test streams frames, cuts edge 1's link (``ip link set eth0 down``) and restores it: every
frame is answered exactly once, server 1 is dropped from the plans while cut and used again
after. Where namespaces are not permitted (no root, no ``ip``, a container without
CAP_SYS_ADMIN/CAP_NET_ADMIN) it is skipped and the reason is printed.
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

rclpy = pytest.importorskip("rclpy")

from repose_ros.testing.launched import stop_process_group  # noqa: E402

RATE = 4.0
SERVER_TIMEOUT_S = 1.0
STATUS_PERIOD_S = 0.2
PREFIX = f"rpt{os.getpid()}-"
SUBNET = "10.77.0"
NAMESPACES = {"front": 1, "e0": 2, "e1": 3}  # namespace suffix -> host part of its address

CLIENT = textwrap.dedent("""
    import json, sys, time
    from repose_ros.datasets.synthetic import blob_grid_frame
    from repose_ros.testing.stream import Stream
    ns, topic, servers, duration, rate, out = sys.argv[1:7]
    s = Stream(ns, topic)
    s.start()
    s.wait_ready(int(servers), timeout=120.0)
    print("READY", flush=True)
    s.send_for(float(duration), float(rate), lambda i: blob_grid_frame(i, 960, 540), "run")
    s.drain(20.0)
    offset = time.time() - time.monotonic()
    json.dump([dict(index=r.index, sent=r.sent + offset, answers=r.answers, degraded=r.degraded,
                    missing=r.missing, servers=r.servers, live=r.live, missing_servers=sorted(r.missing_servers()),
                    answered=None if r.answered_at is None else r.answered_at + offset,
                    planned=None if r.planned_at is None else r.planned_at + offset) for r in s.records()],
              open(out, "w"))
    s.close()
""")


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _skip(reason):
    print(f"\n[netns] SKIPPED: {reason}", file=sys.stderr, flush=True)
    pytest.skip(reason)


def _remove_stale():
    """Delete namespaces left by test runs whose process is gone (e.g. killed with SIGKILL)."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        m = re.match(r"(rpt(\d+)-\S+)", line)
        if m and not os.path.exists(f"/proc/{m.group(2)}"):
            _ip("netns", "del", m.group(1), check=False)


@pytest.fixture
def netbed():
    """Create the namespaces, bridge and veth pairs; yield the namespace names; always delete them."""
    if not sys.platform.startswith("linux"):
        _skip("network namespaces need Linux")
    if shutil.which("ip") is None:
        _skip("the 'ip' command (iproute2) is not installed")
    _remove_stale()
    hub = PREFIX + "hub"
    probe = _ip("netns", "add", hub, check=False)
    if probe.returncode != 0:
        _skip(f"'ip netns add' is not permitted here ({probe.stderr.strip() or probe.returncode}); "
              "it needs root or CAP_SYS_ADMIN + CAP_NET_ADMIN")
    created = [hub]
    try:
        _ip("-n", hub, "link", "set", "lo", "up")
        _ip("-n", hub, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        _ip("-n", hub, "link", "set", "br0", "up")
        names = {}
        for suffix, host in NAMESPACES.items():
            ns = PREFIX + suffix
            _ip("netns", "add", ns)
            created.append(ns)
            names[suffix] = ns
            port = f"p{host}"
            # Both ends are created directly inside the test's namespaces.
            _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", hub)
            _ip("-n", hub, "link", "set", port, "master", "br0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{SUBNET}.{host}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")  # DDS discovery multicast
        yield names
    except subprocess.CalledProcessError as exc:
        _skip(f"cannot build the namespace test bed: {' '.join(exc.cmd)}: {exc.stderr.strip()}")
    finally:
        for ns in reversed(created):
            _ip("netns", "del", ns, check=False)
        left = [ns for ns in created if ns in _ip("netns", "list", check=False).stdout]
        assert not left, f"namespaces not removed: {left}"


def _netns_env(domain):
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=domain, ROS_AUTOMATIC_DISCOVERY_RANGE="SUBNET", FASTDDS_BUILTIN_TRANSPORTS="UDPv4",
               PYTHONUNBUFFERED="1")
    for key in ("ROS_STATIC_PEERS", "ROS_LOCALHOST_ONLY", "FASTDDS_DEFAULT_PROFILES_FILE",
                "FASTRTPS_DEFAULT_PROFILES_FILE"):
        env.pop(key, None)
    return env


@pytest.mark.ros
@pytest.mark.slow
def test_edge_servers_in_separate_namespaces_survive_a_link_cut(netbed, tmp_path, repo_root):
    """Discovery across namespaces; cutting edge 1's link drops it from the plans; restoring brings it back."""
    domain = str(30 + (os.getpid() % 30) * 4 + 2)
    env = _netns_env(domain)
    params = yaml.safe_load((repo_root / "config" / "repose.yaml").read_text())
    params["/**"]["ros__parameters"].update(backend="fake", num_servers=2, status_period_s=STATUS_PERIOD_S)
    params["/**/partitioner"]["ros__parameters"].update(server_timeout_s=SERVER_TIMEOUT_S, budget_ms=1000.0,
                                                        deadline_factor=1.0, publish_debug_image=False)
    params["/**/aggregator"]["ros__parameters"].update(deadline_slack_ms=300.0)
    params["/**/camera"]["ros__parameters"].update({"qos.depth": 20, "queue.size": 8})  # see test_faults.py
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    bindir = os.path.dirname(sys.executable)
    ros = ["--ros-args", "-r", "__ns:=/nt", "--params-file", str(params_file), "--log-level", "warn"]
    commands = {
        "front": [f"{bindir}/frontend_node", *ros, "-r", "image_raw:=/nt_in"],
        "aggregator": [f"{bindir}/aggregator_node", *ros, "-r", "__node:=aggregator"],
        "e0": [f"{bindir}/edge_detector_node", *ros, "-r", "__node:=edge_detector_0", "-p", "server_id:=0"],
        "e1": [f"{bindir}/edge_detector_node", *ros, "-r", "__node:=edge_detector_1", "-p", "server_id:=1"],
    }
    where = {"front": "front", "aggregator": "front", "e0": "e0", "e1": "e1"}
    procs, logs = {}, {}
    duration, cut_at, restore_at = 14.0, 3.0, 7.0
    (tmp_path / "client.py").write_text(CLIENT)
    out = tmp_path / "frames.json"
    try:
        for role, cmd in commands.items():
            logs[role] = open(tmp_path / f"{role}.log", "w")
            procs[role] = subprocess.Popen(["ip", "netns", "exec", netbed[where[role]], *cmd], env=env,
                                           stdout=logs[role], stderr=subprocess.STDOUT, start_new_session=True)
        client = subprocess.Popen(["ip", "netns", "exec", netbed["front"], sys.executable, str(tmp_path / "client.py"),
                                   "nt", "/nt_in", "2", str(duration), str(RATE), str(out)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
        procs["client"] = client
        line = ""
        t_wait = time.monotonic()
        while "READY" not in line:
            line = client.stdout.readline()
            assert line or client.poll() is None, "client exited before the pipeline was ready"
            assert time.monotonic() - t_wait < 150, "pipeline not ready across namespaces"
        t0 = time.time()
        time.sleep(max(0.0, t0 + cut_at - time.time()))
        _ip("-n", netbed["e1"], "link", "set", "eth0", "down")
        t_cut = time.time()
        time.sleep(max(0.0, t0 + restore_at - time.time()))
        t_restore_begin = time.time()
        _ip("-n", netbed["e1"], "link", "set", "eth0", "up")
        _ip("-n", netbed["e1"], "route", "replace", "224.0.0.0/4", "dev", "eth0")
        t_restore = time.time()
        rest, _ = client.communicate(timeout=duration + 60)
        assert client.returncode == 0, rest
    finally:
        for p in procs.values():
            stop_process_group(p, timeout=10.0)
        for f in logs.values():
            f.close()

    recs = json.loads(out.read_text())
    diag = "\n".join(f"{r['index']:3d} t={r['sent'] - t0:5.1f} live={r['live']} servers={r['servers']} "
                     f"answers={r['answers']} "
                     f"degraded={r['degraded']} missing from {r['missing_servers']}" for r in recs)
    diag += "".join(f"\n--- {role}:\n" + (tmp_path / f"{role}.log").read_text()[-1500:] for role in commands)
    assert len(recs) >= duration * RATE - 1
    assert all(r["answers"] == 1 for r in recs), diag  # every frame exactly once, also during the cut
    before = [r for r in recs if r["answered"] is not None and r["answered"] < t_cut]
    # Frames judged "during the cut": sent after the cut and planned (their plan received here)
    # before the link came back; a frame sent just before the restore may be planned after it.
    during = [r for r in recs if t_cut <= r["sent"] and r["planned"] is not None and r["planned"] < t_restore_begin]
    after = [r for r in recs if r["sent"] >= t_restore]
    # Before the cut both servers are live. On a loaded machine one heartbeat gap longer than the 1 s
    # timeout has been seen twice in fresh-clone CI runs (one frame planned with one server, the
    # frames around it with both); one such frame is tolerated, a liveness that flaps is not.
    assert sum(1 for r in before if tuple(r["live"] or ()) != (0, 1)) <= 1, diag
    assert before and tuple(before[-1]["live"] or ()) == (0, 1), diag
    # Before the cut nothing is lost; on a loaded machine a block may miss its deadline now and then
    # (flagged degraded, coarse boxes in its place), which is not what this test is about.
    assert sum(1 for r in before if r["degraded"]) <= 2, diag
    # While cut: server 1 no longer counts as live (nor is planned for) once its heartbeat is older
    # than the timeout.
    bound = math.ceil((SERVER_TIMEOUT_S + STATUS_PERIOD_S + 1.0) * RATE)
    last_bad = max((i for i, r in enumerate(during) if 1 in (r["live"] or ()) or 1 in (r["servers"] or ())
                    or 1 in r["missing_servers"]), default=-1)
    recovery = last_bad + 1
    assert recovery <= bound and recovery < len(during), diag
    # Restored: server 1 counts as live again (whether a plan uses it is the planner's choice).
    rejoin = next((i + 1 for i, r in enumerate(after) if 1 in (r["live"] or ())), None)
    assert rejoin is not None and rejoin <= math.ceil(4.0 * RATE), diag
    degraded = sum(1 for r in recs if r["degraded"])
    print(f"\n[netns] {len(recs)} frames at {RATE:g} Hz across 3 namespaces (UDPv4, multicast discovery on a bridge): "
          f"{sum(r['answers'] == 1 for r in recs)} answered exactly once, {degraded} degraded")
    print(f"[netns] link of edge 1 cut for {t_restore - t_cut:.1f} s: dropped from the plans after {recovery} frames "
          f"(bound {bound}); live again {rejoin} frames after the link came back")
