"""The top-level conftest.py's model API server is real: HTTPS on a 127.0.0.1 socket the OS
chose, a certificate from the local CA, 429 over its limits, and it stops when the run ends,
also when the process that started it is killed."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def https_post(server, path, payload, headers=()):
    """One raw HTTP/1.1 request over TLS with the standard library (no client library)."""
    context = ssl.create_default_context(cafile=str(server.ca_file))
    body = json.dumps(payload).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers)
        + "\r\n"
    ).encode() + body
    with (
        socket.create_connection((server.host, server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(request)
        response = b""
        while chunk := tls.recv(65536):
            response += chunk
    head, _, payload_bytes = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload_bytes)


def refuses_connections(port, within_s=15.0):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return True
        time.sleep(0.1)
    return False


def test_the_server_listens_on_a_loopback_socket_over_tls(model_api):
    assert model_api.host == "127.0.0.1" and model_api.port > 0
    assert model_api.process.poll() is None
    with socket.create_connection(("127.0.0.1", model_api.port), timeout=10) as raw:
        assert raw.getpeername() == ("127.0.0.1", model_api.port)
    # the kernel's own table: the listening socket is bound to 127.0.0.1, not 0.0.0.0
    listening = Path("/proc/net/tcp")
    if listening.exists():
        entries = [line.split() for line in listening.read_text().splitlines()[1:]]
        bound = {entry[1] for entry in entries if entry[3] == "0A"}  # 0A: LISTEN
        assert f"0100007F:{model_api.port:04X}" in bound
        assert f"00000000:{model_api.port:04X}" not in bound
    # a client that does not trust the local CA is refused the handshake
    with (
        socket.create_connection(("127.0.0.1", model_api.port), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")


def test_the_server_answers_embeddings_and_429_over_its_rate_limit(model_api):
    status, payload = https_post(model_api, "/v1/embeddings", {"input": ["a", "b", "c"]})
    assert status == 200 and len(payload["data"]) == 3
    # 60 requests a minute: one request's worth of burst, so the second at once is throttled
    limits = [("x-api-key", f"test-{time.time()}"), ("x-ratelimit-rpm", "60")]
    limits.append(("x-ratelimit-tpm", "60000"))
    first = https_post(model_api, "/v1/chat/completions", {"tokens": 10}, limits)
    second = https_post(model_api, "/v1/chat/completions", {"tokens": 10}, limits)
    assert [first[0], second[0]] == [200, 429]


def root_conftest():
    """The top-level conftest.py as a module of its own (``conftest`` is tests/conftest.py)."""
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_server_stops_when_the_run_ends(tmp_path):
    with root_conftest().running_model_api(tmp_path) as server:
        port, process = server.port, server.process
        assert not refuses_connections(port, within_s=0.5)
    assert process.poll() is not None
    assert refuses_connections(port)


KILLED_PARENT = """
import importlib.util, sys, time
from pathlib import Path
spec = importlib.util.spec_from_file_location("root_conftest", {conftest!r})
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
with module.running_model_api(Path({folder!r})) as server:
    print(server.port, server.process.pid, flush=True)
    time.sleep(600)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_the_server_stops_when_the_process_that_started_it_is_killed(tmp_path):
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_PARENT.format(conftest=str(ROOT / "conftest.py"), folder=str(tmp_path)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port, server_pid = map(int, parent.stdout.readline().split())
        assert not refuses_connections(port, within_s=0.5)
    finally:
        parent.kill()  # no cleanup code runs: only the closed pipe tells the server
        parent.wait()
        parent.stdout.close()
    stopped = refuses_connections(port) and _exits(server_pid)
    if not stopped:
        os.kill(server_pid, signal.SIGKILL)  # do not leave it behind
    assert stopped, f"the server (pid {server_pid}) outlived the killed test run"


def _exits(pid, within_s=15.0):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # an exited child of the killed parent is a zombie until init reaps it
        status = Path(f"/proc/{pid}/status")
        if status.exists() and "State:\tZ" in status.read_text():
            return True
        time.sleep(0.1)
    return False


WITHOUT_UVICORN = """
import importlib.util

_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *args: None if name == "uvicorn" else _find_spec(name, *args)
"""


def test_a_missing_server_package_is_one_line_naming_the_extra(pytester):
    pytester.makeconftest((ROOT / "conftest.py").read_text() + WITHOUT_UVICORN)
    pytester.makepyfile(test_uses_server="def test_needs_it(model_api):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*the model API server needs uvicorn: pip install -e '.[[]demo]'*"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*another exception occurred*")
