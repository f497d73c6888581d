"""`vqa2 report`'s page in a real browser: the system's headless Chromium, driven by Selenium through the
system's chromedriver (Debian: `apt-get install chromium chromium-driver`; .ci/run installs them). Loads the
page from file://, clicks a sort heading, reads the row order the page then shows, takes a screenshot, and
checks that a hostile file name is shown as text (its <script> never runs).

Skips when Chromium, chromedriver or Selenium are missing, except under CI=true, where it fails instead."""

from __future__ import annotations

import os
import shutil

import pytest
from cli_run import run
from PIL import Image
from report_pages import HOSTILE, sample_records, write_jsonl

from vqa2cli.jobs.windows import plot_name
from vqa2cli.records.cells import table_text

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for tool in ("chromium", "chromedriver"):
        if not shutil.which(tool):
            return f"{tool} is not installed (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture
def browser(tmp_path):
    why = _missing()
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: the browser test must run, but {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()


def _shown_names(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#files tbody td.file a")]


def test_page_sorts_shows_hostile_names_as_text_and_renders(browser, tmp_path, capsys):
    from selenium.webdriver.common.by import By

    records = sample_records()  # scores 0.5, 0.8, 0.3 and an error record (no score)
    write_jsonl(tmp_path / "s.jsonl", records)
    plots = tmp_path / "plots"
    plots.mkdir()
    Image.new("RGB", (120, 60), (200, 30, 30)).save(plot_name(str(plots), records[1].path), format="PNG")
    page = tmp_path / "report.html"
    code, _, err = run(
        ["report", str(tmp_path / "s.jsonl"), "--html", str(page), "--plot-dir", str(plots)], capsys
    )
    assert code == 0, err
    browser.get(page.as_uri())
    title = browser.title
    assert title.startswith("vqa2 report") and "pwned" not in title  # the name's <script> did not run
    shown = [table_text(r.path) for r in records]
    assert _shown_names(browser) == shown  # file order before any click
    assert browser.execute_script("return document.querySelectorAll('script').length") == 1
    # Newlines in names are shown escaped; the browser collapses no other white space in them.
    assert table_text(HOSTILE) in _shown_names(browser)

    heading = browser.find_element(By.CSS_SELECTOR, 'th[data-key="score"] button')
    heading.click()
    ascending = sorted((r for r in records if r.score is not None), key=lambda r: r.score)
    assert _shown_names(browser) == [table_text(r.path) for r in ascending] + [shown[3]]  # no score: last
    assert heading.find_element(By.XPATH, "..").get_attribute("aria-sort") == "ascending"
    heading.click()
    assert _shown_names(browser) == [table_text(r.path) for r in reversed(ascending)] + [shown[3]]

    browser.find_element(By.CSS_SELECTOR, 'th[data-key="bitrate"] button').click()
    by_rate = sorted(
        (r for r in records if r.input.get("size_bytes")),
        key=lambda r: r.input["size_bytes"] * 8 / r.input["duration_s"],
    )
    assert _shown_names(browser) == [table_text(r.path) for r in by_rate] + [shown[3]]
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.timeline")) == 3  # one per scored file
    assert browser.title == title

    browser.find_element(
        By.CSS_SELECTOR, "details summary"
    ).click()  # the --plot-dir picture, from a data: URI
    image = browser.find_element(By.CSS_SELECTOR, "details img")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) == 120
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0  # no fetch

    png = browser.get_screenshot_as_png()
    (tmp_path / "report.png").write_bytes(png)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
