#!/usr/bin/env python3
"""The servers agent_probe_options_lab_test.py probes, all in one process (run inside the test's
network namespace). Usage: probe_options_server.py CERT_DIR ECHO TLS MTLS DUAL V4ONLY; prints
"ready" once every socket listens.

ECHO (127.0.0.1) answers 200 with the request as text: "method: M", one "name: value" line per
header (names lowercased), "body: B". DUAL answers "family: ipv4" on 127.0.0.1 and "family: ipv6"
on ::1 and fd00:cafe::1 (the test adds it to lo), same port; V4ONLY only on 127.0.0.1. TLS
serves server.test's certificate (signed by the test's CA); MTLS also requires a client certificate from that CA."""
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


# six.test's address. Not ::1: glibc answers an IPv4 lookup of a ::1 entry with 127.0.0.1.
SIX = "fd00:cafe::1"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    text = None  # None: echo the request

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if self.text is None:
            lines = [f"method: {self.command}"]
            lines += [f"{k.lower()}: {v}" for k, v in self.headers.items()]
            lines.append(f"body: {body}")
            text = "\n".join(lines) + "\n"
        else:
            text = self.text
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_HEAD = answer

    def log_message(self, *args):
        pass


def handler(text):
    return type("H", (Handler,), {"text": text})


class Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def serve(server):
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()


def tls_server(port, cert_dir, require_client):
    server = ThreadingHTTPServer(("127.0.0.1", port), handler("tls ok\n"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{cert_dir}/server.pem", f"{cert_dir}/server.key")
    if require_client:
        # TLS 1.2: the missing client certificate fails the handshake itself. Under TLS 1.3 the
        # server's rejection arrives after the client's handshake completed, as an alert or as
        # a reset of the request, whichever wins the race.
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(f"{cert_dir}/ca.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def main():
    cert_dir = sys.argv[1]
    echo, tls, mtls, dual, v4only = (int(p) for p in sys.argv[2:7])
    serve(ThreadingHTTPServer(("127.0.0.1", echo), handler(None)))
    serve(tls_server(tls, cert_dir, False))
    serve(tls_server(mtls, cert_dir, True))
    serve(ThreadingHTTPServer(("127.0.0.1", dual), handler("family: ipv4\n")))
    serve(Server6(("::1", dual), handler("family: ipv6\n")))
    serve(Server6((SIX, dual), handler("family: ipv6\n")))
    serve(ThreadingHTTPServer(("127.0.0.1", v4only), handler("family: ipv4\n")))
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
