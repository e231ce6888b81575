"""No import cycles: the module import graphs of src/repose_ros and of compat/src are acyclic."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _modules(root: pathlib.Path) -> dict:
    """Map dotted module names below ``root`` to (path, is_package)."""
    modules = {}
    for path in root.rglob('*.py'):
        parts = list(path.relative_to(root).with_suffix('').parts)
        package = parts[-1] == '__init__'
        modules['.'.join(parts[:-1] if package else parts)] = (path, package)
    return modules


def _imported(node, name: str, package: bool, modules: dict) -> list:
    """Return the modules of ``modules`` that an import statement of module ``name`` names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in modules]
    base = node.module or ''
    if node.level:
        parts = name.split('.') if package else name.split('.')[:-1]
        parts = parts[:len(parts) - node.level + 1]
        base = '.'.join(parts + ([node.module] if node.module else []))
    found = []
    for alias in node.names:
        full = '{}.{}'.format(base, alias.name)
        found.append(full if full in modules else base)
    return [m for m in found if m in modules and m != name]


def import_graph(root: pathlib.Path, lazy: bool) -> dict:
    """Module -> imported modules; with ``lazy`` imports inside functions count too."""
    modules = _modules(root)
    graph = {}
    for name, (path, package) in modules.items():
        tree = ast.parse(path.read_text(encoding='utf-8'))
        nodes = ast.walk(tree) if lazy else tree.body
        graph[name] = {dep for node in nodes if isinstance(node, (ast.Import, ast.ImportFrom))
                       for dep in _imported(node, name, package, modules)}
    return graph


def find_cycle(graph: dict) -> list:
    """Return one import cycle as a list of modules (first repeated last), or []."""
    state = {}

    def visit(module, path):
        state[module] = 'open'
        for dep in sorted(graph[module]):
            if state.get(dep) == 'open':
                return path[path.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep, path + [dep])
                if cycle:
                    return cycle
        state[module] = 'done'
        return []

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [module])
            if cycle:
                return cycle
    return []


@pytest.mark.parametrize('root,lazy', [
    ('src', False),
    ('src', True),  # nor does the package
    ('compat/src', False),
    ('compat/src', True),  # the stand-ins do not hide a cycle behind imports inside functions
])
def test_no_import_cycle(root, lazy):
    """The import graph has no cycle."""
    cycle = find_cycle(import_graph(ROOT / root, lazy))
    assert not cycle, 'import cycle: ' + ' -> '.join(cycle)


def test_cycle_finder_finds_a_cycle():
    """The finder reports a cycle where there is one."""
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) == []
