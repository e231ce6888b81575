"""
The ``ros2`` command of the stand-in.

When a real ROS 2 command line is available (``ros2cli`` importable, or another ``ros2``
executable on PATH) the command hands over to it with the same arguments. Otherwise it offers
``launch``, ``run``, ``topic`` (list, echo, hz, info, pub), ``node list`` and ``pkg`` (prefix,
list, executables). Set REPOSE_ROS2_COMPAT_FORCE=1 to use the stand-in regardless.
"""

import argparse
import importlib.util
import os
import shlex
import shutil
import sys
import traceback
from typing import List
from typing import Optional
from typing import Text

HANDOVER_ENV = 'REPOSE_ROS2_COMPAT_HANDOVER'
FORCE_ENV = 'REPOSE_ROS2_COMPAT_FORCE'
COMMANDS = ('launch', 'run', 'topic', 'node', 'pkg')

USAGE = """usage: ros2 <command> [options]

repose_ros stand-in for the ROS 2 command line (no ROS 2 distribution is installed here).

Commands:
  launch   Run a launch file: ros2 launch <package> <file> [name:=value ...]
  run      Run a package specific executable: ros2 run <package> <executable> [args ...]
  topic    Various topic related sub-commands (list, echo, hz, info, pub)
  node     Various node related sub-commands (list)
  pkg      Various package related sub-commands (prefix, list, executables)

Call `ros2 <command> -h` for more detailed usage."""


def _is_compat_script(path: Text) -> bool:
    try:
        with open(path, 'rb') as handle:
            return b'ros2_compat' in handle.read(4096)
    except OSError:
        return False


def find_real_ros2(argv0: Optional[Text] = None) -> Optional[Text]:
    """Return the path of a ``ros2`` executable on PATH that is not this stand-in, or None."""
    own = set()
    for candidate in (argv0 if argv0 is not None else sys.argv[0], shutil.which('ros2')):
        if candidate and os.path.exists(candidate) and _is_compat_script(candidate):
            own.add(os.path.realpath(candidate))
    for directory in os.environ.get('PATH', '').split(os.pathsep):
        candidate = os.path.join(directory or '.', 'ros2')
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        if os.path.realpath(candidate) in own or _is_compat_script(candidate):
            continue
        return candidate
    return None


def hand_over(argv: List[Text]) -> None:
    """Run the real ros2 command instead of the stand-in when one exists (does not return)."""
    if os.environ.get(FORCE_ENV) == '1' or os.environ.get(HANDOVER_ENV):
        return
    try:
        has_ros2cli = importlib.util.find_spec('ros2cli') is not None
    except (ImportError, ValueError):
        has_ros2cli = False
    if has_ros2cli:
        os.environ[HANDOVER_ENV] = '1'
        from ros2cli.cli import main as real_main  # pragma: no cover - needs ROS 2
        sys.argv = ['ros2'] + list(argv)  # pragma: no cover
        sys.exit(real_main())  # pragma: no cover
    real = find_real_ros2()
    if real is not None:
        os.environ[HANDOVER_ENV] = '1'
        os.execv(real, [real] + list(argv))


# ------------------------------------------------------------------------------ launch
def _launch_command(argv: List[Text]) -> int:
    from . import launch as compat_launch
    parser = argparse.ArgumentParser(
        prog='ros2 launch', description='Run a launch file (repose_ros stand-in: Python launch '
        'files, see compat/README.md)')
    parser.add_argument('-d', '--debug', action='store_true', help='Put the launch system in '
                        'debug mode, provides more verbose output.')
    parser.add_argument('-s', '--show-args', '--show-arguments', action='store_true',
                        help='Show arguments that may be given to the launch file.')
    parser.add_argument('-a', '--show-all-subprocesses-output', action='store_true',
                        help='Show all launched subprocesses\' output by overriding their output '
                        'configuration.')
    parser.add_argument('-n', '--noninteractive', default=not compat_launch.stdin_is_a_tty(),
                        action='store_true', help='Run the launch system non-interactively, with '
                        'no terminal associated (default: when stdin is not a terminal). Then '
                        'SIGINT to the launch is sent on to every process; interactively the '
                        "terminal's Ctrl-C already reached them.")
    parser.add_argument('--launch-prefix', default=None, help='Prefix command, which should go '
                        'before all executables.')
    parser.add_argument('package_name', help='Name of the ROS package which contains the launch '
                        'file, or the path to a launch file')
    parser.add_argument('launch_file_name', nargs='?', help='Name of the launch file')
    parser.add_argument('launch_arguments', nargs='*', help="Arguments to the launch file; "
                        "'<name>:=<value>' (for duplicates, last one wins)")
    args = parser.parse_args(argv)
    try:
        path, launch_args = compat_launch.resolve_launch_file(
            args.package_name, args.launch_file_name, args.launch_arguments)
        if args.show_args:
            description = compat_launch.load_launch_description(path)
            print(compat_launch.format_arguments(description))
            return 0
        return compat_launch.run(path, launch_args, debug=args.debug,
                                 show_all_output=args.show_all_subprocesses_output,
                                 launch_prefix=args.launch_prefix,
                                 noninteractive=args.noninteractive)
    except compat_launch.LaunchError as exc:
        print(exc, file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - report errors of the launch file like ros2 launch
        if args.debug:
            traceback.print_exc()
        print('[ERROR] [launch]: Caught exception when trying to load file of format [py]: {}: {}'
              .format(type(exc).__name__, exc), file=sys.stderr)
        return 1


# ------------------------------------------------------------------------------ run
def package_executables(package_name: Text) -> List[Text]:
    """
    List the executables of a package as ``ros2 pkg executables`` / ``ros2 run`` find them.

    They are the executable files below ``<prefix>/lib/<package>/`` (searched recursively,
    folders starting with '.' skipped), the prefix coming from the ament index. Raises
    LookupError("Package '<name>' not found") for a package the index does not know.
    """
    from ament_index_python.packages import get_package_prefix
    from ament_index_python.packages import PackageNotFoundError
    try:
        prefix = get_package_prefix(package_name)
    except (PackageNotFoundError, ValueError):
        raise LookupError("Package '{}' not found".format(package_name)) from None
    found = []
    for folder, subfolders, files in os.walk(os.path.join(prefix, 'lib', package_name)):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith('.'))
        for name in sorted(files):
            path = os.path.join(folder, name)
            if os.access(path, os.X_OK):
                found.append(path)
    return found


