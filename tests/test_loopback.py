"""The test session's one network rule (tests/conftest.py): nothing beyond 127.0.0.1. Anything
that tries is refused and recorded, and the test during which it tried fails."""

import socket

import pytest


def test_reaching_beyond_loopback_is_refused_and_recorded(reached_beyond_loopback):
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("192.0.2.1", 443), timeout=1)  # TEST-NET-1: never routed
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("huggingface.co", 443)
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect_ex(("huggingface.co", 443))  # a name resolved inside the C call
    tried = reached_beyond_loopback[-3:]
    assert tried == ["connect to ('192.0.2.1', 443)", "look up 'huggingface.co'",
                     "connect to ('huggingface.co', 443)"]
    del reached_beyond_loopback[-3:]  # refused on purpose: not this test's failure


def test_loopback_stays_open():
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname(), timeout=5):
        peer, _ = server.accept()
        with peer:
            assert peer.getsockname() == server.getsockname()
    assert socket.getaddrinfo("localhost", 80)
