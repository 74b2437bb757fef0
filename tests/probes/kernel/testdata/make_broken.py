#!/usr/bin/env python3
"""Derives hand-made broken copies of the real sock_diag capture, one defect each.

   make_broken.py DIR   (reads DIR/sock_diag_v4.bin, writes DIR/broken_*.bin)
"""
import struct
import sys
from pathlib import Path

NLMSG_ERROR, NLMSG_DONE, SOCK_DIAG_BY_FAMILY = 2, 3, 20
EPERM, ENOBUFS = 1, 105


def messages(data):
    """(offset, length) of every netlink message."""
    out, off = [], 0
    while off + 16 <= len(data):
        length = struct.unpack_from("=I", data, off)[0]
        out.append((off, length))
        off += (length + 3) & ~3
    return out


def header(length, mtype, flags=0, seq=1, pid=0):
    return struct.pack("=IHHII", length, mtype, flags, seq, pid)


def main():
    d = Path(sys.argv[1])
    data = (d / "sock_diag_v4.bin").read_bytes()
    msgs = messages(data)
    third_off, third_len = msgs[2]
    second_off, _ = msgs[1]

    def write(name, content):
        (d / name).write_bytes(bytes(content))

    # The bytes stop 30 bytes into the third message's body.
    write("broken_truncated_body.bin", data[: third_off + 16 + 30])
    # The bytes stop 10 bytes into the second message's header.
    write("broken_truncated_header.bin", data[: second_off + 10])
    # The second message claims 8 bytes, less than its own header.
    b = bytearray(data[: msgs[3][0]])
    struct.pack_into("=I", b, second_off, 8)
    write("broken_length_too_small.bin", b)
    # The first message claims nearly 4 GiB.
    b = bytearray(data[: msgs[3][0]])
    struct.pack_into("=I", b, 0, 0xFFFFFFF0)
    write("broken_length_too_large.bin", b)
    # The first socket says it is address family 99.
    b = bytearray(data[: msgs[3][0]])
    b[16] = 99
    write("broken_unknown_family.bin", b)
    # A SOCK_DIAG_BY_FAMILY message 40 bytes long: shorter than inet_diag_msg (72).
    write("broken_short_payload.bin", data[: msgs[1][0]] + header(56, SOCK_DIAG_BY_FAMILY) + bytes(40))
    # A message type no sock_diag dump contains.
    write("broken_unexpected_type.bin", data[: msgs[1][0]] + header(20, 0x99) + bytes(4))
    # The kernel refuses the request: NLMSG_ERROR -EPERM echoing the request header.
    request = header(72, SOCK_DIAG_BY_FAMILY, 0x301) + bytes(56)
    write("broken_error_eperm.bin", header(16 + 4 + 16, NLMSG_ERROR) + struct.pack("=i", -EPERM) + request[:16])
    # The dump ends with a failed NLMSG_DONE (-ENOBUFS) after two sockets.
    write("broken_done_failed.bin", data[: msgs[2][0]] + header(20, NLMSG_DONE, 2) + struct.pack("=i", -ENOBUFS))
    # Every socket but no NLMSG_DONE: the reader must keep reading.
    write("partial_no_done.bin", data[: msgs[-1][0]])


if __name__ == "__main__":
    main()
