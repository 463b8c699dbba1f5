"""The C extension (cffi, API mode) and two packaging facts pyproject.toml
cannot state: cffi builds the extension against the stable ABI (its
generated code defines Py_LIMITED_API; the file is named *.abi3.so), so the
wheel is tagged abi3 for every CPython from 3.9, the oldest the package
supports; and the script that trained the vocabularies stays out of it."""
from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPy(build_py):
    def find_package_modules(self, package, package_dir):
        return [m for m in super().find_package_modules(package, package_dir)
                if m[:2] != ("statesmix.data", "train_vocab")]


setup(cffi_modules=["statesmix/_build.py:ffibuilder"],
      cmdclass={"build_py": BuildPy},
      options={"bdist_wheel": {"py_limited_api": "cp39"}})
