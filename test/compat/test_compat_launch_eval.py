"""Evaluate launch files with the launch / launch_ros stand-ins without starting processes."""

import textwrap

from compat_helpers import require_stand_ins
import pytest
import yaml

require_stand_ins()

from launch import LaunchContext  # noqa: E402
from launch.substitutions import LaunchConfiguration  # noqa: E402
from launch.substitutions import PythonExpression  # noqa: E402
from launch.substitutions import SubstitutionFailure  # noqa: E402
from ros2_compat.launch import discard  # noqa: E402
from ros2_compat.launch import evaluate as _evaluate  # noqa: E402
from ros2_compat.launch import format_arguments  # noqa: E402
from ros2_compat.launch import LaunchError  # noqa: E402
from ros2_compat.launch import load_launch_description  # noqa: E402
from ros2_compat.launch import run  # noqa: E402

_SERVICES = []


@pytest.fixture(autouse=True)
def _remove_generated_files():
    yield
    while _SERVICES:
        discard(_SERVICES.pop())


def evaluate(*args, **kwargs):
    """Evaluate a launch file, removing generated parameter files after the test."""
    service = _evaluate(*args, **kwargs)
    _SERVICES.append(service)
    return service


SAMPLE = '''
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, LogInfo
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    ns = LaunchConfiguration('ns')
    return LaunchDescription([
        DeclareLaunchArgument('ns', default_value='ns1', description='Namespace of the nodes'),
        DeclareLaunchArgument('robot', default_value='r1'),
        DeclareLaunchArgument('mode', default_value='slow', choices=['slow', 'fast']),
        DeclareLaunchArgument('rate', description='Publishing rate in Hz'),
        DeclareLaunchArgument('with_listener', default_value='true'),
        LogInfo(msg=['rate doubled: ', PythonExpression([LaunchConfiguration('rate'), ' * 2'])]),
        Node(
            package='demo_pkg', executable='talker',
            name=[LaunchConfiguration('robot'), '_talker'], namespace=ns,
            arguments=['--verbose', LaunchConfiguration('mode')],
            ros_arguments=['--log-level', 'debug'],
            parameters=[
                PathJoinSubstitution([FindPackageShare('demo_pkg'), 'config', 'params.yaml']),
                {'rate': LaunchConfiguration('rate'), 'frame': 'map', 'gains': {'kp': 1.5},
                 'label': ParameterValueText},
            ],
            remappings=[('chatter', ['/', ns, '/chat'])],
            output='screen'),
        Node(package='demo_pkg', executable='listener',
             condition=IfCondition(LaunchConfiguration('with_listener'))),
        Node(package='demo_pkg', executable='listener', exec_name='quiet_listener',
             condition=UnlessCondition(LaunchConfiguration('with_listener'))),
        GroupAction([
            PushRosNamespace('group_ns'),
            Node(package='demo_pkg', executable='talker', name='inner', namespace='sub'),
        ]),
        Node(package='demo_pkg', executable='talker', name='outer'),
    ])
'''.replace('ParameterValueText', "LaunchConfiguration('robot')")


@pytest.fixture
def sample(demo_prefix):
    """Write the sample launch file and a parameter file into the demo package."""
    (demo_prefix / 'share' / 'demo_pkg' / 'config' / 'params.yaml').write_text(
        '/**:\n  ros__parameters:\n    period: 0.1\n')
    path = demo_prefix / 'share' / 'demo_pkg' / 'launch' / 'sample.launch.py'
    path.write_text(SAMPLE)
    return str(path)


def _commands(service):
    return {label.rsplit('-', 1)[0]: spec.cmd for label, spec in service.dry_run_processes}


def test_show_args_lists_arguments_like_ros2_launch(sample):
    text = format_arguments(load_launch_description(sample))
    assert text.startswith("Arguments (pass arguments as '<name>:=<value>'):\n")
    assert "    'ns':\n        Namespace of the nodes\n        (default: 'ns1')" in text
    assert "    'rate':\n        Publishing rate in Hz\n" in text
    assert "    'mode':\n        One of: ['slow', 'fast']\n        (default: 'slow')" in text


