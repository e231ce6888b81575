"""Launch arguments win over every entry of the parameters file (real rcl / rclpy merge rules)."""
import pytest
import yaml

from repose_ros.ros.launch_params import node_patterns, overrides_content, write_overrides

rclpy = pytest.importorskip("rclpy")

USER_FILE = {
    "/**": {"ros__parameters": {"backend": "ultralytics", "num_servers": 4}},
    "/**/camera": {"ros__parameters": {"compressed": False, "backend": "ultralytics"}},
    "repose": {"camera": {"ros__parameters": {"num_servers": 3}}},
}


def _params_of(node_name, namespace, files, declared):
    """Start a node in its own context with these --params-file arguments; return its declared values."""
    args = ["--ros-args"]
    for f in files:
        args += ["--params-file", str(f)]
    ctx = rclpy.Context()
    rclpy.init(args=args, context=ctx)
    try:
        node = rclpy.create_node(node_name, namespace=namespace, context=ctx)
        try:
            return {name: node.declare_parameter(name, default).value for name, default in declared.items()}
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)


def test_node_patterns_include_nested_namespaces():
    assert node_patterns(USER_FILE) == ["/**", "/**/camera", "repose/camera"]


def test_the_problem_is_real_without_the_overrides_file(tmp_path):
    """A dict written under /** (what launch_ros does with a parameters dict) loses to /**/camera."""
    user = tmp_path / "user.yaml"
    user.write_text(yaml.safe_dump(USER_FILE))
    as_dict = tmp_path / "dict.yaml"
    as_dict.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"compressed": True}}}))
    got = _params_of("camera", "/repose", [user, as_dict], {"compressed": False})
    assert got["compressed"] is False


@pytest.mark.parametrize("namespace", ["/repose", "/other"])
def test_overrides_win_over_specific_and_nested_entries(tmp_path, namespace):
    user = tmp_path / "user.yaml"
    user.write_text(yaml.safe_dump(USER_FILE))
    over = write_overrides(str(user), {"compressed": True, "backend": "fake", "num_servers": 2},
                           directory=str(tmp_path))
    got = _params_of("camera", namespace, [user, over], {"compressed": False, "backend": "x", "num_servers": 1})
    assert got == {"compressed": True, "backend": "fake", "num_servers": 2}
    # Nodes the user's file does not name get them from /**.
    got = _params_of("aggregator", namespace, [user, over], {"backend": "x"})
    assert got == {"backend": "fake"}


def test_file_without_wildcard_entry_gets_one(tmp_path):
    user = tmp_path / "user.yaml"
    user.write_text(yaml.safe_dump({"/repose/camera": {"ros__parameters": {"compressed": False}}}))
    content = overrides_content(str(user), {"compressed": True})
    assert set(content) == {"/repose/camera", "/**"}


@pytest.mark.parametrize("text,match", [("- a\n- b\n", "must map"), ("a: [1,\n", "not valid YAML")])
def test_bad_params_file_is_a_clear_error(tmp_path, text, match):
    user = tmp_path / "user.yaml"
    user.write_text(text)
    with pytest.raises(ValueError, match=match):
        overrides_content(str(user), {"x": 1})
    with pytest.raises(ValueError, match="cannot read"):
        overrides_content(str(tmp_path / "missing.yaml"), {"x": 1})
