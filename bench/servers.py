"""Local HTTP servers and tools for the benchmark: nginx, a Python fallback, wrk, RSS.

Everything listens on 127.0.0.1 only. No business logic.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Protocol

from bench.corpus import CONTENT_TYPES


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(
    url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until ``url`` answers 200, or raise RuntimeError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode} before {url} was up"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")


def ensure_debian_tools(names: tuple[str, ...] = ("nginx", "wrk")) -> dict[str, str]:
    """Install the missing Debian packages when root; return a note per missing tool."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
        print(f"bench: installing {' '.join(missing)} from Debian", flush=True)
        done = subprocess.run(cmd, env=env, capture_output=True, check=False)
        if done.returncode != 0:
            # the package lists may be missing or stale on a fresh machine
            subprocess.run(
                ["apt-get", "update", "-q"], env=env, capture_output=True, check=False
            )
            subprocess.run(cmd, env=env, capture_output=True, check=False)
    notes = {}
    for n in names:
        if shutil.which(n) is None:
            why = "not root" if os.geteuid() != 0 else "apt-get install failed"
            notes[n] = f"{n} is not installed ({why})"
    return notes


def tool_version(name: str) -> str:
    """The version a tool reports, or "missing"."""
    path = shutil.which(name)
    if path is None:
        return "missing"
    flag = "-v" if name == "wrk" else "-V"
    done = subprocess.run([path, flag], capture_output=True, text=True, check=False)
    m = re.search(rf"{name}\S*[ /]\D*(\d+\.\d+(?:\.\d+)?)", done.stdout + done.stderr)
    return m.group(1) if m else "unknown"


class StaticServer(Protocol):
    """A server of a directory over HTTP with ETag/Last-Modified/304."""

    base_url: str
    label: str

    def status_counts(self) -> Counter[int]: ...

    def stop(self) -> None: ...


