"""Real faults for the tests: a TCP proxy in front of PostgreSQL, an SQLite writer in another
process, and PgBouncer in transaction pooling mode.

The fixtures (``pg_proxy``, ``sqlite_lock``, ``pgbouncer_url``) are imported by
``tests/conftest.py``; the classes are used through them.

- :class:`PgProxy` forwards bytes between refkit and PostgreSQL on a free loopback port and
  can :meth:`~PgProxy.freeze` (hold every byte in both directions, closing nothing), now or
  when the next COMMIT arrives (:meth:`~PgProxy.freeze_at_next_commit`: its transaction
  keeps its locks),
  :meth:`~PgProxy.drop_commit_answers` (forward the next COMMIT to the server, swallow its
  answer up to ReadyForQuery, then close the client's connection: the transaction is
  committed and the client does not know), and :meth:`~PgProxy.close_connections`. It reads
  just enough of the PostgreSQL wire protocol to see a COMMIT: a simple query (``Q``), or a
  Parse / Bind of one (extended query); it answers SSL and GSS encryption requests "no"
  itself so the stream stays readable.
- :class:`SqliteWriteLock` holds ``BEGIN IMMEDIATE`` on an SQLite file from another process
  until released.
- :func:`start_pgbouncer` runs Debian's ``/usr/sbin/pgbouncer`` (``pool_mode = transaction``)
  in front of the local server, with the test role's password in its auth file.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy.engine import make_url

__all__ = [
    "PGBOUNCER",
    "PgProxy",
    "SqliteWriteLock",
    "free_port",
    "pg_proxy",
    "pgbouncer_url",
    "sqlite_lock",
    "start_pgbouncer",
]

PGBOUNCER = "/usr/sbin/pgbouncer"
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_COMMIT = re.compile(rb"^\s*(COMMIT|END)\b", re.IGNORECASE)
_JOIN_SECONDS = 5.0  # teardown: how long a pump thread may take to notice its sockets closed


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Stopped(Exception):
    """The proxy is shutting down: a pump ends."""


class _Link:
    """One client connection and its connection to the server."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server
        self.drop_answer = False  # swallow the server's messages up to ReadyForQuery, then close
        self.commit_statements: set[bytes] = set()  # prepared statements that are a COMMIT
        self.sent = bytearray()  # the queries of the transaction under way (up to its COMMIT)
        self.threads: list[threading.Thread] = []

    def close(self) -> None:
        for sock in (self.client, self.server):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()


