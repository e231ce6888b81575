"""The package uses only the rclpy API that Humble (the oldest supported distribution) has.

``test/data/rclpy_api_humble.json`` is the API of rclpy's humble branch, written by
``tools/rclpy_api.py`` from its sources. Every ``rclpy`` import of the package (src/ and launch/)
must exist there, unless it sits in a ``try`` that falls back on ImportError; every keyword argument
passed to a method that Humble's Node, LifecycleNode, publisher, subscription, executor or logger
has must be one Humble accepts; and no method that only newer rclpy classes have (computed from the
installed rclpy, where there is one) may be called.
"""
import ast
import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HUMBLE = json.loads((ROOT / "test" / "data" / "rclpy_api_humble.json").read_text())
SOURCES = sorted((ROOT / "src" / "repose_ros").rglob("*.py")) + sorted((ROOT / "launch").glob("*.py"))


def _humble_members():
    members = {}
    for mod in HUMBLE.values():
        for cls in mod["classes"].values():
            for name, params in cls["members"].items():
                members.setdefault(name, set()).update(params)
        for name, params in mod["functions"].items():
            members.setdefault(name, set()).update(params)
    return members


HUMBLE_MEMBERS = _humble_members()


def _guarded_imports(tree):
    """Import nodes inside a ``try`` whose handlers catch ImportError (a fallback exists)."""
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                h.type is not None and "ImportError" in ast.unparse(h.type) for h in node.handlers):
            for sub in node.body:
                for inner in ast.walk(sub):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        guarded.add(id(inner))
    return guarded


def rclpy_imports(path):
    """(line, module, name or None) of every unguarded rclpy import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    guarded = _guarded_imports(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rclpy":
            found.extend((node.lineno, node.module, a.name) for a in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name, None) for a in node.names if a.name.split(".")[0] == "rclpy")
    return found


def missing_in_humble(module, name):
    """Why ``from module import name`` fails on Humble ("" if it works)."""
    if module not in HUMBLE:
        return f"module {module} does not exist in Humble"
    if name is None or name in HUMBLE[module]["names"] or f"{module}.{name}" in HUMBLE:
        return ""
    return f"{module} has no {name} in Humble"


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_rclpy_imports_exist_in_humble(path):
    bad = [f"{path.name}:{line}: {why}" for line, mod, name in rclpy_imports(path)
           if (why := missing_in_humble(mod, name))]
    assert not bad, "\n".join(bad)


def calls(path):
    """(line, method name, keyword names) of every ``x.method(...)`` call in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            yield node.lineno, node.func.attr, [k.arg for k in node.keywords if k.arg is not None]


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_keywords_of_rclpy_methods_exist_in_humble(path):
    checked = {"create_subscription", "create_publisher", "create_timer", "create_client", "create_service",
               "declare_parameter", "create_node", "init", "spin_once", "spin_until_future_complete",
               "get_publishers_info_by_topic", "get_subscriptions_info_by_topic", "create_lifecycle_publisher",
               "debug", "info", "warning", "error", "fatal", "try_shutdown", "destroy_node", "call_async"}
    bad = []
    for line, name, keywords in calls(path):
        if name in checked and name in HUMBLE_MEMBERS and "**" not in HUMBLE_MEMBERS[name]:
            bad += [f"{path.name}:{line}: {name}({k}=...) is not accepted on Humble"
                    for k in keywords if k not in HUMBLE_MEMBERS[name]]
    assert not bad, "\n".join(bad)


def test_no_method_only_newer_rclpy_has():
    rclpy = pytest.importorskip("rclpy")
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from rclpy_api import tree_api
    finally:
        sys.path.pop(0)
    installed = tree_api(pathlib.Path(rclpy.__file__).parent)
    newer = set()
    for mod in installed.values():
        for cls in mod["classes"].values():
            newer.update(m for m in cls["members"] if not m.startswith("_") and m not in HUMBLE_MEMBERS)
    ours = set()  # names the package defines itself (its own classes' methods may share a name)
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                ours.add(node.name)
    bad = [f"{path.relative_to(ROOT)}:{line}: {name} (not in Humble's rclpy)"
           for path in SOURCES for line, name, _ in calls(path) if name in newer - ours]
    assert not bad, "\n".join(bad)


def test_the_checks_catch_newer_api():
    """The checker itself: Jazzy-only imports and keywords are caught."""
    assert missing_in_humble("rclpy.event_handler", "SubscriptionEventCallbacks")
    assert missing_in_humble("rclpy.subscription", "CallbackType") == "rclpy.subscription has no CallbackType in Humble"
    assert not missing_in_humble("rclpy.qos_event", "SubscriptionEventCallbacks")
    assert not missing_in_humble("rclpy.lifecycle", "LifecycleNode")
    assert "get_publisher_count" not in HUMBLE_MEMBERS
    assert "throttle_duration_sec" not in HUMBLE_MEMBERS["warning"] and "**" in HUMBLE_MEMBERS["warning"]
