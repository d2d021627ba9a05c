"""The demo page's WebSocket echo box, round-tripped in a real headless Chromium."""

from __future__ import annotations

import base64
import os

import pytest

from tests.support.cdp import browser_page, chromium_path
from tests.support.servers import serve

ROUND_TRIP = """
new Promise((resolve, reject) => {
  setTimeout(() => reject(new Error("no echo within 10 s: " + document.body.innerText)), 10000);
  const log = document.getElementById("echo-log");
  const echoed = () => {
    if (log.textContent.includes("echo: hello from chromium")) resolve(log.innerText);
  };
  new MutationObserver(echoed).observe(log, {childList: true, subtree: true});
  const go = () => {
    document.getElementById("echo-input").value = "hello from chromium";
    document.getElementById("echo-form").requestSubmit();
  };
  if (document.body.dataset.ws === "open") go();
  else document.addEventListener("demo-ws-open", go);
})
"""


@pytest.mark.timeout(90)
def test_demo_page_echo_round_trip_in_chromium(http: str) -> None:
    binary = chromium_path()
    if binary is None:
        pytest.skip("chromium is not installed (scripts/system-deps installs it)")
    from examples.demo import app

    with serve(app, http=http) as running, browser_page(binary) as page:
        page.call("Page.enable")
        page.call("Page.navigate", url=running.url("/"))
        page.wait_event("Page.loadEventFired")
        log = page.evaluate(ROUND_TRIP, timeout=20)
        assert log.splitlines() == ["sent: hello from chromium", "echo: hello from chromium"]
        assert page.evaluate("document.getElementById('echo-status').textContent") == (
            "connected to /ws"
        )
        shot = os.environ.get("MYPKG_SCREENSHOT")
        if shot:  # for a human to look at: MYPKG_SCREENSHOT=/tmp/demo.png pytest -k chromium
            data = page.call("Page.captureScreenshot", format="png")["data"]
            with open(shot, "wb") as file:
                file.write(base64.b64decode(data))