def test_node_command_line_is_built_like_launch_ros(sample, demo_prefix):
    service = evaluate(sample, {'rate': '20', 'ns': 'ns2', 'robot': 'r2', 'mode': 'fast'})
    talker = [cmd for label, spec in service.dry_run_processes
              if '__node:=r2_talker' in (cmd := spec.cmd)][0]
    params_yaml = talker[talker.index('--params-file', talker.index('--params-file') + 1) + 1]
    assert talker == [
        str(demo_prefix / 'lib' / 'demo_pkg' / 'talker'), '--verbose', 'fast',
        '--ros-args', '--log-level', 'debug',
        '--ros-args', '-r', '__node:=r2_talker', '-r', '__ns:=/ns2',
        '--params-file', str(demo_prefix / 'share' / 'demo_pkg' / 'config' / 'params.yaml'),
        '--params-file', params_yaml,
        '-r', 'chatter:=/ns2/chat',
    ]
    with open(params_yaml) as handle:
        assert yaml.safe_load(handle) == {'/ns2/r2_talker': {'ros__parameters': {
            'rate': 20, 'frame': 'map', 'gains.kp': 1.5, 'label': 'r2'}}}


def test_conditions_and_namespace_scoping(sample, demo_prefix):
    service = evaluate(sample, ['rate:=5'])
    labels = [label.rsplit('-', 1)[0] for label, _ in service.dry_run_processes]
    assert labels == ['talker', 'listener', 'talker', 'talker']
    commands = [spec.cmd for _, spec in service.dry_run_processes]
    assert commands[1] == [str(demo_prefix / 'lib' / 'demo_pkg' / 'listener'), '--ros-args']
    assert commands[2][1:] == ['--ros-args', '-r', '__node:=inner', '-r', '__ns:=/group_ns/sub']
    assert commands[3][1:] == ['--ros-args', '-r', '__node:=outer']
    assert service.context.launch_configurations['ns'] == 'ns1'
    assert 'ros_namespace' not in service.context.launch_configurations

    service = evaluate(sample, ['rate:=5', 'with_listener:=False'])
    labels = [label.rsplit('-', 1)[0] for label, _ in service.dry_run_processes]
    assert labels == ['talker', 'quiet_listener', 'talker', 'talker']


def test_parameter_dict_without_full_name_uses_wildcard(demo_prefix, tmp_path):
    path = tmp_path / 'wild.launch.py'
    path.write_text(textwrap.dedent('''
        from launch import LaunchDescription
        from launch_ros.actions import Node
        from launch_ros.parameter_descriptions import ParameterValue


        def generate_launch_description():
            return LaunchDescription([Node(
                package='demo_pkg', executable='talker', name='only_name',
                parameters=[{'flag': True, 'text': ParameterValue('007', value_type=str),
                             'list': [1, 2, 3]}, '/does/not/exist.yaml'])])
    '''))
    service = evaluate(str(path))
    (label, spec), = service.dry_run_processes
    assert spec.cmd[1:5] == ['--ros-args', '-r', '__node:=only_name', '--params-file']
    assert len(spec.cmd) == 6, 'a missing parameter file is skipped, as in launch_ros'
    with open(spec.cmd[5]) as handle:
        assert yaml.safe_load(handle) == {'/**': {'ros__parameters': {
            'flag': True, 'text': '007', 'list': [1, 2, 3]}}}


def test_missing_required_argument_is_a_clear_error(sample, capsys):
    assert run(sample, {}) == 1
    out = capsys.readouterr().out
    assert "missing required argument 'rate' (description: 'Publishing rate in Hz')" in out
    assert "Arguments (pass arguments as '<name>:=<value>'):" in out
    assert "'with_listener'" in out


def test_invalid_choice_fails(sample):
    with pytest.raises(LaunchError):
        evaluate(sample, {'rate': '1', 'mode': 'medium'})


def test_malformed_argument_is_rejected(sample):
    with pytest.raises(LaunchError, match="expected format '<name>:=<value>'"):
        evaluate(sample, ['rate=5'])


