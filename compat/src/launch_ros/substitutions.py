"""Substitutions of launch_ros supported by the stand-in."""

import os
from typing import List
from typing import Text

from ament_index_python.packages import get_package_prefix
from ament_index_python.packages import get_package_share_directory
from ament_index_python.packages import PackageNotFoundError
from launch._compat import make_module_getattr
from launch.substitution import Substitution
from launch.substitutions import PathJoinSubstitution
from launch.substitutions import SubstitutionFailure
from launch.utilities import normalize_to_list_of_substitutions
from launch.utilities import perform_substitutions

__all__ = ['ExecutableInPackage', 'FindPackage', 'FindPackagePrefix', 'FindPackageShare',
           'find_executable_in_package']

__getattr__ = make_module_getattr(__name__)


class FindPackage(Substitution):
    """Base of FindPackagePrefix and FindPackageShare."""

    def __init__(self, package) -> None:
        self.__package = normalize_to_list_of_substitutions(package)

    @property
    def package(self):
        """Getter for the package name (substitutions)."""
        return self.__package

    def describe(self) -> Text:
        """Return a description."""
        return '{}(pkg={})'.format(type(self).__name__,
                                   ' + '.join(s.describe() for s in self.__package))

    def find(self, package_name: Text) -> Text:
        """Return the folder of ``package_name``."""
        raise NotImplementedError

    def perform(self, context) -> Text:
        """Look the package up in the ament index."""
        return self.find(perform_substitutions(context, self.__package))

    def __truediv__(self, other) -> PathJoinSubstitution:
        return PathJoinSubstitution([self, other])


class FindPackagePrefix(FindPackage):
    """The install prefix of a package (from the ament index, AMENT_PREFIX_PATH)."""

    def find(self, package_name: Text) -> Text:
        """Return the prefix of ``package_name``."""
        return get_package_prefix(package_name)


class FindPackageShare(FindPackage):
    """The share folder of a package (from the ament index, AMENT_PREFIX_PATH)."""

    def find(self, package_name: Text) -> Text:
        """Return the share folder of ``package_name``."""
        return get_package_share_directory(package_name)


def _ament_prefixes() -> List[Text]:
    return [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]


def find_executable_in_package(package: Text, executable: Text, path: Text = None) -> Text:
    """
    Find an executable of a package like ``ros2 run``.

    First ``<prefix>/lib/<package>/<executable>`` for each prefix of AMENT_PREFIX_PATH; then,
    for a package known to the ament index or with a lib folder in a prefix, a console script
    of that name on ``path`` (default: PATH), which is where pip puts Python entry points.
    """
    prefixes = _ament_prefixes()
    package_known = False
    for prefix in prefixes:
        folder = os.path.join(prefix, 'lib', package)
        if os.path.isdir(folder):
            package_known = True
            candidate = os.path.join(folder, executable)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    if not package_known:
        try:
            get_package_prefix(package)
            package_known = True
        except (PackageNotFoundError, ValueError):
            pass
    if not package_known:
        raise SubstitutionFailure(
            "package '{}' not found, searching: [{}]".format(package, ', '.join(prefixes)))
    import shutil
    found = shutil.which(executable, path=path if path is not None else os.environ.get('PATH'))
    if found is not None:
        return found
    raise SubstitutionFailure(
        "executable '{}' not found in the lib folder of package '{}' under [{}] nor on the PATH"
        .format(executable, package, ', '.join(prefixes)))


class ExecutableInPackage(Substitution):
    """The path of an executable of a package (see find_executable_in_package)."""

    def __init__(self, executable, package) -> None:
        self.__executable = normalize_to_list_of_substitutions(executable)
        self.__package = normalize_to_list_of_substitutions(package)

    @property
    def executable(self):
        """Getter for the executable name (substitutions)."""
        return self.__executable

    @property
    def package(self):
        """Getter for the package name (substitutions)."""
        return self.__package

    def describe(self) -> Text:
        """Return a description."""
        return 'ExecInPkg(pkg={}, exec={})'.format(
            ' + '.join(s.describe() for s in self.__package),
            ' + '.join(s.describe() for s in self.__executable))

    def perform(self, context) -> Text:
        """Return the path of the executable."""
        return find_executable_in_package(
            perform_substitutions(context, self.__package),
            perform_substitutions(context, self.__executable),
            path=context.environment.get('PATH'))
