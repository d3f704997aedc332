"""A minimal Socket Mode server on 127.0.0.1 (plain ws://, as slack_sdk allows off port 443):
the WebSocket handshake, a ``hello``, envelopes pushed to the app, and the acks it returns."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import time
import uuid

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class FakeSocketModeServer:
    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}/link/?ticket=test"
        self.acks: list[dict] = []
        self._conn: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._connected = threading.Event()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    # --- connection --------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        headers = dict(line.split(": ", 1) for line in request.decode().split("\r\n")[1:] if ": " in line)
        accept = base64.b64encode(hashlib.sha1((headers["Sec-WebSocket-Key"] + _GUID).encode()).digest()).decode()
        conn.sendall(f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n".encode())
        self._conn = conn
        self._send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}}))
        self._connected.set()
        buffer = b""
        while not self._closed:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while (frame := _parse(buffer)) is not None:
                opcode, payload, used = frame
                buffer = buffer[used:]
                if opcode == 1:
                    self.acks.append(json.loads(payload))
                elif opcode == 9:
                    self._send(payload, opcode=10)
                elif opcode == 8:
                    return

    def _send(self, payload: str | bytes, opcode: int = 1) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        header = bytes([0x80 | opcode])
        if len(data) < 126:
            header += bytes([len(data)])
        elif len(data) < 65536:
            header += bytes([126]) + struct.pack(">H", len(data))
        else:
            header += bytes([127]) + struct.pack(">Q", len(data))
        with self._send_lock:
            self._conn.sendall(header + data)

    # --- what tests use ----------------------------------------------------------------------
    def wait_connected(self, timeout: float = 10.0) -> None:
        assert self._connected.wait(timeout), "the app never connected over Socket Mode"

    def push(self, kind: str, payload: dict, *, retry_attempt: int = 0) -> str:
        envelope_id = uuid.uuid4().hex
        self._send(json.dumps({"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": kind != "events_api",
                               "retry_attempt": retry_attempt, "retry_reason": "timeout" if retry_attempt else ""}))
        return envelope_id

    def ack_for(self, envelope_id: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ack in list(self.acks):
                if ack.get("envelope_id") == envelope_id:
                    return ack
            time.sleep(0.01)
        raise AssertionError(f"no ack for envelope {envelope_id}; acks: {self.acks}")

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        if self._conn is not None:
            self._conn.close()


def _parse(buffer: bytes) -> tuple[int, bytes, int] | None:
    """(opcode, unmasked payload, bytes used) of the first complete frame, or None."""
    if len(buffer) < 2:
        return None
    opcode, masked, length, at = buffer[0] & 0x0F, buffer[1] & 0x80, buffer[1] & 0x7F, 2
    if length == 126:
        if len(buffer) < 4:
            return None
        length, at = struct.unpack(">H", buffer[2:4])[0], 4
    elif length == 127:
        if len(buffer) < 10:
            return None
        length, at = struct.unpack(">Q", buffer[2:10])[0], 10
    mask = b""
    if masked:
        mask, at = buffer[at : at + 4], at + 4
    if len(buffer) < at + length:
        return None
    payload = buffer[at : at + length]
    if masked:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return opcode, payload, at + length
