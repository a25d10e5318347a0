"""Headless Chromium for the report page: the DevTools driver of tests/server/test_ui.py plus a
screenshot and a count of the network requests the page made."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.server.test_ui import Chromium


class ReportBrowser(Chromium):
    def open_file(self, path: Path) -> None:
        """Load a local HTML file and wait until it has fully loaded."""
        self.goto(path.resolve().as_uri())
        self.wait_js("document.readyState === 'complete' && location.protocol === 'file:'")

    def screenshot(self) -> bytes:
        """A PNG of the whole page, not only the window."""
        size = self.js("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        self.call("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1], deviceScaleFactor=1, mobile=False)
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        return base64.b64decode(shot["data"])

    def requests_made(self) -> list[str]:
        """URLs of every resource the page loaded after the document itself (none for a self-contained page)."""
        return self.js("performance.getEntriesByType('resource').map(e => e.name)")