class PgProxy:
    """A TCP proxy from a free loopback port to a PostgreSQL server, with faults on demand.

    :param upstream: the server's ``(host, port)``.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._thawed = threading.Event()
        self._thawed.set()
        self._stopped = False
        self._drops_left = 0
        self._drop_after = b""
        self._freeze_at_commit: bytes | None = None  # freeze at a COMMIT after a query with this
        #: Set when, frozen, the proxy holds bytes it would have forwarded.
        self.holding = threading.Event()
        #: How many COMMIT answers were swallowed so far.
        self.commit_answers_dropped = 0
        self._dropped = threading.Condition(self._lock)
        self._acceptor = threading.Thread(target=self._accept, name="pg-proxy", daemon=True)
        self._acceptor.start()

    # -- the controls -------------------------------------------------------------------------

    def url(self, database_url: str) -> str:
        """``database_url`` pointed at the proxy instead of the server."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def freeze(self) -> None:
        """Stop forwarding in both directions; nothing is closed, nothing is lost."""
        self.holding.clear()
        self._thawed.clear()

    def thaw(self) -> None:
        """Forward again, starting with what was held."""
        self._thawed.set()

    def freeze_at_next_commit(self, after: str = "") -> None:
        """Freeze (as :meth:`freeze`) when the next COMMIT arrives, before forwarding it: its
        transaction stays open on the server, holding its locks, until :meth:`thaw`.

        :param after: only the COMMIT of a transaction that sent a query containing this
            text (for example ``"pg_advisory_xact_lock"``).
        """
        with self._lock:
            self._freeze_at_commit = after.encode()

    def drop_commit_answers(self, count: int = 1, *, after: str = "") -> None:
        """For the next ``count`` COMMITs: forward the COMMIT, swallow the server's answer
        (its CommandComplete and ReadyForQuery), then close that client's connection.

        :param after: only COMMITs of transactions that sent a query containing this text
            (for example ``"INSERT INTO refkit_ledger"``: a write, not a read before it).
        """
        with self._lock:
            self._drops_left += count
            self._drop_after = after.encode()

    def wait_for_dropped(self, count: int, timeout: float = 10.0) -> bool:
        """Whether ``count`` COMMIT answers have been swallowed (waiting up to ``timeout``)."""
        with self._dropped:
            return self._dropped.wait_for(lambda: self.commit_answers_dropped >= count, timeout)

    def close_connections(self) -> None:
        """Close every connection through the proxy, both sides (new ones are accepted)."""
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.close()

    def stop(self) -> None:
        """Close everything and end every thread (the fixture's teardown)."""
        self._stopped = True
        self._thawed.set()
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close would not)
        with suppress(OSError):
            self._listener.close()
        with self._lock:
            links = list(self._links)
        self.close_connections()
        self._acceptor.join(_JOIN_SECONDS)
        for link in links:
            for thread in link.threads:
                thread.join(_JOIN_SECONDS)

    # -- the pumps ----------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(client, server)
            link.threads = [
                threading.Thread(target=self._pump, args=(link, True), daemon=True),
                threading.Thread(target=self._pump, args=(link, False), daemon=True),
            ]
            with self._lock:
                if self._stopped:
                    link.close()
                    return
                self._links.append(link)
            for thread in link.threads:
                thread.start()

    def _gate(self) -> None:
        """Wait while frozen (saying that bytes are held); end the pump once stopped."""
        if not self._thawed.is_set():
            self.holding.set()
            self._thawed.wait()
        if self._stopped:
            raise _Stopped

    def _pump(self, link: _Link, from_client: bool) -> None:
        source, target = (link.client, link.server) if from_client else (link.server, link.client)
        buffer = bytearray()
        started = not from_client  # the client's first message has no type byte
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                buffer += data
                if from_client:
                    out, started = self._client_messages(link, buffer, started)
                    self._gate()
                    target.sendall(out)
                else:
                    self._gate()
                    if self._server_messages(link, buffer, target):
                        break
        except (OSError, _Stopped):
            pass
        finally:
            link.close()

    def _client_messages(self, link: _Link, buffer: bytearray, started: bool) -> tuple[bytes, bool]:
        """The complete messages in ``buffer`` to forward (taken out of it); arms the drop of
        the answer when one is a COMMIT."""
        out = bytearray()
        while True:
            if not started:
                if len(buffer) < 8 or len(buffer) < int.from_bytes(buffer[:4], "big"):
                    break
                length = int.from_bytes(buffer[:4], "big")
                code = int.from_bytes(buffer[4:8], "big")
                message = bytes(buffer[:length])
                del buffer[:length]
                if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                    link.client.sendall(b"N")  # no encryption: keep the stream readable
                    continue
                started = True
                out += message
                continue
            if len(buffer) < 5:
                break
            total = 1 + int.from_bytes(buffer[1:5], "big")
            if len(buffer) < total:
                break
            message = bytes(buffer[:total])
            del buffer[:total]
            if self._is_commit(link, message):
                with self._lock:
                    sent, link.sent = bytes(link.sent), bytearray()
                    freeze_after = self._freeze_at_commit
                    if freeze_after is not None and freeze_after in sent:
                        self._freeze_at_commit = None
                        self.freeze()
                    if self._drops_left > 0 and self._drop_after in sent:
                        self._drops_left -= 1
                        link.drop_answer = True
            elif message[:1] in (b"Q", b"P"):
                link.sent += message
            out += message
        return bytes(out), started

    @staticmethod
    def _is_commit(link: _Link, message: bytes) -> bool:
        kind, body = message[:1], message[5:]
        if kind == b"Q":
            return bool(_COMMIT.match(body.rstrip(b"\x00")))
        if kind == b"P":  # Parse: name \0 query \0 ...
            name, _, rest = body.partition(b"\x00")
            query = rest.partition(b"\x00")[0]
            if _COMMIT.match(query):
                link.commit_statements.add(name)
            else:
                link.commit_statements.discard(name)
            return False
        if kind == b"B":  # Bind: portal \0 statement \0 ...
            statement = body.split(b"\x00", 2)[1]
            return statement in link.commit_statements
        return False

    def _server_messages(self, link: _Link, buffer: bytearray, target: socket.socket) -> bool:
        """Forward the server's bytes, or swallow them while the answer to a COMMIT is being
        dropped; True once the answer is swallowed (the link is then closed)."""
        if not link.drop_answer:
            target.sendall(bytes(buffer))
            buffer.clear()
            return False
        while len(buffer) >= 5:
            total = 1 + int.from_bytes(buffer[1:5], "big")
            if len(buffer) < total:
                return False
            kind = buffer[:1]
            del buffer[:total]
            if kind == b"Z":  # ReadyForQuery: the COMMIT is done server-side
                with self._dropped:  # counted before the client can see the connection close
                    self.commit_answers_dropped += 1
                    self._dropped.notify_all()
                link.close()
                return True
        return False


