"""Substitutions of launch_ros supported by the stand-in."""

import os
import shutil
from typing import Text

from ament_index_python.packages import get_package_prefix
from ament_index_python.packages import get_package_share_directory
from launch._compat import getter
from launch._compat import check_newer_api
from launch._compat import make_module_getattr
from launch.substitution import Substitution
from launch.substitutions import PathJoinSubstitution
from launch.substitutions import SubstitutionFailure
from launch.utilities import _describe
from launch.utilities import normalize_to_list_of_substitutions
from launch.utilities import perform_substitutions

__all__ = ['ExecutableInPackage', 'FindPackage', 'FindPackagePrefix', 'FindPackageShare',
           'find_executable_in_package']

__getattr__ = make_module_getattr(__name__)


class FindPackage(Substitution):
    """Base of FindPackagePrefix and FindPackageShare."""

    def __init__(self, package) -> None:
        self._package = normalize_to_list_of_substitutions(package)

    package = getter('_package', 'Getter for the package name (substitutions).')

    def describe(self) -> Text:
        """Return a description."""
        return '{}(pkg={})'.format(type(self).__name__, _describe(self._package))

    def find(self, package_name: Text) -> Text:
        """Return the folder of ``package_name``."""
        raise NotImplementedError

    def perform(self, context) -> Text:
        """Look the package up in the ament index."""
        return self.find(perform_substitutions(context, self._package))

    def __truediv__(self, other) -> PathJoinSubstitution:
        check_newer_api("the '/' operator of FindPackage substitutions",
                        'rolling since October 2025, launch_ros #494', TypeError)
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


def find_executable_in_package(package: Text, executable: Text) -> Text:
    """
    Find an executable of a package the way launch_ros's ExecutableInPackage does.

    The package's prefix comes from the ament index (``get_package_prefix``: the first prefix of
    AMENT_PREFIX_PATH that registers it; PackageNotFoundError otherwise, as in launch_ros);
    the executable must lie in ``<prefix>/lib/<package>/``. Nothing else is searched: a console
    script on PATH does not count (launch_ros refuses it too).
    """
    prefix = get_package_prefix(package)
    libexec = os.path.join(prefix, 'lib', package)
    if not os.path.exists(libexec):
        raise SubstitutionFailure(
            "package '{}' found at '{}', but libexec directory '{}' does not exist".format(
                package, prefix, libexec))
    found = shutil.which(executable, path=libexec)
    if found is None:
        raise SubstitutionFailure("executable '{}' not found on the libexec directory '{}' ".format(
            executable, libexec))
    return found


class ExecutableInPackage(FindPackagePrefix):
    """The path of an executable in ``<prefix>/lib/<package>/`` (see find_executable_in_package)."""

    def __init__(self, executable, package) -> None:
        super().__init__(package)
        self._executable = normalize_to_list_of_substitutions(executable)

    executable = getter('_executable', 'Getter for the executable name (substitutions).')

    def describe(self) -> Text:
        """Return a description."""
        return 'ExecInPkg(pkg={}, exec={})'.format(
            _describe(self.package), _describe(self._executable))

    def perform(self, context) -> Text:
        """Return the path of the executable."""
        return find_executable_in_package(perform_substitutions(context, self.package),
                                          perform_substitutions(context, self._executable))