class NginxServer:
    """nginx serving ``root`` on a free 127.0.0.1 port, as a child process we own."""

    label = "nginx"

    def __init__(self, root: Path, work: Path, *, log: bool = True) -> None:
        work = work.resolve()
        root = root.resolve()
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        for sub in ("client", "proxy", "fastcgi", "uwsgi", "scgi"):
            (work / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/"
        self.access_log = work / "access.log"
        self.access_log.write_bytes(b"")
        types = " ".join(f"{t} {ext[1:]};" for ext, t in CONTENT_TYPES.items())
        logline = f"access_log {self.access_log} status;" if log else "access_log off;"
        # ETag and Last-Modified are on by default for static files; spelled out
        # here because rows 2, 3 and 5 depend on them (RFC 9110 §8.8, §13.1)
        conf = f"""
worker_processes auto;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    types {{ {types} }}
    default_type application/octet-stream;
    log_format status '$status';
    {logline}
    client_body_temp_path {work}/tmp/client;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{self.port};
        root {root};
        etag on;
        if_modified_since exact;
        location / {{ }}
    }}
}}
"""
        conf_path = work / "nginx.conf"
        conf_path.write_text(conf)
        nginx = shutil.which("nginx") or "nginx"
        self.proc = subprocess.Popen(
            [
                nginx,
                "-p",
                str(work),
                "-e",
                str(work / "error.log"),
                "-c",
                str(conf_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(work / "stderr.log", "wb"),  # noqa: SIM115 - lives with proc
        )
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = (self.work / "stderr.log").read_text() + (
                    self.work / "error.log"
                ).read_text()
                raise RuntimeError(f"nginx exited: {err.strip()[-500:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 1),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("nginx did not start listening")

    def status_counts(self) -> Counter[int]:
        return Counter(int(line) for line in self.access_log.read_text().split())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish requests
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class PythonServer:
    """Fallback static server when nginx is missing: threads, ETag/Last-Modified/304.

    Its ETag copies nginx's form, ``"<mtime hex>-<size hex>"``.
    """

    label = "python http.server"

    def __init__(self, root: Path) -> None:
        counts: Counter[int] = Counter()
        lock = threading.Lock()
        self._counts = counts

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _send(
                self, status: int, headers: dict[str, str], body: bytes = b""
            ) -> None:
                with lock:
                    counts[status] += 1
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                rel = self.path.split("?", 1)[0].lstrip("/")
                path = (root / rel).resolve()
                if root.resolve() not in path.parents or not path.is_file():
                    self._send(404, {})
                    return
                st = path.stat()
                mtime = int(st.st_mtime)
                etag = f'"{mtime:x}-{st.st_size:x}"'
                headers = {
                    "ETag": etag,
                    "Last-Modified": formatdate(mtime, usegmt=True),
                    "Content-Type": CONTENT_TYPES.get(
                        path.suffix, "application/octet-stream"
                    ),
                }
                inm = self.headers.get("If-None-Match")
                ims = self.headers.get("If-Modified-Since")
                # RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since
                if inm is not None:
                    fresh = (
                        etag in [t.strip() for t in inm.split(",")]
                        or inm.strip() == "*"
                    )
                elif ims is not None:
                    try:
                        fresh = parsedate_to_datetime(ims).timestamp() >= mtime
                    except (TypeError, ValueError):
                        fresh = False
                else:
                    fresh = False
                if fresh:
                    headers.pop("Content-Type")
                    self._send(304, headers)
                else:
                    self._send(200, headers, path.read_bytes())

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def status_counts(self) -> Counter[int]:
        return Counter(self._counts)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def start_static(root: Path, work: Path, *, log: bool = True) -> StaticServer:
    """nginx when installed, else the Python fallback."""
    if shutil.which("nginx"):
        return NginxServer(root, work, log=log)
    return PythonServer(root)


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests_per_s: float
    requests: int
    #: responses other than 2xx/3xx, plus socket errors
    errors: int


def run_wrk(
    url: str,
    *,
    seconds: int,
    headers: tuple[str, ...] = (),
    connections: int = 32,
    threads: int = 2,
) -> WrkResult:
    """Run wrk against ``url`` and parse its summary."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    for h in headers:
        cmd += ["-H", h]
    done = subprocess.run(
        [*cmd, url], capture_output=True, text=True, check=True, timeout=seconds + 30
    )
    out = done.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rps is None or total is None:
        raise RuntimeError(f"cannot parse wrk output: {out!r}")
    errors = 0
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        errors += int(bad.group(1))
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if sock:
        errors += sum(int(x) for x in sock.groups())
    return WrkResult(float(rps.group(1)), int(total.group(1)), errors)


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc/<pid>/task/*/children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        # the process may exit while we look: glob itself then raises
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").glob("*/children"):
                with contextlib.suppress(OSError):
                    todo.extend(int(c) for c in task.read_text().split())
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every descendant, children first."""
    for p in reversed(_tree(pid)):
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _pss_kib(pid: int) -> int:
    """Proportional set size: each resident page divided by the processes
    sharing it, so pages a worker shares with its parent count once in a sum."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class PeakRSS:
    """Samples a process tree every 50 ms: peak summed RSS and peak summed PSS.

    Summed RSS counts a page shared by N processes (copy-on-write after fork,
    shared libraries) N times; summed PSS counts it once. See bench/README.md.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.peak_pss_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = _tree(self.pid)
            total = sum(_rss_kib(p) for p in tree)
            self.peak_kib = max(self.peak_kib, total)
            pss = sum(_pss_kib(p) for p in tree)
            self.peak_pss_kib = max(self.peak_pss_kib, pss)
            self._stop.wait(self.interval)

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024

    @property
    def peak_pss_mib(self) -> float:
        return self.peak_pss_kib / 1024

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        e: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True, slots=True)
class Measured:
    seconds: float
    peak_rss_mib: float
    returncode: int
    stdout: str
    stderr: str
    #: peak of the tree's summed proportional set size (0 when unreadable)
    peak_pss_mib: float = 0.0


def measure(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
    cwd: Path | None = None,
) -> Measured:
    """Run ``cmd``, timing it from spawn to exit and sampling its tree's peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd
    )
    with PeakRSS(proc.pid) as rss:
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            # a timeout or ^C: take the whole tree down, parse workers and their
            # forkserver included, or they outlive the run
            kill_tree(proc.pid)
            proc.communicate()
            raise
    seconds = time.perf_counter() - start
    return Measured(
        seconds,
        rss.peak_mib,
        proc.returncode,
        out.decode(errors="replace"),
        err.decode(errors="replace"),
        rss.peak_pss_mib,
    )
