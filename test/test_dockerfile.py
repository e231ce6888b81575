"""Consistency of the Dockerfile with the repository (no Docker daemon needed; it is not built here).

Every COPY source exists and is not excluded by .dockerignore, the pip requirements it installs
exist, the launch file the entrypoint runs is installed by CMakeLists.txt, every rosdep key of
package.xml has its apt package in the apt-get install, and .dockerignore keeps local environments
and build outputs out of the context.
"""
import fnmatch
import re
import shlex
import xml.etree.ElementTree as ET

import pytest

# rosdep keys of package.xml that are system packages, and their apt names (Ubuntu 22.04 and 24.04).
SYSTEM_KEYS = {
    "python3-numpy": "python3-numpy",
    "python3-yaml": "python3-yaml",
    "python3-opencv": "python3-opencv",
    "python3-sklearn": "python3-sklearn",
    "python3-scipy": "python3-scipy",
    "python3-pytest": "python3-pytest",
    "python3-hypothesis": "python3-hypothesis",
    "python3-flake8": "python3-flake8",
    "pydocstyle": "pydocstyle",
}
DEPEND_TAGS = ("buildtool_depend", "build_depend", "depend", "exec_depend", "test_depend")


def _instructions(text):
    """Return (INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    out, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        word, _, rest = current.partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out


@pytest.fixture(scope="module")
def dockerfile(repo_root):
    """Return the parsed instructions of the top-level Dockerfile."""
    return _instructions((repo_root / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def ignored(repo_root):
    """Return the patterns of .dockerignore."""
    lines = (repo_root / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _is_ignored(path, patterns):
    parts = path.strip("/").split("/")
    for pattern in patterns:
        pattern = pattern.strip("/")
        bare = pattern[3:] if pattern.startswith("**/") else pattern
        for i in range(len(parts)):
            if fnmatch.fnmatch("/".join(parts[:i + 1]), pattern) or fnmatch.fnmatch(parts[i], bare):
                return True
    return False


def _apt_packages(dockerfile, distro):
    packages = set()
    for word, args in dockerfile:
        if word != "RUN":
            continue
        for command in re.split(r"&&|;", args):
            tokens = shlex.split(command)
            if tokens[:2] == ["apt-get", "install"]:
                packages.update(t.replace("${ROS_DISTRO}", distro) for t in tokens[2:] if not t.startswith("-"))
    return packages


def test_copy_sources_exist_and_are_in_the_context(repo_root, dockerfile, ignored):
    """Every COPY source exists in the repository and .dockerignore does not leave it out."""
    copies = [shlex.split(args) for word, args in dockerfile if word == "COPY"]
    assert copies
    for args in copies:
        args = [a for a in args if not a.startswith("--")]
        for source in args[:-1]:
            assert (repo_root / source).exists(), source
            if source != ".":
                assert not _is_ignored(source, ignored), source


def test_pip_requirements_are_copied_and_exist(repo_root, dockerfile):
    """Each ``pip install -r FILE`` names a file that a COPY brought in from the repository."""
    copied = {}
    for word, args in dockerfile:
        if word == "COPY":
            parts = [a for a in shlex.split(args) if not a.startswith("--")]
            for source in parts[:-1]:
                copied[parts[-1]] = source
    found = 0
    for word, args in dockerfile:
        if word != "RUN":
            continue
        for m in re.finditer(r"pip3? install[^&]*?-r\s+(\S+)", args):
            found += 1
            assert m.group(1) in copied, m.group(1)
            assert (repo_root / copied[m.group(1)]).is_file()
    assert found


def test_entrypoint_runs_the_installed_launch_file(repo_root, dockerfile):
    """The entrypoint runs pipeline.launch.py of repose_ros, which CMakeLists.txt installs."""
    entry = " ".join(args for word, args in dockerfile if word == "ENTRYPOINT")
    assert "ros2 launch repose_ros pipeline.launch.py" in entry
    assert "/opt/ros/${ROS_DISTRO}/setup.bash" in entry and "/ws/install/setup.bash" in entry
    assert (repo_root / "launch" / "pipeline.launch.py").is_file()
    assert re.search(r"install\(DIRECTORY launch config DESTINATION share/\$\{PROJECT_NAME\}\)",
                     (repo_root / "CMakeLists.txt").read_text())
    builds = [args for word, args in dockerfile if word == "RUN" and "colcon build" in args]
    assert builds and "--packages-select repose_ros" in builds[0]


@pytest.mark.parametrize("distro", ["humble", "jazzy", "kilted"])
def test_every_rosdep_key_has_its_apt_package(repo_root, dockerfile, distro):
    """ROS keys map to ros-<distro>-<key with dashes>, system keys to their Ubuntu packages."""
    root = ET.parse(repo_root / "package.xml").getroot()
    keys = {e.text.strip() for tag in DEPEND_TAGS for e in root.iter(tag)}
    installed = _apt_packages(dockerfile, distro)
    missing = []
    for key in sorted(keys):
        apt = SYSTEM_KEYS.get(key) or f"ros-{distro}-{key.replace('_', '-')}"
        if key.startswith("python3-") and key not in SYSTEM_KEYS:
            apt = key
        if apt not in installed:
            missing.append(f"{key} -> {apt}")
    assert not missing, missing


def test_dockerignore_keeps_environments_and_outputs_out(ignored):
    """The local venv, caches and colcon outputs never reach the build context."""
    for name in (".venv", "build", ".cache", "install", "log"):
        assert _is_ignored(name, ignored), name
    for name in ("src/repose_ros/__init__.py", "package.xml", "CMakeLists.txt", "launch", "config", "msg",
                 "scripts"):
        assert not _is_ignored(name, ignored), name
