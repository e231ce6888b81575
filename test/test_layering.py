"""Package layering: each folder of src/repose_ros imports only the folders below it (AST, imports anywhere)."""
import ast
import pathlib

import pytest

PKG = pathlib.Path(__file__).resolve().parents[1] / 'src' / 'repose_ros'

# What each folder may import besides itself. ``msg`` is the generated interface package.
ALLOWED = {
    'core': {'detectors'},                 # the pipeline assembles the method with its detector zoo
    'detectors': {'core'},
    'datasets': {'core'},
    'evaluation': {'core', 'datasets', 'detectors'},
    'profiling': {'core', 'datasets', 'detectors', 'evaluation'},
    'training': {'core', 'datasets', 'detectors', 'evaluation'},
    'ros': {'core', 'msg'},
    'nodes': {'core', 'datasets', 'detectors', 'ros', 'msg'},
    'testing': {'core', 'datasets', 'detectors', 'ros', 'msg'},   # benchmarks build the in-process core
    'cli': {'core', 'datasets', 'detectors', 'evaluation', 'profiling', 'training', 'ros', 'testing', 'msg'},
}


def _folder_imports(path: pathlib.Path) -> set:
    """Return the repose_ros folders that the module at ``path`` imports (absolute imports only)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split('.')
            if parts[0] == 'repose_ros' and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules():
    return sorted(p for p in PKG.rglob('*.py') if len(p.relative_to(PKG).parts) > 1)


def test_every_folder_has_a_rule():
    folders = {p.relative_to(PKG).parts[0] for p in _modules()} - {'data'}
    assert folders <= set(ALLOWED), f"folders without a layering rule: {sorted(folders - set(ALLOWED))}"


def test_no_relative_imports():
    relative = [str(p.relative_to(PKG)) for p in _modules()
                if any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(ast.parse(p.read_text())))]
    assert not relative, f"use absolute imports (repose_ros....): {relative}"


@pytest.mark.parametrize('path', _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_module_imports_only_lower_layers(path):
    folder = path.relative_to(PKG).parts[0]
    if folder == 'data':
        return
    stray = _folder_imports(path) - ALLOWED[folder] - {folder}
    assert not stray, f"{path.relative_to(PKG)} ({folder}/) imports {sorted(stray)}"
