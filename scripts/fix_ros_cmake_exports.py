"""Point the ROS 2 wheels' exported CMake files at this venv's Python and numpy headers.

The Kilted wheels on PyPI were built in a manylinux container; their
``share/*/cmake/export_*__rosidl_generator_pyExport.cmake`` name that container's include
directories. Building any interface package against them fails until the paths are rewritten.
Idempotent; run again after installing more message wheels.
"""
import glob
import sys
import sysconfig

import numpy

BUILD_PY_INCLUDE = "/opt/python/cp311-cp311/include/python3.11"
BUILD_NUMPY_INCLUDE = "/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"


def main(venv: str) -> int:
    fixed = 0
    for path in glob.glob(f"{venv}/share/*/cmake/export_*__rosidl_generator_pyExport.cmake"):
        with open(path) as f:
            text = f.read()
        new = text.replace(BUILD_PY_INCLUDE, sysconfig.get_paths()["include"]).replace(
            BUILD_NUMPY_INCLUDE, numpy.get_include())
        if new != text:
            with open(path, "w") as f:
                f.write(new)
            fixed += 1
    if fixed:
        print(f"[setup] fixed include paths in {fixed} CMake export file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
