# Source this file to use the set-up environment made by tools/setup.sh:
#   source tools/env.sh
# It activates .venv and sets what ROS 2 and ultralytics need to run offline from the checkout.
_repose_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
# shellcheck disable=SC1091
. "$_repose_root/.venv/bin/activate"
export REPOSE_ROOT="$_repose_root"
# ament index: share/ folders of the wheels, vision_msgs and repose_ros live in .venv.
case ":${AMENT_PREFIX_PATH:-}:" in
  *":$VIRTUAL_ENV:"*) ;;
  *) export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}" ;;
esac
export ROS_LOG_DIR="${ROS_LOG_DIR:-$_repose_root/.cache/ros_log}"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# ultralytics: never download (weights, fonts, settings); settings live inside the checkout.
export YOLO_OFFLINE=1
export YOLO_CONFIG_DIR="${YOLO_CONFIG_DIR:-$_repose_root/.cache/ultralytics}"
export YOLO_VERBOSE="${YOLO_VERBOSE:-False}"
export MPLBACKEND="${MPLBACKEND:-Agg}"
unset _repose_root
