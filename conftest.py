"""Servers the demo suite (``fixtures/``) and the project's tests (``tests/``) share: a model API
(chat completions with real rate limits, embeddings) served over HTTPS by uvicorn on 127.0.0.1,
with a certificate from a local test CA (trustme), started once per session and stopped after.

The server runs in a subprocess on a port the OS chooses; it stops when its stdin closes, which
happens when this process exits however it exits (also ``kill -9``), so no server outlives a run.
Imports are deferred to the fixtures: a run that uses no server pays nothing for this file.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_SCRIPT = Path(__file__).parent / "fixtures" / "model_api_server.py"
# uvicorn starts in well under a second on an idle machine; a loaded one gets much longer
START_TIMEOUT_S = 60.0


class ServerNotStarted(RuntimeError):
    pass


@dataclass(frozen=True)
class ModelApi:
    """A running model API server: where it listens and the CA that signed its certificate."""

    host: str
    port: int
    ca_file: Path
    process: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"


@contextmanager
def running_model_api(cert_dir: Path) -> Iterator[ModelApi]:
    """Start the server with a fresh local CA in ``cert_dir``; stop it on leaving. A missing
    package or a server that does not start is a ``ServerNotStarted`` with a one-line reason."""
    import importlib.util

    missing = [name for name in ("uvicorn", "trustme") if importlib.util.find_spec(name) is None]
    if missing:
        raise ServerNotStarted(
            f"the model API server needs {' and '.join(missing)}: pip install -e '.[demo]'"
        )
    import trustme

    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = (
        cert_dir / "ca.pem",
        cert_dir / "server.pem",
        cert_dir / "server.key",
    )
    authority.cert_pem.write_to_path(str(ca_file))
    certificate.private_key_pem.write_to_path(str(key_file))
    certificate.cert_chain_pems[0].write_to_path(str(cert_file))
    for intermediate in certificate.cert_chain_pems[1:]:
        intermediate.write_to_path(str(cert_file), append=True)

    process = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), str(cert_file), str(key_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        port = _announced_port(process)
        _wait_until_serving(port, ca_file)
        yield ModelApi("127.0.0.1", port, ca_file, process)
    finally:
        _stop(process)


def _announced_port(process: subprocess.Popen[bytes]) -> int:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        raise ServerNotStarted(
            f"the model API server ({SERVER_SCRIPT}) did not start: it printed {line!r} "
            f"and exited with {process.wait()} (its error is above, on stderr)"
        )
    return int(line)


def _wait_until_serving(port: int, ca_file: Path) -> None:
    """The port is bound before uvicorn serves: wait for a TLS handshake to succeed."""
    import socket
    import ssl
    import time

    context = ssl.create_default_context(cafile=str(ca_file))
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1"),
            ):
                return
        except OSError as error:
            if time.monotonic() > deadline:
                raise ServerNotStarted(
                    f"the model API server on 127.0.0.1:{port} did not complete a TLS "
                    f"handshake within {START_TIMEOUT_S:g} s: {error}"
                ) from error
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    assert process.stdout is not None
    process.stdout.close()


@pytest.fixture(scope="session")
def model_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelApi]:
    """The model API server of this session (HTTPS on 127.0.0.1, a local CA in ``ca_file``)."""
    failure: str | None = None
    with ExitStack() as stack:
        try:
            server = stack.enter_context(running_model_api(tmp_path_factory.mktemp("tls")))
        except ServerNotStarted as error:
            failure = str(error)
        if failure is None:
            yield server
    if failure is not None:
        # outside the except block: one line, no chained exception
        pytest.fail(failure, pytrace=False)