def test_unsupported_features_raise_clear_errors(tmp_path):
    with pytest.raises(NotImplementedError, match=r'does not support launch\.actions\.ExecuteLocal; '
                                                  r'install ROS 2 launch'):
        from launch.actions import ExecuteLocal  # noqa: F401
    with pytest.raises(NotImplementedError, match='launch_ros.actions.ComposableNodeContainer'):
        from launch_ros.actions import ComposableNodeContainer  # noqa: F401
    with pytest.raises(NotImplementedError, match='does not support launch.frontend'):
        import launch.frontend  # noqa: F401
    try:  # launch files falling back to another name on ImportError keep working
        from launch_ros.actions import LifecycleNode as NodeClass
    except ImportError:
        from launch_ros.actions import Node as NodeClass
    assert NodeClass.__name__ == 'Node'
    with pytest.raises(NotImplementedError, match='output_format'):
        from launch.actions import ExecuteProcess
        ExecuteProcess(cmd=['true'], output_format='{line}')
    path = tmp_path / 'uses_frontend.launch.py'
    path.write_text('from launch.substitutions import FileContent\n'
                    'def generate_launch_description():\n    pass\n')
    with pytest.raises(NotImplementedError, match='launch.substitutions.FileContent'):
        evaluate(str(path))
    xml = tmp_path / 'a.launch.xml'
    xml.write_text('<launch/>')
    with pytest.raises(LaunchError, match='only Python launch files'):
        evaluate(str(xml))


def test_python_expression_has_only_safe_builtins():
    context = LaunchContext()
    context.launch_configurations['x'] = '9'
    assert PythonExpression(['sqrt(', LaunchConfiguration('x'), ') + 1']).perform(context) == '4.0'
    assert PythonExpression(["'a' == 'a' and len('abc') == 3"]).perform(context) == 'True'
    with pytest.raises(SubstitutionFailure, match='NameError'):
        PythonExpression(["__import__('os').getcwd()"]).perform(context)
    with pytest.raises(SubstitutionFailure, match='NameError'):
        PythonExpression(["open('/etc/passwd')"]).perform(context)


def test_launch_configuration_default_and_missing():
    context = LaunchContext()
    assert LaunchConfiguration('nope', default='d').perform(context) == 'd'
    with pytest.raises(SubstitutionFailure, match="launch configuration 'nope' does not exist"):
        LaunchConfiguration('nope').perform(context)


def test_include_opaque_function_and_scoping(demo_prefix, tmp_path):
    child = tmp_path / 'child.launch.py'
    child.write_text(textwrap.dedent('''
        from launch import LaunchDescription
        from launch.actions import DeclareLaunchArgument, SetLaunchConfiguration
        from launch.substitutions import LaunchConfiguration, ThisLaunchFileDir
        from launch_ros.actions import Node


        def generate_launch_description():
            return LaunchDescription([
                DeclareLaunchArgument('who'),
                SetLaunchConfiguration('from_child', ThisLaunchFileDir()),
                Node(package='demo_pkg', executable='talker', name=LaunchConfiguration('who')),
            ])
    '''))
    parent = tmp_path / 'parent.launch.py'
    parent.write_text(textwrap.dedent('''
        from launch import LaunchDescription
        from launch.actions import GroupAction, IncludeLaunchDescription, OpaqueFunction
        from launch.actions import SetLaunchConfiguration
        from launch.launch_description_sources import PythonLaunchDescriptionSource
        from launch_ros.actions import Node


        def late(context):
            who = context.launch_configurations.get('who', 'unset')
            return [Node(package='demo_pkg', executable='listener', name='after_' + who)]


        def generate_launch_description():
            return LaunchDescription([
                GroupAction([IncludeLaunchDescription(
                    PythonLaunchDescriptionSource(%r), launch_arguments={'who': 'alice'}.items())]),
                IncludeLaunchDescription(PythonLaunchDescriptionSource(%r),
                                         launch_arguments=[('who', 'bob')]),
                OpaqueFunction(function=late),
            ])
    ''' % (str(child), str(child))))
    service = evaluate(str(parent))
    names = [spec.cmd[-1] for _, spec in service.dry_run_processes]
    assert names == ['__node:=alice', '__node:=bob', '__node:=after_bob']
    assert service.context.launch_configurations['from_child'] == str(tmp_path)


