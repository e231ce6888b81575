# repose_ros developer commands. Every target runs the (idempotent, stamp-based) set-up first.
#   make demo   run the whole pipeline on the built-in default input and print the result
#   make test   lint + unit + ROS tests
SHELL := /bin/bash
ENV := source tools/env.sh &&
PYTEST_ARGS ?=

.PHONY: setup demo test lint colcon clean

setup:
	@bash tools/setup.sh

demo: setup
	@$(ENV) repose demo

test: setup
	@$(ENV) python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: setup
	@$(ENV) python -m pytest -q -p no:cacheprovider test/test_lint.py

# Build this package with colcon into install/ (as on a real ROS 2 install), using the
# set-up environment's ROS wheels and vision_msgs.
colcon: setup
	@$(ENV) colcon build --merge-install --base-paths . --build-base build/colcon \
	  --install-base install --cmake-args -G Ninja -DBUILD_TESTING=OFF \
	  -DPython3_EXECUTABLE=$$VIRTUAL_ENV/bin/python

clean:
	rm -rf build install log .cache
