from setuptools import setup

setup(cffi_modules=["statesmix/_build.py:ffibuilder"])