def test_include_path_from_launch_argument(demo_prefix, tmp_path):
    for which in ('a', 'b'):
        (tmp_path / (which + '.launch.py')).write_text(textwrap.dedent('''
            from launch import LaunchDescription
            from launch_ros.actions import Node


            def generate_launch_description():
                return LaunchDescription([Node(package='demo_pkg', executable='talker',
                                               name='from_%s')])
        ''' % which))
    parent = tmp_path / 'choose.launch.py'
    parent.write_text(textwrap.dedent('''
        from launch import LaunchDescription
        from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
        from launch.launch_description_sources import PythonLaunchDescriptionSource
        from launch.substitutions import LaunchConfiguration


        def generate_launch_description():
            return LaunchDescription([
                DeclareLaunchArgument('which', default_value='a'),
                IncludeLaunchDescription(PythonLaunchDescriptionSource(
                    [%r, '/', LaunchConfiguration('which', default='a'), '.launch.py'])),
            ])
    ''' % str(tmp_path)))
    assert "'which'" in format_arguments(load_launch_description(str(parent)))
    for which in ('a', 'b'):
        service = evaluate(str(parent), {'which': which})
        assert [spec.cmd[-1] for _, spec in service.dry_run_processes] == ['__node:=from_' + which]


# ------------------------------------------------------------------ what the real packages refuse
def _launch_file(tmp_path, body, imports=''):
    path = tmp_path / 'refused.launch.py'
    path.write_text('from launch import LaunchDescription\n'
                    'from launch_ros.actions import Node\n'
                    '%s\n\n'
                    'def generate_launch_description():\n'
                    '    return LaunchDescription([%s])\n' % (imports, body))
    return str(path)


def test_empty_value_on_the_command_line_is_malformed(sample, tmp_path):
    # ros2launch.api.parse_launch_arguments (humble, jazzy): 'name:=' is refused, as are
    # ':=value' and text without ':='; 'a:=b:=' (two ':=') is accepted.
    for bad in ('namespace:=', ':=x', 'rate'):
        with pytest.raises(LaunchError, match="malformed launch argument '{}', expected format "
                                              "'<name>:=<value>'".format(bad)):
            evaluate(sample, ['rate:=1', bad])
    path = tmp_path / 'args.launch.py'
    path.write_text('from launch import LaunchDescription\n'
                    'from launch.actions import DeclareLaunchArgument\n'
                    'def generate_launch_description():\n'
                    "    return LaunchDescription([DeclareLaunchArgument('x')])\n")
    service = evaluate(str(path), ['x:=a:=', 'y:=1', 'y:=2'])
    assert service.context.launch_configurations['x'] == 'a:='
    assert service.context.launch_configurations['y'] == '2', 'the last value wins'


