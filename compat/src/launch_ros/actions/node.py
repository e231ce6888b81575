"""The Node action: run a ROS 2 node with its name, namespace, parameters and remappings."""

import os
from tempfile import NamedTemporaryFile
from typing import Dict
from typing import List
from typing import Optional
from typing import Text

from launch._compat import getter
from launch.actions import ExecuteProcess
from launch.utilities import normalize_to_list_of_substitutions
from launch.utilities import perform_substitutions
import yaml

from ..substitutions import ExecutableInPackage
from ..utilities import check_parameters
from ..utilities import evaluate_parameters
from ..utilities import normalize_remap_rules
from ..utilities import prefix_namespace


class Node(ExecuteProcess):
    """
    Run a ROS 2 node; the command line is built exactly as launch_ros builds it.

    ``<exe> [arguments] [--ros-args ros_arguments] --ros-args [-r __node:=name]
    [-r __ns:=/ns] [global -p/--params-file] [--params-file FILE ...] [-r from:=to ...]``.
    Parameter dicts are written to temporary YAML files in the ``ros__parameters`` format,
    keyed by the node's fully qualified name when name and namespace are known, else ``/**``.
    The process label defaults to the executable's file name (``exec_name`` overrides it).
    """

    UNSPECIFIED_NODE_NAME = '<node_name_unspecified>'
    UNSPECIFIED_NODE_NAMESPACE = '<node_namespace_unspecified>'

    def __init__(self, *, executable, package=None, name=None, namespace=None, exec_name=None,
                 parameters=None, remappings=None, ros_arguments=None, arguments=None,
                 **kwargs) -> None:
        if package is not None:
            cmd = [ExecutableInPackage(package=package, executable=executable)]
        else:
            cmd = [executable]
        cmd += [] if arguments is None else list(arguments)
        cmd += [] if ros_arguments is None else ['--ros-args'] + list(ros_arguments)
        cmd += ['--ros-args']
        kwargs['name'] = exec_name
        super().__init__(cmd=cmd, **kwargs)
        if parameters is not None:
            check_parameters(parameters)
        self._package = package
        self._node_executable = executable
        self._node_name = name
        self._node_namespace = namespace
        self._parameters = [] if parameters is None else list(parameters)
        self._remappings = [] if remappings is None else normalize_remap_rules(remappings)
        self._expanded_node_name = self.UNSPECIFIED_NODE_NAME
        self._expanded_node_namespace = self.UNSPECIFIED_NODE_NAMESPACE
        self._final_node_name: Optional[Text] = None
        self._expanded_remappings: Optional[List] = None
        self._parameter_files: List[Text] = []

    node_package = getter('_package', 'Getter for the package.')
    node_executable = getter('_node_executable', 'Getter for the executable.')

    @property
    def node_name(self) -> Text:
        """Getter for the fully qualified node name (after the action was executed)."""
        if self._final_node_name is None:
            raise RuntimeError("cannot access 'node_name' before executing action")
        return self._final_node_name

    expanded_node_namespace = getter(
        '_expanded_node_namespace', 'Getter for the namespace after substitution.')

    expanded_remapping_rules = getter(
        '_expanded_remappings', 'Getter for the remapping rules after substitution.')

    parameter_files = getter(
        '_parameter_files', 'Getter for the parameter files passed to the node (generated ones included).')

    def is_node_name_fully_specified(self) -> bool:
        """Return True when both the name and the namespace are known."""
        return all(x not in self.node_name
                   for x in (self.UNSPECIFIED_NODE_NAME, self.UNSPECIFIED_NODE_NAMESPACE))

    def _create_params_file_from_dict(self, context, params: Dict) -> Text:
        key = self.node_name if self.is_node_name_fully_specified() else '/**'
        with NamedTemporaryFile(mode='w', prefix='launch_params_', suffix='.yaml',
                                delete=False) as handle:
            yaml.safe_dump({key: {'ros__parameters': params}}, handle, default_flow_style=False)
        service = context._launch_service
        if service is not None:
            service._temp_files.append(handle.name)
        return handle.name

    def _compat_build_cmd(self, context) -> List[Text]:
        """Build the node's command line (see the class documentation)."""
        from rclpy.validate_namespace import validate_namespace
        from rclpy.validate_node_name import validate_node_name
        cmd = super()._compat_build_cmd(context)
        if self._node_name is not None:
            self._expanded_node_name = perform_substitutions(
                context, normalize_to_list_of_substitutions(self._node_name))
            validate_node_name(self._expanded_node_name)
            cmd += ['-r', '__node:={}'.format(self._expanded_node_name)]
        namespace = None
        if self._node_namespace is not None:
            namespace = perform_substitutions(
                context, normalize_to_list_of_substitutions(self._node_namespace))
        namespace = prefix_namespace(context.launch_configurations.get('ros_namespace'), namespace)
        if namespace is not None:
            self._expanded_node_namespace = namespace
            validate_namespace(namespace)
            cmd += ['-r', '__ns:={}'.format(namespace)]
        self._final_node_name = prefix_namespace(self._expanded_node_namespace,
                                                 self._expanded_node_name)
        self._parameter_files = []
        for item in context.launch_configurations.get('global_params', None) or []:
            if isinstance(item, tuple):
                cmd += ['-p', '{}:={}'.format(item[0], item[1])]
            else:
                path = os.path.abspath(item)
                self._parameter_files.append(path)
                cmd += ['--params-file', path]
        for params in evaluate_parameters(context, self._parameters):
            if isinstance(params, dict):
                path = self._create_params_file_from_dict(context, params)
            else:
                path = str(params)
                if not os.path.isfile(path):
                    if context._launch_service is not None:
                        context._launch_service._log(
                            'WARNING', 'launch_ros.actions.node',
                            'Parameter file path is not a file: {}'.format(path))
                    continue
            self._parameter_files.append(path)
            cmd += ['--params-file', path]
        remaps = list(context.launch_configurations.get('ros_remaps', None) or [])
        remaps += [(perform_substitutions(context, src), perform_substitutions(context, dst))
                   for src, dst in self._remappings]
        self._expanded_remappings = remaps or None
        for src, dst in remaps:
            cmd += ['-r', '{}:={}'.format(src, dst)]
        return cmd
