"""``ros2 launch`` for the stand-in: find, inspect and run a Python launch file."""

import glob
import os
import sys
from typing import Iterable
from typing import List
from typing import Mapping
from typing import Optional
from typing import Text
from typing import Tuple
from typing import Union

from launch import LaunchDescription
from launch import LaunchService
from launch.actions import IncludeLaunchDescription
from launch.actions import SetLaunchConfiguration
from launch.launch_description_source import LaunchDescriptionSource
from launch.launch_description_sources import get_launch_description_from_python_launch_file

LaunchArgs = Union[None, Mapping[Text, Text], Iterable[Union[Text, Tuple[Text, Text]]]]


class LaunchError(RuntimeError):
    """An error to report to the user of ``ros2 launch`` (no traceback)."""


def parse_launch_arguments(launch_args: LaunchArgs) -> List[Tuple[Text, Text]]:
    """
    Normalize launch arguments: a dict, (name, value) pairs or 'name:=value' strings.

    Strings follow ``ros2 launch``: 'name:=' (an empty value), ':=value' and text without ':='
    are refused as malformed; for a repeated name the last value wins.
    """
    if launch_args is None:
        return []
    if isinstance(launch_args, Mapping):
        return [(str(k), str(v)) for k, v in launch_args.items()]
    parsed = {}
    for item in launch_args:
        if isinstance(item, tuple):
            parsed[str(item[0])] = str(item[1])
            continue
        count = item.count(':=')
        if count == 0 or item.startswith(':=') or (count == 1 and item.endswith(':=')):
            raise LaunchError("malformed launch argument '{}', expected format '<name>:=<value>'"
                              .format(item))
        name, value = item.split(':=', 1)
        parsed[name] = value
    return list(parsed.items())


def find_launch_file(package_name: Text, file_name: Text) -> Text:
    """Find ``file_name`` in the share folder of ``package_name`` (searched recursively)."""
    from ament_index_python.packages import get_package_share_directory
    from ament_index_python.packages import PackageNotFoundError
    try:
        share = get_package_share_directory(package_name)
    except PackageNotFoundError:
        raise LaunchError("Package '{}' not found (AMENT_PREFIX_PATH={})".format(
            package_name, os.environ.get('AMENT_PREFIX_PATH', ''))) from None
    matches = sorted(p for p in glob.glob(os.path.join(glob.escape(share), '**', file_name),
                                          recursive=True) if os.path.isfile(p))
    if not matches:
        raise LaunchError("file '{}' was not found in the share directory of package '{}' "
                          "which is at '{}'".format(file_name, package_name, share))
    if len(matches) > 1:
        raise LaunchError("Multiple launch files with name '{}' found: {}".format(
            file_name, ', '.join(matches)))
    return matches[0]


def resolve_launch_file(package_or_path: Text, file_name: Optional[Text],
                        launch_args: List[Text]) -> Tuple[Text, List[Text]]:
    """Apply the ``ros2 launch`` rules: a path (plus arguments) or a package and a file name."""
    if os.path.exists(package_or_path):
        args = list(launch_args)
        if file_name is not None:
            args.insert(0, file_name)
        return package_or_path, args
    if file_name is None:
        raise LaunchError("'{}' is not a launch file and no launch file name was given".format(
            package_or_path))
    return find_launch_file(package_or_path, file_name), list(launch_args)


def load_launch_description(path: Text) -> LaunchDescription:
    """Load a Python launch file (XML and YAML launch files are not supported)."""
    if not path.endswith('.py'):
        raise LaunchError("'{}': only Python launch files are supported by the repose_ros "
                          'stand-in; install ROS 2 launch for XML/YAML launch files'.format(path))
    return get_launch_description_from_python_launch_file(path)


def format_arguments(description: LaunchDescription) -> Text:
    """Format the declared arguments like ``ros2 launch --show-args``."""
    lines = ["Arguments (pass arguments as '<name>:=<value>'):"]
    arguments = description.get_launch_arguments()
    conditional = False
    for argument in arguments:
        text = "\n    '{}'".format(argument.name)
        if getattr(argument, '_conditionally_included', False):
            conditional = True
            text += '*'
        text += ':\n        ' + argument.description
        if argument.default_value is not None:
            text += '\n        (default: {})'.format(
                ' + '.join(token.describe() for token in argument.default_value))
        lines.append(text)
    if arguments:
        if conditional:
            lines.append('\n* argument(s) which are only used if specific conditions occur')
    else:
        lines.append('\n  No arguments.')
    return '\n'.join(lines)


