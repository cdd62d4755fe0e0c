"""Shared pytest configuration: the `slow` marker is skipped unless --runslow is given; the
derivation cache is a temporary folder for the session (never the user's), or the folder named by
KERNELALG_TEST_CACHE (to keep derivations between runs while developing)."""

import os
import shutil
import tempfile

import pytest
from hypothesis import settings

_SESSION_CACHE: list[str] = []

settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile("ci")


def pytest_configure(config):
    folder = os.environ.get("KERNELALG_TEST_CACHE")
    if not folder:
        folder = tempfile.mkdtemp(prefix="kernelalg-test-cache-")
        _SESSION_CACHE.append(folder)
    os.environ["KERNELALG_CACHE"] = folder


def pytest_unconfigure(config):
    for folder in _SESSION_CACHE:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow experiments")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: use --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
