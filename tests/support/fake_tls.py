"""A loopback TLS server that records what a client sends, to prove a client never leaks a secret.

Point a client that should refuse the server (certificate from an untrusted CA, or for another host name)
at ``RecordingTLSServer`` and assert afterwards that ``handshake_completed`` is False and ``received`` is
empty: the client gave up before sending its startup message, AUTH command or password.

``protocol="postgres"`` speaks PostgreSQL's preamble first (the client's 8-byte SSLRequest, answered
with ``S``) and then TLS; ``protocol="redis"`` is TLS from the first byte. The server never answers
anything after the handshake, so a client that does get through sends its first message and then times
out or is disconnected after ``idle_timeout`` seconds.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from types import TracebackType

__all__ = ["POSTGRES_SSL_REQUEST", "RecordingTLSServer"]

# Int32 length 8, Int32 request code 80877103 (PostgreSQL protocol: SSLRequest).
POSTGRES_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
_PROTOCOLS = ("postgres", "redis")


class RecordingTLSServer:
    """One listener thread on 127.0.0.1; connections are served one after another.

    Attributes (read them after leaving the ``with`` block, which waits for the thread):

    * ``received`` -- every byte a client sent after the preamble: decrypted application data after a
      completed handshake, or raw bytes when a PostgreSQL client skipped TLS (sent something other than
      an SSLRequest).
    * ``handshake_completed`` -- True once any TLS handshake finished from the server's side.
    * ``connections`` -- how many connections were accepted; ``errors`` -- why handshakes failed.
    """

    def __init__(
        self,
        cert_file: str,
        key_file: str,
        protocol: str = "postgres",
        *,
        idle_timeout: float = 0.5,
    ) -> None:
        if protocol not in _PROTOCOLS:
            raise ValueError(f"protocol must be one of {_PROTOCOLS}, got {protocol!r}")
        self.protocol = protocol
        self.idle_timeout = idle_timeout
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context.load_cert_chain(cert_file, key_file)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._received = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"fake-tls-{protocol}", daemon=True)
        self.handshake_completed = False
        self.connections = 0
        self.errors: list[str] = []

    @property
    def received(self) -> bytes:
        with self._lock:
            return bytes(self._received)

    def __enter__(self) -> RecordingTLSServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, wait for the connection in progress to end and close the listener."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.idle_timeout + 5)
        self._listener.close()

    # ---- server thread ---------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(self.idle_timeout)
                try:
                    self._handle(conn)
                except (OSError, ssl.SSLError) as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")

    def _handle(self, conn: socket.socket) -> None:
        if self.protocol == "postgres":
            preamble = self._read_exactly(conn, 8)
            if preamble != POSTGRES_SSL_REQUEST:
                self._record(preamble)  # a client that skipped TLS: whatever it sent is in the clear
                self._drain(conn)
                return
            conn.sendall(b"S")
        try:
            tls = self._context.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            self.errors.append(f"handshake failed: {type(exc).__name__}: {exc}")
            return
        self.handshake_completed = True
        with tls:
            self._drain(tls)

    def _read_exactly(self, conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def _drain(self, conn: socket.socket) -> None:
        """Record everything until the client closes, goes quiet for ``idle_timeout`` or errors."""
        while True:
            try:
                chunk = conn.recv(65536)
            except (TimeoutError, ssl.SSLError, OSError):
                return
            if not chunk:
                return
            self._record(chunk)

    def _record(self, data: bytes) -> None:
        with self._lock:
            self._received.extend(data)
