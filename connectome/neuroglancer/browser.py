"""Render Neuroglancer links in headless Chromium and take screenshots after the viewer draws.

Used by the browser tests and useful on its own (a PNG of a result for a
report): Debian's ``chromium`` and ``chromium-driver`` driven by selenium, WebGL
in software (SwiftShader). Chromium's own ``--screenshot`` fires before the
viewer has drawn, so :meth:`HeadlessBrowser.render` waits until every layer's
sources have loaded, the viewer reports itself ready (all visible chunks drawn)
several polls in a row, and two screenshots agree.

:func:`ensure_chromium` installs the two packages with apt-get when they are
missing (as root, or through sudo).

Examples
--------
>>> "--headless" in CHROMIUM_FLAGS and "--enable-unsafe-swiftshader" in CHROMIUM_FLAGS
True
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import ConnectomeError, DependencyError

logger = logging.getLogger(__name__)

__all__ = ["HeadlessBrowser", "ensure_chromium", "screenshot", "CHROMIUM", "CHROMEDRIVER", "CHROMIUM_FLAGS",
           "RenderError"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-unsafe-swiftshader", "--hide-scrollbars", "--force-device-scale-factor=1"]

_STATUS_JS = """
const v = window.viewer;
if (!v || !v.layerManager) return null;
const layers = v.layerManager.managedLayers.map(l => ({
  name: l.name,
  visible: l.visible,
  sources: l.layer ? l.layer.dataSources.map(ds => ds.loadState === undefined ? 'loading'
      : (ds.loadState.error ? 'error: ' + ds.loadState.error.message : 'loaded')) : ['pending'],
}));
const panels = Array.from(v.display.panels).map(p => {
  const r = p.element.getBoundingClientRect();
  return [r.left, r.top, r.width, r.height];
});
return {ready: v.isReady(), layers: layers, panels: panels, dpr: window.devicePixelRatio};
"""


class RenderError(ConnectomeError):
    """The viewer did not finish drawing (or a layer failed to load) in time."""


def ensure_chromium(install: bool = True) -> tuple[str, str]:
    """Paths of ``chromium`` and ``chromedriver``; installs them with apt-get when missing.

    Raises
    ------
    DependencyError
        When they are missing and cannot be installed (not root and no sudo).
    """
    if os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK):
        return CHROMIUM, CHROMEDRIVER
    if not install:
        raise DependencyError(f"{CHROMIUM} or {CHROMEDRIVER} is missing; install Debian's chromium and "
                              "chromium-driver (make browser, or apt-get install -y chromium chromium-driver)")
    prefix: list[str] = []
    if os.geteuid() != 0:
        sudo = shutil.which("sudo")
        if sudo is None:
            raise DependencyError("chromium is missing and installing it needs root: run "
                                  "`sudo apt-get install -y chromium chromium-driver` (or make browser)")
        prefix = [sudo, "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    logger.warning("installing chromium and chromium-driver with apt-get")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]):
        res = subprocess.run(prefix + cmd, capture_output=True, text=True, env=env, timeout=900)
        if res.returncode != 0:
            raise DependencyError(f"`{' '.join(cmd)}` failed ({res.returncode}): {res.stderr.strip()[-500:]}")
    return CHROMIUM, CHROMEDRIVER


class HeadlessBrowser:
    """One headless Chromium session (reuse it for several pages).

    Parameters
    ----------
    width, height : int
        Window size in CSS pixels (device scale factor 1: one CSS pixel, one image pixel).
    install : bool
        Install chromium with apt-get if it is missing.
    """

    def __init__(self, width: int = 640, height: int = 640, install: bool = True) -> None:
        chromium, driver_path = ensure_chromium(install)
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
        except ImportError as exc:
            raise DependencyError(f"driving chromium needs selenium (pinned in requirements.lock): {exc}") from None
        self._profile = tempfile.mkdtemp(prefix="cx-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium
        for flag in CHROMIUM_FLAGS + [f"--window-size={int(width)},{int(height)}",
                                      f"--user-data-dir={self._profile}"]:
            opts.add_argument(flag)
        self.driver = webdriver.Chrome(options=opts, service=Service(driver_path))
        self.driver.set_page_load_timeout(60)
        self.driver.set_script_timeout(30)

    def status(self) -> dict[str, Any] | None:
        """Layers (with the load state of their sources), readiness and panel rectangles of the page."""
        return self.driver.execute_script(_STATUS_JS)

    def screenshot_array(self) -> Any:
        """The page as an RGB ``numpy`` array (height × width × 3, uint8)."""
        import numpy as np
        from PIL import Image

        png = self.driver.get_screenshot_as_png()
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))

    def render(self, url: str, *, layers: int = 1, timeout: float = 90.0, settle: int = 3,
               path: str | os.PathLike | None = None) -> tuple[Any, dict[str, Any]]:
        """Load ``url``, wait until the viewer has drawn, and screenshot it.

        Parameters
        ----------
        url : str
            A viewer URL (local viewer, or a link to a viewer that can be reached).
        layers : int
            How many layers the state has (wait until they all exist).
        timeout : float
            Seconds before :class:`RenderError`.
        settle : int
            Consecutive ready polls (0.25 s apart) required before the screenshot.
        path : path, optional
            Also save the PNG there.

        Returns
        -------
        (numpy.ndarray, dict)
            The screenshot (RGB) and the viewer's status when it was taken.
        """
        import numpy as np

        self.driver.get("about:blank")
        self.driver.get(url)
        deadline = time.monotonic() + timeout
        streak, last, status = 0, None, None
        while time.monotonic() < deadline:
            time.sleep(0.25)
            status = self.status()
            if not status:
                streak = 0
                continue
            sources = [s for layer in status["layers"] for s in layer["sources"]]
            errors = [s for s in sources if s.startswith("error")]
            if errors:
                raise RenderError(f"a layer failed to load: {errors[0]} (status: {status})")
            done = len(status["layers"]) >= layers and all(s == "loaded" for s in sources) and status["ready"]
            streak = streak + 1 if done else 0
            if streak < settle:
                continue
            img = self.screenshot_array()
            if last is not None and img.shape == last.shape and np.array_equal(img, last):
                if path is not None:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                    from PIL import Image

                    Image.fromarray(img).save(path)
                return img, status
            last = img
        raise RenderError(f"the viewer did not finish drawing {url[:120]} within {timeout:.0f} s "
                          f"(last status: {status})")

    def close(self) -> None:
        """Quit chromium and remove its profile."""
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> HeadlessBrowser:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def screenshot(url: str, path: str | os.PathLike, *, width: int = 1024, height: int = 768, layers: int = 1,
               timeout: float = 90.0) -> Path:
    """Render ``url`` in headless Chromium once the viewer has drawn, and save a PNG at ``path``."""
    with HeadlessBrowser(width, height) as b:
        b.render(url, layers=layers, timeout=timeout, path=path)
    return Path(path)