def find_package_executable(package_name: Text, executable_name: Text) -> Text:
    """Return the one executable ``executable_name`` of a package (as ``ros2 run`` does)."""
    matches = [p for p in package_executables(package_name)
               if os.path.basename(p) == executable_name]
    if not matches:
        raise LookupError('No executable found')
    if len(matches) > 1:
        raise LookupError('Multiple executables found:' + ''.join('\n- ' + p for p in matches))
    return matches[0]


def _run_command(argv: List[Text]) -> int:
    parser = argparse.ArgumentParser(prog='ros2 run', description='Run a package specific '
                                     'executable (repose_ros stand-in)')
    parser.add_argument('--prefix', default=None, help='Prefix command, which should go before '
                        'the executable. Command must be wrapped in quotes if it contains spaces '
                        "(e.g. --prefix 'gdb -ex run --args').")
    parser.add_argument('package_name', help='Name of the ROS package')
    parser.add_argument('executable_name', help='Name of the executable')
    parser.add_argument('argv', nargs=argparse.REMAINDER, help='Pass arbitrary arguments to the '
                        'executable')
    args = parser.parse_args(argv)
    try:
        path = find_package_executable(args.package_name, args.executable_name)
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 1
    cmd = ([] if args.prefix is None else shlex.split(args.prefix)) + [path] + list(args.argv)
    sys.stdout.flush()
    os.execvp(cmd[0], cmd)
    return 1  # pragma: no cover - execvp does not return


# ------------------------------------------------------------------------------ pkg
def _pkg_command(argv: List[Text]) -> int:
    from ament_index_python.packages import get_package_prefix
    from ament_index_python.packages import get_package_share_directory
    from ament_index_python.packages import get_packages_with_prefixes
    from ament_index_python.packages import PackageNotFoundError
    from .graph import verb_parser
    parser, verbs = verb_parser('pkg', 'package')
    p = verbs.add_parser('prefix', help='Output the prefix path of a package')
    p.add_argument('package_name', help='The package name')
    p.add_argument('--share', action='store_true', help='Show share directory for the package')
    p = verbs.add_parser('list', help='Output a list of available packages')
    p = verbs.add_parser('executables', help='Output a list of package specific executables')
    p.add_argument('package_name', nargs='?', help='The package name')
    p.add_argument('--full-path', action='store_true', help='Show the full path of each executable')
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    packages = get_packages_with_prefixes()
    if args.verb == 'list':
        for name in sorted(packages):
            print(name)
        return 0
    if args.verb == 'prefix':
        try:
            if args.share:
                print(get_package_share_directory(args.package_name))
            else:
                print(get_package_prefix(args.package_name))
        except PackageNotFoundError:
            print('Package not found', file=sys.stderr)
            return 1
        return 0
    names = [args.package_name] if args.package_name else sorted(packages)
    if args.package_name and args.package_name not in packages:
        print('Package not found', file=sys.stderr)
        return 1
    for name in names:
        for path in package_executables(name):
            print(path if args.full_path else '{} {}'.format(name, os.path.basename(path)))
    return 0


# ------------------------------------------------------------------------------ topic / node
def _quiet_interrupt_in_finalizer(unraisable) -> None:
    """Report unraisable exceptions as Python does, except a Ctrl-C that landed in a finalizer.

    rclpy's SIGINT handler shuts the context down (which ends the command) and Python then raises
    KeyboardInterrupt wherever the interpreter is; inside a ``__del__`` (e.g. rclpy's Task during
    garbage collection) it cannot propagate and Python would print it as a traceback.
    """
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        return
    sys.__unraisablehook__(unraisable)


def _graph_command(parser_factory, argv: List[Text]) -> int:
    from rclpy.executors import ExternalShutdownException
    from .graph import CommandError
    sys.unraisablehook = _quiet_interrupt_in_finalizer
    parser = parser_factory()
    args = parser.parse_args(argv)
    if getattr(args, 'func', None) is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    except (CommandError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1


def _topic_command(argv: List[Text]) -> int:
    from .graph import topic_parser
    return _graph_command(topic_parser, argv)


def _node_command(argv: List[Text]) -> int:
    from .graph import node_parser
    return _graph_command(node_parser, argv)


def main(argv: Optional[List[Text]] = None) -> int:
    """Entry point of the ``ros2`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    hand_over(argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    handlers = {'launch': _launch_command, 'run': _run_command, 'topic': _topic_command,
                'node': _node_command, 'pkg': _pkg_command}
    if command not in handlers:
        print("ros2: error: unknown command '{}'. The repose_ros stand-in supports: {}. Install "
              'ROS 2 (ros2cli) for the full command line.'.format(command, ', '.join(COMMANDS)),
              file=sys.stderr)
        return 2
    try:
        return handlers[command](rest)
    except KeyboardInterrupt:
        return 0


if __name__ == '__main__':
    sys.exit(main())