# -- SQLite: a writer in another process ------------------------------------------------------

_HOLD_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
connection.execute("ROLLBACK")
"""


class SqliteWriteLock:
    """Another process holding ``BEGIN IMMEDIATE`` on an SQLite file, until :meth:`release`.

    :param path: the database file (created by SQLite if missing).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._process: subprocess.Popen[str] | None = None

    def acquire(self) -> None:
        """Start the other process; returns once it holds the write lock."""
        process = subprocess.Popen(  # noqa: S603 - this interpreter, our own script
            [sys.executable, "-c", _HOLD_LOCK, str(self.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._process = process
        line = _stream(process.stdout).readline()
        if line.strip() != "locked":
            self.release()
            raise RuntimeError(f"the lock holder did not take the lock: {line!r}")

    @property
    def pid(self) -> int | None:
        """The holding process's id (None once released)."""
        return None if self._process is None else self._process.pid

    def release(self) -> None:
        """Roll back and end the other process (idempotent)."""
        process, self._process = self._process, None
        if process is None:
            return
        with suppress(OSError):
            _stream(process.stdin).close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with suppress(OSError):
            _stream(process.stdout).close()

    def __enter__(self) -> SqliteWriteLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def _stream(stream: IO[str] | None) -> IO[str]:
    assert stream is not None
    return stream


# -- PgBouncer ------------------------------------------------------------------------------


def start_pgbouncer(server_url: str, directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Run PgBouncer (transaction pooling) in front of ``server_url``'s server; its files
    (config, auth file, log) go in ``directory``. Returns the process and its port once it
    accepts connections.

    As root it switches to the ``postgres`` user (``-u``): PgBouncer refuses to run as root.
    """
    url = make_url(server_url)
    port = free_port()
    (directory / "userlist.txt").write_text(f'"{url.username}" "{url.password}"\n')
    (directory / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={url.host or '127.0.0.1'} port={url.port or 5432}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = scram-sha-256\n"
        f"auth_file = {directory / 'userlist.txt'}\n"
        "pool_mode = transaction\n"
        "max_client_conn = 200\n"
        "default_pool_size = 20\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {directory / 'pgbouncer.log'}\n"
    )
    command = [PGBOUNCER, "-q"]
    if os.geteuid() == 0:
        directory.chmod(0o700)
        shutil.chown(directory, "postgres")
        for file in directory.iterdir():
            shutil.chown(file, "postgres")
        command += ["-u", "postgres"]
    process = subprocess.Popen([*command, str(directory / "pgbouncer.ini")])  # noqa: S603
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None:
            log = directory / "pgbouncer.log"
            raise RuntimeError(
                f"pgbouncer exited ({process.returncode}): "
                + (log.read_text() if log.exists() else "no log")
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)


# -- the fixtures (registered by conftest.py as a plugin) ----------------------------------


@pytest.fixture
def pg_proxy(postgres_database: str) -> Iterator[PgProxy]:
    """A :class:`PgProxy` in front of the test server; ``pg_proxy.url(postgres_database)``
    is the session's database through it. Stopped (threads ended) at teardown."""
    url = make_url(postgres_database)
    proxy = PgProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def sqlite_lock(tmp_path: Path) -> Iterator[SqliteWriteLock]:
    """A :class:`SqliteWriteLock` on ``tmp_path / "refkit.db"`` (not yet acquired; released
    at teardown)."""
    lock = SqliteWriteLock(tmp_path / "refkit.db")
    try:
        yield lock
    finally:
        lock.release()


@pytest.fixture(scope="session")
def pgbouncer_url(postgres_database: str) -> Iterator[str]:
    """The session's PostgreSQL database through PgBouncer in transaction pooling mode
    (skips like every PostgreSQL test without ``REFKIT_TEST_POSTGRES_URL``)."""
    if not Path(PGBOUNCER).exists():
        message = f"{PGBOUNCER} is not installed (apt-get install pgbouncer; .ci/run does)"
        if os.environ.get("REFKIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    directory = Path(tempfile.mkdtemp(prefix="refkit-pgbouncer-"))
    process, port = start_pgbouncer(postgres_database, directory)
    try:
        url = make_url(postgres_database).set(host="127.0.0.1", port=port)
        yield url.render_as_string(hide_password=False)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)
