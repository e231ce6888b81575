#!/usr/bin/env python3
"""Write the public API of an rclpy source tree (a distribution's branch) as JSON.

    git -C rclpy archive humble rclpy/rclpy | tar -x -C /tmp/rclpy_humble
    python tools/rclpy_api.py /tmp/rclpy_humble/rclpy/rclpy > test/data/rclpy_api_humble.json

The snapshot lets ``test/ros/test_distro_api.py`` check, without a Humble install, that the package
uses only modules, names, methods and keyword arguments that Humble's rclpy has (the oldest
supported distribution). Read with ``ast``: nothing of the tree is imported or run.
"""
from __future__ import annotations

import ast
import json
import pathlib
import sys


def _params(fn: ast.FunctionDef) -> list:
    args = fn.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    if args.kwarg is not None:
        names.append("**")
    return [n for n in names if n != "self"]


def module_api(tree: ast.Module) -> dict:
    """Top-level names of a module, and per class its methods (with their parameter names)."""
    names, classes, functions = set(), {}, {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
            functions[node.name] = _params(node)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            methods = {}
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    methods[item.name] = _params(item)
                elif isinstance(item, ast.Assign):
                    for t in item.targets:
                        if isinstance(t, ast.Name):
                            methods.setdefault(t.id, [])
                elif isinstance(item, ast.ClassDef):
                    methods.setdefault(item.name, [])
            classes[node.name] = {"bases": [ast.unparse(b) for b in node.bases], "members": methods}
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    names.add(t.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                names.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.Try):  # try: import X except ImportError: ...
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    for a in sub.names:
                        names.add((a.asname or a.name).split(".")[0])
    return {"names": sorted(names), "classes": classes, "functions": functions}


def tree_api(root: pathlib.Path) -> dict:
    """API of every module under ``root`` (the ``rclpy`` package folder), keyed by dotted module name."""
    api = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        api[".".join(parts)] = module_api(ast.parse(path.read_text(encoding="utf-8")))
    return api


def main(argv=None) -> int:
    """Print the JSON API of the rclpy package folder given as the only argument."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    json.dump(tree_api(pathlib.Path(argv[0])), sys.stdout, indent=0, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
