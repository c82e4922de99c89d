"""The gallery in a real browser: it loads from file:// without console errors or outside requests, Chromium
decodes every <video>/<audio> we wrote, and clicking a header sorts the rows. Checked on a gallery built here from
synthetic runs (three systems: wav outputs, muxed mp4 outputs, an eval v2s folder) and on the committed gallery of the
bundled example (docs/gallery)."""

from __future__ import annotations

import os

import pytest

from tests.browser._runs import CLIPS, shared_gallery
from tests.browser.conftest import wait_media_ready

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMITTED = os.path.join(REPO, "docs", "gallery", "index.html")


@pytest.fixture(scope="module")
def built_index(tmp_path_factory) -> str:
    return shared_gallery(tmp_path_factory)["index"]


@pytest.fixture(params=["built", "committed"])
def index(request) -> str:
    if request.param == "committed":
        if not os.path.isfile(COMMITTED):
            pytest.fail(f"{COMMITTED} is missing (rebuild it: see docs/gallery.md)")
        return COMMITTED
    return request.getfixturevalue("built_index")


def test_loads_and_every_media_element_decodes(page, index):
    page.goto("file://" + index)
    states = wait_media_ready(page)
    bad = [s for s in states if s["readyState"] < 2 or s["error"]]
    assert not bad, f"Chromium cannot play: {bad}"
    assert len(states) >= 4
    assert page.locator("img.mel").count() > 0
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert not page.console_errors, page.console_errors
    assert not page.external_requests, page.external_requests


def _column(page, table: str, header: str) -> list[str]:
    """data-value of column ``header`` of ``table``'s rows, in the order shown."""
    return page.evaluate(
        """([table, header]) => { const t = document.getElementById(table);
             const col = Array.from(t.tHead.rows[0].cells).findIndex(c => c.textContent.trim() === header);
             return Array.from(t.tBodies[0].rows).map(r => r.cells[col].getAttribute('data-value')); }""",
        [table, header])


def test_clicking_a_header_sorts_the_rows(page, built_index):
    page.goto("file://" + built_index)
    header = "level_dbfs · A"
    before = [float(x) for x in _column(page, "clips", header)]
    ids_before = _column(page, "clips", "clip")
    assert ids_before == list(CLIPS) and before != sorted(before)  # the fixture's rows are not in level order
    page.get_by_role("columnheader", name=header).click()
    ascending = [float(x) for x in _column(page, "clips", header)]
    assert ascending == sorted(before)
    assert _column(page, "clips", "clip") == ["c2_quiet", "c0_mid", "c1_loud"]  # whole rows moved, not one cell
    page.get_by_role("columnheader", name=header).click()
    assert [float(x) for x in _column(page, "clips", header)] == sorted(before, reverse=True)
    assert page.get_by_role("columnheader", name=header).get_attribute("aria-sort") == "descending"
    page.get_by_role("columnheader", name="clip").click()  # text columns sort too
    assert _column(page, "clips", "clip") == sorted(CLIPS)
    assert not page.console_errors, page.console_errors
