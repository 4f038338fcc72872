"""A minimal anonymous FTP server on 127.0.0.1 for download tests (passive mode, binary RETR only).

It answers what Python's ftplib (and so pooch's FTP downloader) sends: USER, PASS, TYPE, SIZE, PASV, RETR,
QUIT. Files are served from ``root``; a missing one answers 550. Every RETR path is recorded in
``server.requests``.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from pathlib import Path


class _Handler(socketserver.StreamRequestHandler):
    root: Path
    requests: list[str]

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 test FTP")
        passive = None
        for raw in self.rfile:
            command, _, argument = raw.decode().strip().partition(" ")
            command = command.upper()
            file = self.root / argument.lstrip("/")
            if command in ("USER", "PASS"):
                self.reply("331 password please" if command == "USER" else "230 logged in")
            elif command == "TYPE":
                self.reply("200 type set")
            elif command == "SIZE":
                self.reply(f"213 {file.stat().st_size}" if file.is_file() else "550 no such file")
            elif command == "PASV":
                passive = socket.create_server(("127.0.0.1", 0))
                port = passive.getsockname()[1]
                self.reply(f"227 Entering Passive Mode (127,0,0,1,{port // 256},{port % 256})")
            elif command == "RETR" and passive is not None:
                self.requests.append(argument)
                if not file.is_file():
                    self.reply("550 no such file")
                    continue
                self.reply("150 sending")
                connection, _ = passive.accept()
                with connection:
                    connection.sendall(file.read_bytes())
                passive.close()
                self.reply("226 done")
            elif command == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class LocalFTPServer:
    """``with LocalFTPServer(root) as server:`` serves ``root`` at ``server.url`` (ftp://127.0.0.1:<port>)."""

    def __init__(self, root: Path) -> None:
        handler = type("Handler", (_Handler,), {"root": Path(root), "requests": []})
        self.requests = handler.requests
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"ftp://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LocalFTPServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
