#!/usr/bin/env python3
"""Makes a small, exactly known set of TCP connections on 127.0.0.1 for record_real_capture.sh.

Run only inside a throw-away network namespace (the script refuses otherwise): it listens on
127.0.0.1:18080-18083 and connects only there and to the closed port 127.0.0.1:18089.

    3 refused           connect() to a port nobody listens on: SYN, RST|ACK
    2 reset-after-accept server accepts and closes with SO_LINGER {1, 0}: RST from the server
    3 client-first       client sends, reads the reply, closes first: client TIME_WAIT
    1 server-first       server replies and closes first, client closes on EOF: server TIME_WAIT
    1 stale              server closes an idle connection, the client writes anyway: RST
"""

import socket
import struct
import sys
import threading
import time

HOST = "127.0.0.1"


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, port))
    s.listen(16)
    return s


def serve(sock, handler, count):
    def run():
        for _ in range(count):
            conn, _ = sock.accept()
            handler(conn)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def abort(conn):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def echo_then_wait_eof(conn):
    conn.recv(100)
    conn.sendall(b"pong")
    while conn.recv(100):
        pass
    conn.close()


def reply_and_close(conn):
    conn.recv(100)
    conn.sendall(b"bye")
    conn.close()


def close_idle(conn):
    conn.close()


def main():
    # A fresh namespace has nothing but lo.
    if [name for _, name in socket.if_nameindex()] != ["lo"]:
        sys.exit("refusing to run outside a private network namespace (interfaces besides lo)")
    threads = [
        serve(listener(18081), abort, 2),
        serve(listener(18080), echo_then_wait_eof, 3),
        serve(listener(18082), reply_and_close, 1),
        serve(listener(18083), close_idle, 1),
    ]
    time.sleep(0.2)

    for _ in range(3):
        try:
            socket.create_connection((HOST, 18089), timeout=2)
            sys.exit("port 18089 unexpectedly open")
        except ConnectionRefusedError:
            pass
        time.sleep(0.05)

    for _ in range(2):
        try:  # on loopback the RST can beat connect()'s own return
            c = socket.create_connection((HOST, 18081), timeout=2)
            c.recv(10)
            c.close()
        except ConnectionResetError:
            pass
        time.sleep(0.05)

    for _ in range(3):
        c = socket.create_connection((HOST, 18080), timeout=2)
        c.sendall(b"ping")
        assert c.recv(10) == b"pong"
        c.close()
        time.sleep(0.05)

    c = socket.create_connection((HOST, 18082), timeout=2)
    c.sendall(b"hello")
    while c.recv(100):
        pass
    c.close()
    time.sleep(0.05)

    c = socket.create_connection((HOST, 18083), timeout=2)
    time.sleep(0.2)  # the server's FIN arrives; the client does not notice
    try:
        c.sendall(b"GET / HTTP/1.1\r\n\r\n")
        time.sleep(0.1)
        c.recv(10)
    except (ConnectionResetError, BrokenPipeError):
        pass
    c.close()
    time.sleep(0.3)
    for t in threads:
        t.join(timeout=2)


if __name__ == "__main__":
    main()
