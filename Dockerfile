# repose_ros in a container: ROS 2 from the official ros image, the ML stack from pip, the package
# built with colcon. The entrypoint runs the pipeline; arguments are launch arguments:
#
#   docker build -t repose_ros .
#   docker run --rm --net=host --ipc=host repose_ros input_topic:=/camera/image_raw num_servers:=4
#
# CUDA: build with the CUDA wheels of torch and run with the GPU (NVIDIA Container Toolkit on the
# host); the nodes use it when their parameters say device: cuda:0 (see README, "Docker").
#
#   docker build -t repose_ros:cuda --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124 .
#   docker run --rm --gpus all --net=host --ipc=host repose_ros:cuda params_file:=/config/repose.yaml
#
# Other distributions: --build-arg ROS_DISTRO=humble (or kilted). BASE_IMAGE replaces the whole base
# (any image with /opt/ros/$ROS_DISTRO and apt, e.g. one built on an nvidia/cuda image).
ARG ROS_DISTRO=jazzy
ARG BASE_IMAGE=ros:${ROS_DISTRO}-ros-base
FROM ${BASE_IMAGE}

ARG ROS_DISTRO
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV ROS_DISTRO=${ROS_DISTRO} \
    DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1 \
    YOLO_OFFLINE=1 \
    YOLO_CONFIG_DIR=/tmp/ultralytics

# The keys of package.xml (build, run and test dependencies) as apt packages, plus pip and colcon.
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3-pip \
        python3-colcon-common-extensions \
        ros-${ROS_DISTRO}-ament-cmake \
        ros-${ROS_DISTRO}-ament-cmake-python \
        ros-${ROS_DISTRO}-ament-cmake-pytest \
        ros-${ROS_DISTRO}-rosidl-default-generators \
        ros-${ROS_DISTRO}-rosidl-default-runtime \
        ros-${ROS_DISTRO}-builtin-interfaces \
        ros-${ROS_DISTRO}-std-msgs \
        ros-${ROS_DISTRO}-sensor-msgs \
        ros-${ROS_DISTRO}-vision-msgs \
        ros-${ROS_DISTRO}-lifecycle-msgs \
        ros-${ROS_DISTRO}-diagnostic-msgs \
        ros-${ROS_DISTRO}-visualization-msgs \
        ros-${ROS_DISTRO}-rclpy \
        ros-${ROS_DISTRO}-cv-bridge \
        ros-${ROS_DISTRO}-launch \
        ros-${ROS_DISTRO}-launch-ros \
        ros-${ROS_DISTRO}-ros2launch \
        ros-${ROS_DISTRO}-rmw-fastrtps-cpp \
        python3-numpy \
        python3-yaml \
        python3-opencv \
        python3-sklearn \
        python3-scipy \
        python3-pytest \
        python3-hypothesis \
        python3-flake8 \
        pydocstyle \
    && rm -rf /var/lib/apt/lists/*

# The ML stack (torch first, from the index chosen above; numpy stays 1.x, which cv_bridge of the
# distribution was built against).
COPY requirements-ml.txt /tmp/requirements-ml.txt
RUN pip3 install --index-url ${TORCH_INDEX_URL} torch torchvision \
    && pip3 install "numpy<2" -r /tmp/requirements-ml.txt

WORKDIR /ws
COPY . /ws/src/repose_ros
RUN . /opt/ros/${ROS_DISTRO}/setup.sh \
    && colcon build --merge-install --packages-select repose_ros --cmake-args -DBUILD_TESTING=OFF \
    && rm -rf build log

ENTRYPOINT ["/bin/bash", "-c", "source /opt/ros/${ROS_DISTRO}/setup.bash && source /ws/install/setup.bash && exec ros2 launch repose_ros pipeline.launch.py \"$@\"", "repose_ros"]
CMD []
