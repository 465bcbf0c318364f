"""Fixtures for the website tests (helpers in site_testlib.py)."""

from __future__ import annotations

import pytest
from site_testlib import CHROMIUM_ARGS, SiteFixture, build_site, chromium_or_skip, serve


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> SiteFixture:
    return build_site(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="session")
def site_server(built_site: SiteFixture):
    with serve(built_site.out) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
