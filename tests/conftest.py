"""Shared fixtures: emulated AWS in-process, the Chalice test client, and the
sandbox running as a subprocess for end-to-end and browser tests."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from infra.local.sandbox import configure_for_in_process_moto, serialise_moto_dynamodb  # noqa: E402

# The app reads its stage's environment when first used: set it before importing.
configure_for_in_process_moto()

from moto import mock_aws  # noqa: E402

from tests.helpers import CHROMIUM, TEST_SIGNING_KEY, sign_in, start_sandbox, stop_sandbox  # noqa: E402


serialise_moto_dynamodb()

# Jobs run as the deployed app runs them, through Lambda's Invoke, answered in this process
# (infra/local/worker.py): before the request that started them answers, unless a test says otherwise.
from app import app as _app  # noqa: E402
from infra.local import worker  # noqa: E402

WORKER = worker.install(_app, worker.RunNow())


@pytest.fixture
def aws():
    """A fresh emulated AWS account with the app's resources and an open cohort."""
    from chalicelib.adapters import aws as aws_clients
    from chalicelib.services import settings_store
    from chalicelib.adapters import store
    from infra.local.provision import ensure_open_cohort, provision

    with mock_aws():
        aws_clients.reset()
        store.reset()
        settings_store.forget()
        provision(TEST_SIGNING_KEY)
        ensure_open_cohort()
        yield
    aws_clients.reset()


@pytest.fixture
def client(aws):
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local", project_dir=str(PROJECT_DIR)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    running = start_sandbox(tmp_path_factory.mktemp("sandbox-data"), "--demo")
    yield running
    stop_sandbox(running)


@pytest.fixture(scope="session")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's chromium installed (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(autouse=True)
def fresh_clock():
    """Tests that move time leave it where they found it."""
    from datetime import timedelta

    from chalicelib.domain import clock

    yield clock
    clock.set_offset(timedelta(0))


@pytest.fixture
def committee_cookie(client):
    return sign_in(client)


