"""API connections carry keep-alive and a user timeout, so a vanished peer cannot hang a thread."""

from __future__ import annotations

import socket

from prognos.operator.services import dead_peer_socket_options


def test_keepalive_and_user_timeout_are_set():
    options = dead_peer_socket_options()
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in options
    assert (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) in options  # urllib3's default, kept
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        assert (socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 60_000) in options


def test_the_options_are_accepted_by_a_real_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        for level, name, value in dead_peer_socket_options():
            sock.setsockopt(level, name, value)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