def test_ros2_launch_refuses_an_empty_argument(ros_env, sample, ros2_cmd):
    import subprocess
    result = subprocess.run(ros2_cmd + ['launch', 'demo_pkg', 'sample.launch.py', 'rate:=1',
                                        'ns:='], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "malformed launch argument 'ns:=', expected format '<name>:=<value>'" in result.stderr


@pytest.mark.parametrize('value', ['[]', "LaunchConfiguration('empty', default='[]')"])
def test_empty_list_parameter_is_refused(demo_prefix, tmp_path, value):
    # launch_ros evaluate_parameter_dict: a plain [] fails ensure_argument_type, text that reads
    # as [] fails 'Expected a non-empty sequence'; both TypeError, an error of the launch.
    path = _launch_file(tmp_path, "Node(package='demo_pkg', executable='talker', "
                                  "parameters=[{'names': %s}])" % value,
                        'from launch.substitutions import LaunchConfiguration')
    with pytest.raises(LaunchError):
        evaluate(path)
    with pytest.raises(TypeError, match='non-empty sequence'):
        from launch_ros.utilities import evaluate_parameter_value
        evaluate_parameter_value(LaunchContext(), [], 'names')


def test_launch_arguments_as_a_plain_dict_is_refused(demo_prefix, tmp_path, capsys):
    # launch IncludeLaunchDescription (humble, jazzy) keeps tuple(launch_arguments): for a dict
    # those are its keys, and execute() fails to unpack them (ValueError).
    child = tmp_path / 'child.launch.py'
    child.write_text('from launch import LaunchDescription\n'
                     'def generate_launch_description():\n    return LaunchDescription([])\n')
    path = _launch_file(
        tmp_path, 'IncludeLaunchDescription(PythonLaunchDescriptionSource(%r), '
                  "launch_arguments={'who': 'alice'})" % str(child),
        'from launch.actions import IncludeLaunchDescription\n'
        'from launch.launch_description_sources import PythonLaunchDescriptionSource')
    with pytest.raises(LaunchError):
        evaluate(path)
    assert 'not a dict' in capsys.readouterr().out
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    include = IncludeLaunchDescription(PythonLaunchDescriptionSource(str(child)),
                                       launch_arguments={'who': 'alice'})
    with pytest.raises(ValueError, match='not a dict'):
        include.execute(LaunchContext())


def test_numeric_sigterm_timeout_is_refused():
    # ExecuteLocal normalizes sigterm_timeout to substitutions: a number is a TypeError.
    from launch.actions import ExecuteProcess
    with pytest.raises(TypeError, match="'float'"):
        ExecuteProcess(cmd=['true'], sigterm_timeout=0.5)
    ExecuteProcess(cmd=['true'], sigterm_timeout='0.5', sigkill_timeout='1')


def test_executables_come_only_from_lib_of_the_package(demo_prefix, tmp_path, monkeypatch):
    # launch_ros ExecutableInPackage: <prefix of the package>/lib/<package>/<executable>, and
    # nothing on PATH. ros2 pkg / ros2 run search the same folder (recursively).
    from ament_index_python.packages import PackageNotFoundError
    from launch_ros.substitutions import ExecutableInPackage
    from launch_ros.substitutions import FindPackagePrefix
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    on_path = bin_dir / 'only_on_path'
    on_path.write_text('#!/bin/sh\n')
    on_path.chmod(0o755)
    monkeypatch.setenv('PATH', str(bin_dir) + ':' + __import__('os').environ['PATH'])
    context = LaunchContext()
    assert ExecutableInPackage('talker', 'demo_pkg').perform(context) == str(
        demo_prefix / 'lib' / 'demo_pkg' / 'talker')
    assert isinstance(ExecutableInPackage('talker', 'demo_pkg'), FindPackagePrefix)
    with pytest.raises(SubstitutionFailure, match="executable 'only_on_path' not found on the "
                                                  'libexec directory'):
        ExecutableInPackage('only_on_path', 'demo_pkg').perform(context)
    with pytest.raises(PackageNotFoundError):
        ExecutableInPackage('talker', 'no_such_pkg').perform(context)
    marker = demo_prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'lib_less'
    marker.write_text('')
    with pytest.raises(SubstitutionFailure, match="package 'lib_less' found at '{}', but libexec "
                                                  'directory'.format(demo_prefix)):
        ExecutableInPackage('talker', 'lib_less').perform(context)
    path = _launch_file(tmp_path, "Node(package='demo_pkg', executable='only_on_path')")
    with pytest.raises(LaunchError):
        evaluate(path)


# ------------------------------------------------------------------ API newer than Humble
NEWER_THAN_HUMBLE = '''
from launch.substitutions import EqualsSubstitution, IfElseSubstitution, PathJoinSubstitution
from launch_ros.actions import PushROSNamespace
'''


def test_api_newer_than_humble_is_offered_and_marked(monkeypatch):
    monkeypatch.delenv('REPOSE_COMPAT_DISTRO', raising=False)
    from launch.actions import ExecuteProcess
    import launch.substitutions as substitutions
    import launch_ros.actions as actions
    from launch_ros.substitutions import FindPackageShare
    namespace = {}
    exec(NEWER_THAN_HUMBLE, namespace)
    assert namespace['PushROSNamespace'] is actions.PushRosNamespace
    context = LaunchContext()
    equals = namespace['EqualsSubstitution']('a', 'a')
    assert namespace['IfElseSubstitution'](equals, 'yes', 'no').perform(context) == 'yes'
    assert (namespace['PathJoinSubstitution'](['a']) / 'b').perform(context) == 'a/b'
    assert isinstance(FindPackageShare('x') / 'y', substitutions.PathJoinSubstitution)
    ExecuteProcess(cmd=['true'], respawn_max_retries=2)
    for module in (substitutions, actions):
        assert not {'EqualsSubstitution', 'IfElseSubstitution', 'PushROSNamespace'} & set(
            module.__all__), "__all__ lists Humble's names only"
    assert 'Iron and later' in namespace['EqualsSubstitution'].__doc__


def test_humble_mode_refuses_api_newer_than_humble(monkeypatch, tmp_path):
    monkeypatch.setenv('REPOSE_COMPAT_DISTRO', 'humble')
    from launch._compat import NotInDistroError
    from launch.actions import ExecuteProcess
    from launch.substitutions import PathJoinSubstitution
    from launch_ros.actions import PushRosNamespace  # noqa: F401 - Humble's name stays
    from launch_ros.substitutions import FindPackageShare
    for line in NEWER_THAN_HUMBLE.strip().splitlines():
        name = line.split('import ')[1].split(',')[0]
        with pytest.raises(ImportError, match=r'{} is not in ROS 2 Humble \(.*\); refused because '
                                              'REPOSE_COMPAT_DISTRO=humble'.format(name)):
            exec(line, {})
    with pytest.raises(NotInDistroError):
        from launch.substitutions import IfElseSubstitution  # noqa: F401
    with pytest.raises(TypeError, match="'/' operator of PathJoinSubstitution"):
        PathJoinSubstitution(['a']) / 'b'
    with pytest.raises(TypeError, match='list as one path component'):
        PathJoinSubstitution(['a', ['b', 'c']])
    with pytest.raises(TypeError, match="'/' operator of FindPackage"):
        FindPackageShare('x') / 'y'
    with pytest.raises(TypeError, match='respawn_max_retries'):
        ExecuteProcess(cmd=['true'], respawn_max_retries=2)
    ExecuteProcess(cmd=['true'], respawn=True)
    path = tmp_path / 'newer.launch.py'
    path.write_text('from launch_ros.actions import PushROSNamespace\n'
                    'def generate_launch_description():\n    pass\n')
    with pytest.raises(ImportError, match='PushROSNamespace is not in ROS 2 Humble'):
        load_launch_description(str(path))


def test_project_launch_files_use_only_humble_api(monkeypatch, repo_root, tmp_path):
    # Every launch file of the package loads with REPOSE_COMPAT_DISTRO=humble.
    monkeypatch.setenv('REPOSE_COMPAT_DISTRO', 'humble')
    files = sorted((repo_root / 'launch').glob('*.launch.py'))
    assert files
    for path in files:
        description = load_launch_description(str(path))
        assert description.get_launch_arguments()


def test_shared_substitution_and_action_machinery_keeps_the_real_behaviour():
    """Descriptions, short-circuit booleans, read-only getters and context scopes (issue 14)."""
    from launch.actions import DeclareLaunchArgument, PopEnvironment, PushEnvironment
    from launch.conditions import IfCondition, UnlessCondition
    from launch.substitutions import (AndSubstitution, AnonName, EnvironmentVariable,
                                      NotSubstitution, OrSubstitution, TextSubstitution,
                                      ThisLaunchFile)
    context = LaunchContext()
    context.launch_configurations['t'] = 'true'
    assert LaunchConfiguration('t').describe() == "LaunchConfig('t')"
    assert EnvironmentVariable(name='HOME').describe() == "EnvVar('HOME')"
    assert AnonName(name='n').describe() == "AnonName('n')"
    assert IfCondition('true').describe() == "IfCondition('true')"
    assert UnlessCondition(LaunchConfiguration('t')).evaluate(context) is False
    assert NotSubstitution(LaunchConfiguration('t')).perform(context) == 'false'
    # the right side is not evaluated when the left one decides
    assert AndSubstitution('false', 'not a boolean').perform(context) == 'false'
    assert OrSubstitution(left='1', right='not a boolean').perform(context) == 'true'
    with pytest.raises(SubstitutionFailure, match="AndSubstitution: invalid boolean 'maybe'"):
        AndSubstitution('true', 'maybe').perform(context)
    with pytest.raises(SubstitutionFailure, match='ThisLaunchFile used outside of a launch file'):
        ThisLaunchFile().perform(context)
    assert TextSubstitution(text='x').text == 'x'
    argument = DeclareLaunchArgument('a', default_value='1', choices=['1', '2'])
    assert [s.text for s in argument.default_value] == ['1'] and argument.choices == ['1', '2']
    with pytest.raises(AttributeError):
        argument.name = 'b'
    with pytest.raises(RuntimeError, match='is not any of the provided choices'):
        DeclareLaunchArgument('a', default_value='3', choices=['1', '2'])
    PushEnvironment().visit(context)
    context.environment['REPOSE_X'] = '1'
    PopEnvironment().visit(context)
    assert 'REPOSE_X' not in context.environment
    with pytest.raises(RuntimeError, match='environment stack is empty'):
        PopEnvironment().visit(context)