def missing_required_arguments(description: LaunchDescription,
                               given: Iterable[Text]) -> List[object]:
    """Return the required (no default, unconditional) arguments that were not given."""
    given = set(given)
    missing = []
    for argument, includes in description.get_launch_arguments_with_include_launch_description_actions():
        if argument._conditionally_included or argument.default_value is not None:
            continue
        names = set(given)
        for include in includes or []:
            names.update(include._try_get_arguments_names_without_context())
        if argument.name not in names:
            missing.append(argument)
    return missing


def missing_arguments_report(description: LaunchDescription,
                             arguments: List[Tuple[Text, Text]]) -> Optional[Text]:
    """Return the error text for missing required arguments (with the argument list), or None."""
    missing = missing_required_arguments(description, [name for name, _ in arguments])
    if not missing:
        return None
    first = missing[0]
    return ("[ERROR] [launch]: Caught exception in launch (see debug for traceback): Included "
            "launch description missing required argument '{}' (description: '{}'), given: [{}]\n"
            'missing required launch argument(s): {}\n\n{}'.format(
                first.name, first.description, ', '.join(name for name, _ in arguments),
                ', '.join(arg.name for arg in missing), format_arguments(description)))


def stdin_is_a_tty() -> bool:
    """Return True when stdin is a terminal (``ros2 launch`` is then interactive)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _load(launch_file: Text, launch_args: LaunchArgs):
    """Return the parsed arguments, the description and the missing-arguments report (or None)."""
    arguments = parse_launch_arguments(launch_args)
    description = load_launch_description(launch_file)
    return arguments, description, missing_arguments_report(description, arguments)


def _build_service(path: Text, description: LaunchDescription, arguments: List[Tuple[Text, Text]],
                   *, launch_prefix: Optional[Text], debug: bool, dry_run: bool,
                   noninteractive: bool = True) -> LaunchService:
    service = LaunchService(argv=['{}:={}'.format(k, v) for k, v in arguments], debug=debug,
                            noninteractive=noninteractive, _dry_run=dry_run)
    entities = []
    if launch_prefix:
        entities.append(SetLaunchConfiguration('launch-prefix', launch_prefix))
    entities.append(IncludeLaunchDescription(
        LaunchDescriptionSource(description, os.path.abspath(path), 'interpreted python launch file'),
        launch_arguments=arguments))
    service.include_launch_description(LaunchDescription(entities))
    return service


def evaluate(launch_file: Text, launch_args: LaunchArgs = None) -> LaunchService:
    """
    Evaluate a launch file without starting processes (for tests and inspection).

    Returns the LaunchService; ``service.dry_run_processes`` lists (label, ProcessSpec) of the
    processes that would have been started, ``service.context`` holds the final launch
    configurations. Generated parameter files are left in place until ``discard(service)``.
    """
    arguments, description, report = _load(launch_file, launch_args)
    if report is not None:
        raise LaunchError(report)
    service = _build_service(launch_file, description, arguments, launch_prefix=None,
                             debug=True, dry_run=True)
    if service.run() != 0:
        raise LaunchError('evaluating {} failed (see the messages above)'.format(launch_file))
    return service


def discard(service: LaunchService) -> None:
    """Remove the parameter files generated while evaluating (see evaluate())."""
    service._remove_temp_files()


def run(launch_file: Text, launch_args: LaunchArgs = None, *, debug: bool = False,
        show_all_output: bool = False, launch_prefix: Optional[Text] = None,
        noninteractive: Optional[bool] = None) -> int:
    """
    Run a launch file like ``ros2 launch`` and return the exit code.

    As with the real launch, the exit code is 1 when the launch itself failed (an exception
    in the launch, a missing argument, SIGTERM / SIGQUIT to the launch) and 0 otherwise, even
    when a process exited with an error. ``noninteractive`` defaults, as ``ros2 launch -n``
    does, to True unless stdin is a terminal.
    """
    arguments, description, report = _load(launch_file, launch_args)
    if report is not None:
        print(report, flush=True)
        return 1
    if show_all_output:
        os.environ['OVERRIDE_LAUNCH_PROCESS_OUTPUT'] = 'both'
    if noninteractive is None:
        noninteractive = not stdin_is_a_tty()
    service = _build_service(launch_file, description, arguments, launch_prefix=launch_prefix,
                             debug=debug, dry_run=False, noninteractive=noninteractive)
    return service.run()
