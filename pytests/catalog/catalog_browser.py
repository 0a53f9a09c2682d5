"""Headless Chromium driven over the Chrome DevTools Protocol on a pipe: no client library needed.

Chromium's `--remote-debugging-pipe` reads protocol commands from file descriptor 3 and writes replies
and events to descriptor 4, each message one JSON document ended by a NUL byte: the stdlib's
subprocess and json are all a client needs (no websocket, no selenium). `Browser` launches Chromium
with a fresh profile and the flags that keep it off the network, opens one page and offers what the
catalog tests do with it: navigate, wait for a condition, evaluate JavaScript, click, screenshot.

Debian's `chromium` package provides /usr/bin/chromium; `make install-test` installs it when run as
root. `find_chromium()` names the binary or explains how to install it.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = ("Chromium is needed by the catalog browser test. Install Debian's package: "
                "`sudo apt-get install -y chromium` (or run `make install-test` as root, which does it), "
                "or point UNIFY_CHROMIUM at a Chromium/Chrome binary.")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    # Only the local server resolves: a page that tried to reach the internet fails fast and visibly.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


class BrowserError(Exception):
    """Chromium is missing, died, or a protocol command failed; the message says which and why."""


def find_chromium() -> str:
    explicit = os.environ.get("UNIFY_CHROMIUM")
    if explicit:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK):
            return explicit
        raise BrowserError(f"UNIFY_CHROMIUM={explicit} is not an executable file. {INSTALL_HINT}")
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError(f"no Chromium found on PATH ({', '.join(CHROMIUM_CANDIDATES)}). {INSTALL_HINT}")


def _above_four(fd: int) -> int:
    """The same pipe end on a descriptor number >= 10 (the original is closed)."""
    import fcntl

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Browser:
    """One headless Chromium with one page, driven over the DevTools protocol pipe."""

    def __init__(self, profile_dir: Path, width: int = 1440, height: int = 900, timeout: float = 30.0):
        self.timeout = timeout
        self.requests: list[str] = []  # every URL the page requested (Network.requestWillBeSent)
        self._next_id = 0
        self._replies: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        binary = find_chromium()
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Keep the child's ends clear of 3 and 4, which the shell below redirects onto.
        to_browser_r, from_browser_w = (_above_four(fd) for fd in (to_browser_r, from_browser_w))
        # bash moves the pipe ends to the descriptors Chromium expects (3: commands, 4: replies).
        command = [shutil.which("bash") or "/bin/bash", "-c",
                   f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-',
                   "bash", binary, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile_dir}",
                   f"--window-size={width},{height}", "about:blank"]
        self._stderr_path = Path(profile_dir).with_suffix(".stderr.log")
        self._stderr = open(self._stderr_path, "wb")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._stderr,
                                        stderr=self._stderr, pass_fds=(to_browser_r, from_browser_w))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._reader = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self._reader.start()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=True)

    # -- protocol ------------------------------------------------------------------------------

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as stream:
            while True:
                chunk = stream.read(1 << 16)
                if not chunk:
                    break
                buffer += chunk
                while b"\0" in buffer:
                    raw, buffer = buffer.split(b"\0", 1)
                    message = json.loads(raw)
                    if "id" in message:
                        with self._lock:
                            waiter = self._replies.pop(message["id"], None)
                        if waiter is not None:
                            waiter.put(message)
                    elif message.get("method") == "Network.requestWillBeSent":
                        self.requests.append(message["params"]["request"]["url"])
        with self._lock:
            for waiter in self._replies.values():
                waiter.put({"error": {"message": "Chromium closed the protocol pipe"}})
            self._replies.clear()

    def call(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        with self._lock:
            self._next_id += 1
            message_id = self._next_id
            waiter: queue.Queue = queue.Queue(maxsize=1)
            self._replies[message_id] = waiter
        message = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        except OSError as err:
            raise BrowserError(f"{method}: cannot write to Chromium ({err}); {self._stderr_tail()}") from None
        try:
            reply = waiter.get(timeout=self.timeout)
        except queue.Empty:
            raise BrowserError(f"{method}: no reply from Chromium within {self.timeout:.0f} s") from None
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}; {self._stderr_tail()}")
        return reply.get("result", {})

    def _stderr_tail(self) -> str:
        try:
            lines = self._stderr_path.read_text(errors="replace").splitlines()[-5:]
        except OSError:
            lines = []
        return "Chromium's last output: " + (" | ".join(lines) or "(none)")

    # -- what the tests do ---------------------------------------------------------------------

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"JavaScript failed: {text}\n  in: {expression[:200]}")
        return result.get("result", {}).get("value")

    def navigate(self, url: str) -> None:
        reply = self.call("Page.navigate", {"url": url}, session=True)
        if reply.get("errorText"):
            raise BrowserError(f"cannot open {url}: {reply['errorText']}")

    def wait_for(self, expression: str, what: str, timeout: float | None = None):
        """Poll a JavaScript expression until it is truthy; its value, or BrowserError naming `what`."""
        deadline = time.monotonic() + (timeout or self.timeout)
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.evaluate(expression)
            except BrowserError:
                last = None  # the page is between documents
            if last:
                return last
            time.sleep(0.2)
        raise BrowserError(f"timed out after {timeout or self.timeout:.0f} s waiting for {what}")

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False},
                         session=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except BrowserError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        try:
            os.close(self._to_browser)
        except OSError:
            pass
        self._stderr.close()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def png_stats(path: Path) -> tuple[int, int, int, float]:
    """(width, height, distinct colours, share of the most common colour) of an 8-bit RGB(A) PNG.

    A plain decoder (zlib + the five PNG scanline filters) so that the check does not trust the
    browser that made the image, and needs no imaging library.
    """
    import struct
    import zlib
    from collections import Counter

    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    width, height, depth, colour_type, _c, _f, interlace = header
    if depth != 8 or colour_type not in (2, 6) or interlace:
        raise ValueError(f"{path}: only 8-bit, non-interlaced RGB/RGBA PNGs are supported")
    bpp = 3 if colour_type == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(idat)
    previous = bytearray(stride)
    colours: Counter[bytes] = Counter()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            up_left = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 0xFF
        colours.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp))
        previous = line
    most_common = colours.most_common(1)[0][1] / (width * height)
    return width, height, len(colours), most_common
