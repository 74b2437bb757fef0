#!/usr/bin/env python3
"""Writes the synthetic pcap/pcapng fixtures of tests/probes/passive/pcaps and their MANIFEST.

Every fixture is a list of TCP conversations built packet by packet (no scapy: plain struct).
Each conversation kind declares, by hand, what the passive probe must count for it (see KINDS);
a fixture's expected counts are the sum over its conversations, plus explicit expectations for
the snaplen-truncated copies. The MANIFEST line format is

    name file key=value ...

where keys are dotted paths into `agent --replay --format json` output (SPEC §2); a key that is
not listed must be 0. Keys starting with `snapshot.` are checked by the C++ manifest test only
(they are not part of the JSON): snapshot.duplicates, snapshot.middlebox.

It also writes the seed corpus of tests/fuzz/dissector_fuzz.cpp: one file per fixture holding
every packet (format: link selector byte, then [u8 length][bytes] chunks).

Run from anywhere: python3 tests/probes/passive/pcaps/make_fixtures.py
"""

import collections
import ipaddress
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "..", "..", "fuzz", "corpus", "dissector")

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# pcap LINKTYPE_* values (the file header), and the fuzz target's link selector order.
LINKTYPE = {"ethernet": 1, "null": 0, "loop": 108, "raw": 101, "sll": 113, "sll2": 276,
            "nflog": 239}
FUZZ_LINK = {"ethernet": 0, "sll": 1, "sll2": 2, "null": 3, "loop": 4, "raw": 5, "nflog": 8}

JSON_KEYS = [
    "packets", "connections", "resets.total",
    "resets.by_sender.client", "resets.by_sender.server", "resets.by_sender.unknown",
    "resets.by_phase.handshake", "resets.by_phase.established", "resets.by_phase.closing",
    "time_wait_entries.client", "time_wait_entries.server",
    "closes.fin", "closes.reset", "malformed", "truncated",
]


class Packet:
    """One TCP segment plus the link-layer details of how it was captured."""

    def __init__(self, src, sport, dst, dport, flags, seq, ack=0, ttl=64, ip_id=0, payload=0,
                 ipv4_options=0):
        self.src, self.sport, self.dst, self.dport = src, sport, dst, dport
        self.flags, self.seq, self.ack = flags, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF
        self.ttl, self.ip_id, self.payload = ttl, ip_id, payload
        self.ipv4_options = ipv4_options
        self.vlans = []          # TPIDs, outermost first
        self.pkttype = 0         # SLL/SLL2: 0 host, 4 outgoing
        self.ifindex = 1
        self.protocol = 6
        self.ip_total_override = None
        self.tcp_offset_override = None
        self.raw_ip = None       # a non-TCP packet given as finished IP bytes
        self.ipv6_ext = []       # (type, length in bytes) of IPv6 extension headers, in order
        self.window = 64240

    def v6(self):
        return ipaddress.ip_address(self.src).version == 6

    def tcp(self):
        offset = self.tcp_offset_override if self.tcp_offset_override is not None else 5
        header = struct.pack("!HHIIBBHHH", self.sport, self.dport, self.seq, self.ack,
                             offset << 4, self.flags, self.window, 0, 0)
        return header + b"\x00" * self.payload

    def ip(self):
        if self.raw_ip is not None:
            return self.raw_ip
        segment = self.tcp()
        src = ipaddress.ip_address(self.src).packed
        dst = ipaddress.ip_address(self.dst).packed
        if not self.v6():
            ihl = 5 + self.ipv4_options // 4
            total = self.ip_total_override or ihl * 4 + len(segment)
            header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, self.ip_id, 0x4000,
                                 self.ttl, self.protocol, 0, src, dst)
            header += b"\x01" * self.ipv4_options  # NOP options
            return header + segment
        chain = b""
        types = [t for t, _ in self.ipv6_ext] + [self.protocol]
        for (kind, length), next_header in zip(self.ipv6_ext, types[1:]):
            if kind == 44:  # fragment: offset 0, more fragments, identification
                chain += struct.pack("!BBHI", next_header, 0, 1, 0xC0FFEE)
            elif kind == 51:  # AH: length in 4-byte units minus 2
                chain += struct.pack("!BB", next_header, length // 4 - 2) + b"\0" * (length - 2)
            else:  # hop-by-hop, routing, destination options: 8-byte units minus 1 (PadN inside)
                chain += struct.pack("!BB", next_header, length // 8 - 1) + b"\0" * (length - 2)
        header = struct.pack("!IHBB16s16s", 0x60000000, len(chain) + len(segment), types[0],
                             self.ttl, src, dst)
        return header + chain + segment

    def frame(self, link):
        ip = self.ip()
        ethertype = 0x86DD if ip[0] >> 4 == 6 else 0x0800
        if link == "ethernet":
            head = bytes.fromhex("020000000002") + bytes.fromhex("020000000001")
            for tpid in self.vlans:
                head += struct.pack("!HH", tpid, 100)
            return head + struct.pack("!H", ethertype) + ip
        if link == "sll":
            return struct.pack("!HHH8sH", self.pkttype, 1, 6, b"\x02" * 6 + b"\0\0", ethertype) + ip
        if link == "sll2":
            return struct.pack("!HHIHBB8s", ethertype, 0, self.ifindex, 1, self.pkttype, 6,
                               b"\x02" * 6 + b"\0\0") + ip
        if link == "null":  # written by a little-endian host (Linux/macOS on x86/arm)
            family = 30 if ethertype == 0x86DD else 2  # macOS AF_INET6
            return struct.pack("<I", family) + ip
        if link == "loop":
            family = 24 if ethertype == 0x86DD else 2  # OpenBSD AF_INET6
            return struct.pack("!I", family) + ip
        if link == "raw":
            return ip
        if link == "nflog":  # what the NFLOG target hands libpcap: header, then LE TLVs
            def tlv(kind, value):
                body = struct.pack("<HH", 4 + len(value), kind) + value
                return body + b"\0" * (-len(body) % 4)
            family = 10 if ethertype == 0x86DD else 2
            return (struct.pack("<BB", family, 0) + struct.pack("!H", 5) +
                    tlv(1, struct.pack("!HBB", ethertype, 3, 0)) +       # NFULA_PACKET_HDR
                    tlv(10, b"connwatch-reset\0") +                      # NFULA_PREFIX
                    tlv(4, struct.pack("!I", 2)) +                        # NFULA_IFINDEX_INDEV
                    tlv(9, ip))                                           # NFULA_PAYLOAD
        raise ValueError(link)


class Conversation:
    """A client talking to a server; each method appends packets, 1 ms apart."""

    def __init__(self, client, cport, server, sport, cisn=1000, sisn=5000, ttl_c=64, ttl_s=64):
        self.client, self.cport, self.server, self.sport = client, cport, server, sport
        self.cseq, self.sseq = cisn, sisn
        self.ttl_c, self.ttl_s = ttl_c, ttl_s
        self.ip_id = 100
        self.packets = []

    def _add(self, from_client, flags, seq, ack, payload=0, ttl=None):
        self.ip_id += 1
        if from_client:
            p = Packet(self.client, self.cport, self.server, self.sport, flags, seq, ack,
                       ttl or self.ttl_c, self.ip_id, payload)
        else:
            p = Packet(self.server, self.sport, self.client, self.cport, flags, seq, ack,
                       ttl or self.ttl_s, self.ip_id, payload)
            p.pkttype = 0
        self.packets.append(p)
        return p

    def syn(self):
        return self._add(True, SYN, self.cseq, 0)

    def syn_ack(self):
        return self._add(False, SYN | ACK, self.sseq, self.cseq + 1)

    def handshake(self):
        self.syn()
        self.syn_ack()
        self.cseq += 1
        self.sseq += 1

    def refuse(self):  # RFC 9293: RST|ACK, seq 0, ack = SYN's seq + 1
        return self._add(False, RST | ACK, 0, self.cseq + 1)

    def client_fin(self, ack=None, payload=0):
        p = self._add(True, FIN | ACK | (PSH if payload else 0), self.cseq,
                      self.sseq if ack is None else ack, payload)
        self.cseq += payload + 1
        return p

    def server_fin(self, ack=None, payload=0):
        p = self._add(False, FIN | ACK | (PSH if payload else 0), self.sseq,
                      self.cseq if ack is None else ack, payload)
        self.sseq += payload + 1
        return p

    def client_rst(self):
        return self._add(True, RST | ACK, self.cseq, self.sseq)

    def server_rst(self, ttl=None, bare=False):
        return self._add(False, RST if bare else RST | ACK, self.sseq, 0 if bare else self.cseq,
                         ttl=ttl)


def expect(**counts):
    out = collections.Counter()
    for key, value in counts.items():
        out[key.replace("__", ".")] += value
    return out


# Each kind builds one conversation and says what it must count (by hand, from SPEC §2/§4).
def refused(c):
    c.syn()
    c.refuse()
    return expect(packets=2, resets__by_sender__server=1, resets__by_phase__handshake=1,
                  closes__reset=1)


def server_reset(c):
    c.handshake()
    c.server_rst()
    return expect(packets=3, connections=1, resets__by_sender__server=1,
                  resets__by_phase__established=1, closes__reset=1)


def client_reset(c):
    c.handshake()
    c.client_rst()
    return expect(packets=3, connections=1, resets__by_sender__client=1,
                  resets__by_phase__established=1, closes__reset=1)


def client_close(c):
    c.handshake()
    c.client_fin()
    c.server_fin()  # acks the client's FIN: the client is the active closer
    return expect(packets=4, connections=1, time_wait_entries__client=1, closes__fin=1)


def server_close(c):
    c.handshake()
    c.server_fin(payload=300)  # the response and the FIN in one segment
    c.client_fin()
    return expect(packets=4, connections=1, time_wait_entries__server=1, closes__fin=1)


def crossed_fins(c):
    c.handshake()
    cseq, sseq = c.cseq, c.sseq
    c.client_fin(ack=sseq)
    c.server_fin(ack=cseq)  # sent before the client's FIN arrived
    return expect(packets=4, connections=1, time_wait_entries__client=1,
                  time_wait_entries__server=1, closes__fin=1)


def rst_after_server_fin(c):
    """The stale pooled connection: the server closed idle, the client wrote, a bare RST back."""
    c.handshake()
    c.server_fin()
    c.server_rst(bare=True)
    return expect(packets=4, connections=1, resets__by_sender__server=1,
                  resets__by_phase__closing=1, closes__reset=1)


def rst_after_close(c):
    """A full FIN exchange, then a RST: the TIME_WAIT entry stays, the RST is a closing reset."""
    c.handshake()
    c.client_fin()
    c.server_fin()
    c.client_rst()
    return expect(packets=5, connections=1, time_wait_entries__client=1, closes__fin=1,
                  resets__by_sender__client=1, resets__by_phase__closing=1)


def middlebox_reset(c):
    """A RST whose TTL is not the server's: injected on the path."""
    c.handshake()
    c.server_rst(ttl=c.ttl_s - 9)
    counts = server_reset_counts()
    counts["snapshot.middlebox"] = 1
    return counts


def server_reset_counts():
    return expect(packets=3, connections=1, resets__by_sender__server=1,
                  resets__by_phase__established=1, closes__reset=1)


# Field kinds (issue 15): long quiet connections, injected resets, retries.
def half_close_400s(c):
    """The client closes its half, the server keeps sending for 400 s, then closes: TIME_WAIT is
    still the client's, though the flow saw no control segment for longer than 5 minutes."""
    c.handshake()
    c.client_fin()
    c.server_fin().delay = 400
    return expect(packets=4, connections=1, time_wait_entries__client=1, closes__fin=1)


def high_server_port_400s(c):
    """A gRPC-style server on a port above the client's, quiet 400 s, then it resets: the roles
    come from the handshake, not from the ports."""
    c.handshake()
    c.server_rst().delay = 400
    counts = expect(packets=3, connections=1, resets__by_sender__server=1,
                    resets__by_phase__established=1, closes__reset=1)
    counts[f"snapshot.peer.{c.server}"] = 1
    return counts


def injected_rst_racing_syn_ack(c):
    """A forged RST|ACK beats the server's SYN-ACK; the client, its socket gone, resets the
    SYN-ACK. One reset (as it looked), suspected middlebox, no new connection."""
    c.syn()
    c.refuse().ttl = 250
    c.syn_ack()
    c._add(True, RST, c.cseq + 1, 0)
    return expect(packets=4, resets__by_sender__server=1, resets__by_phase__handshake=1,
                  closes__reset=1, snapshot__middlebox=1)


def injected_rst_then_data_fin(c):
    """A forged RST with the server's own TTL, then the server's real response and FIN."""
    c.handshake()
    c.server_rst()
    c.server_fin(payload=200)
    return expect(packets=4, connections=1, resets__by_sender__server=1,
                  resets__by_phase__established=1, closes__reset=1, snapshot__middlebox=1)


def rst_twice_other_ttl(c):
    """Two RSTs from the server side with different TTLs: one of them was not the server's."""
    c.handshake()
    c.server_rst()
    c.server_rst(ttl=c.ttl_s + 70)
    return expect(packets=4, connections=1, resets__by_sender__server=1,
                  resets__by_phase__established=1, closes__reset=1, snapshot__middlebox=1)


def rst_then_retry(c):
    """Refused, then the client retries a second later from the same port (a new ISN) and gets
    in: an ordinary refusal and a new connection, nothing injected."""
    c.syn()
    c.refuse()
    c.cseq += 7777777
    c.syn().delay = 1
    c.syn_ack()
    c.cseq += 1
    c.sseq += 1
    c.client_fin()
    c.server_fin()
    return expect(packets=6, connections=1, resets__by_sender__server=1,
                  resets__by_phase__handshake=1, closes__reset=1, time_wait_entries__client=1,
                  closes__fin=1)


def total(counts):
    counts = collections.Counter(counts)
    counts["resets.total"] = sum(v for k, v in counts.items() if k.startswith("resets.by_sender"))
    return counts


class Fixture:
    def __init__(self, name, link, fmt="pcap"):
        self.name, self.link, self.fmt = name, link, fmt
        self.packets = []   # (time, Packet)
        self.expected = collections.Counter()
        self.time = 1700000000.0
        self.next_port = 40001

    def add(self, kind, v6=False, server_port=443, dress=None, **conversation_args):
        client, server = ("2001:db8::1", "2001:db8::2") if v6 else ("10.0.0.1", "10.0.0.2")
        c = Conversation(client, self.next_port, server, server_port, **conversation_args)
        self.next_port += 1
        self.expected += kind(c)
        for p in c.packets:
            if dress:
                dress(p)
            self.time += 0.001 + getattr(p, "delay", 0)
            self.packets.append((self.time, p))
        self.time += 0.05
        return c

    def add_noise(self, packet):
        """A packet the capture filter must not pass: it counts nowhere."""
        self.add_packet(packet, collections.Counter())

    def add_packet(self, packet, counts):
        self.time += 0.001
        self.packets.append((self.time, packet))
        self.expected += counts


def write_pcap(path, link, packets, snaplen=65535):
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, LINKTYPE[link]))
        for when, frame in packets:
            sec, usec = int(when), int(round((when - int(when)) * 1e6))
            kept = frame[:snaplen]
            out.write(struct.pack("<IIII", sec, usec, len(kept), len(frame)) + kept)


def write_pcapng(path, link, packets, snaplen=65535):
    def block(kind, body):
        body += b"\0" * (-len(body) % 4)
        length = 12 + len(body)
        return struct.pack("<II", kind, length) + body + struct.pack("<I", length)

    with open(path, "wb") as out:
        out.write(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        out.write(block(0x00000001, struct.pack("<HHI", LINKTYPE[link], 0, snaplen)))
        for when, frame in packets:
            ticks = int(round(when * 1e6))  # default if_tsresol: microseconds
            kept = frame[:snaplen]
            body = struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(kept), len(frame))
            out.write(block(0x00000006, body + kept))


def manifest_line(name, filename, counts):
    counts = total(counts)
    fields = [f"{k}={counts[k]}" for k in JSON_KEYS if counts[k]]
    fields += [f"{k}={v}" for k, v in sorted(counts.items()) if k.startswith("snapshot.") and v]
    return f"{name} {filename} " + " ".join(fields)


def all_truncated(fixture):
    n = len(fixture.packets)
    return collections.Counter({"packets": n, "truncated": n})


def build():
    fixtures = []
    lines = []

    def emit(fixture, copies=()):
        frames = [(t, p.frame(fixture.link)) for t, p in fixture.packets]
        filename = f"{fixture.name}.{fixture.fmt}"
        writer = write_pcapng if fixture.fmt == "pcapng" else write_pcap
        writer(os.path.join(HERE, filename), fixture.link, frames)
        lines.append(manifest_line(fixture.name, filename, fixture.expected))
        for snaplen, expected in copies:
            copy = f"{fixture.name}.snap{snaplen}.{fixture.fmt}"
            writer(os.path.join(HERE, copy), fixture.link, frames, snaplen)
            lines.append(manifest_line(f"{fixture.name}.snap{snaplen}", copy, expected))
        fixtures.append((fixture, frames))

    f = Fixture("refused_eth", "ethernet")
    for _ in range(3):
        f.add(refused)
    emit(f)

    f = Fixture("midstream_resets_eth", "ethernet")
    f.add(server_reset)
    f.add(server_reset, server_port=8080)
    f.add(client_reset)
    emit(f)

    # Ethernet + IPv4 + TCP through the flags is 14 + 20 + 14 = 48 bytes: snaplen 40 cuts every
    # packet before the flags, 54 keeps whole headers.
    f = Fixture("client_close_eth", "ethernet")
    for _ in range(4):
        f.add(client_close)
    emit(f, copies=[(40, all_truncated(f)), (54, f.expected)])

    f = Fixture("server_close_eth", "ethernet")
    f.add(server_close)
    f.add(server_close, server_port=80)
    emit(f)

    f = Fixture("crossed_fins_eth", "ethernet")
    f.add(crossed_fins)
    f.add(crossed_fins)
    emit(f)

    f = Fixture("rst_after_fin_eth", "ethernet")
    f.add(rst_after_server_fin)
    f.add(rst_after_server_fin)
    f.add(rst_after_close)
    emit(f)

    f = Fixture("middlebox_eth", "ethernet")
    f.add(middlebox_reset, ttl_s=57)
    f.add(server_reset, ttl_s=57)
    emit(f)

    # SLL2 + IPv6 + 14 TCP bytes = 74: snaplen 60 keeps only the link and IPv6 headers.
    f = Fixture("ipv6_sll2", "sll2")
    f.add(refused, v6=True)
    f.add(client_close, v6=True)
    f.add(server_reset, v6=True)
    emit(f, copies=[(60, all_truncated(f)), (74, f.expected)])

    def single_tag(p):
        p.vlans = [0x8100]

    def double_tag(p):
        p.vlans = [0x88A8, 0x8100]

    # At snaplen 54 only the single-tag IPv4 refusal keeps its flags (18 + 20 + 14 = 52); the
    # QinQ close (22 + 20 + 14 = 56) and the tagged IPv6 reset (18 + 40 + 14 = 72) are cut.
    f = Fixture("vlan_eth", "ethernet")
    f.add(refused, dress=single_tag)
    f.add(client_close, dress=double_tag)
    f.add(server_reset, v6=True, dress=single_tag)
    emit(f, copies=[(54, total(expect(packets=9, truncated=7, resets__by_sender__server=1,
                                      resets__by_phase__handshake=1, closes__reset=1)))])

    f = Fixture("ipv4_options_eth", "ethernet")

    def options(p):
        p.ipv4_options = 12  # IHL 8: the flags byte sits at 14 + 32 + 13

    f.add(client_close, dress=options)
    f.add(refused)
    emit(f, copies=[(54, total(expect(packets=6, truncated=4, resets__by_sender__server=1,
                                      resets__by_phase__handshake=1, closes__reset=1)))])

    f = Fixture("sll", "sll")
    f.add(client_close)
    f.add(refused)
    emit(f)

    # "any" sees a packet once per interface it crosses (veth, then bridge): same segment, same
    # IP-ID, 20 us apart, different ifindex. Counted once; the copies are "duplicates".
    f = Fixture("sll2_any_duplicates", "sll2")
    f.add(client_close)
    f.add(refused)
    doubled = []
    for when, p in f.packets:
        p.ifindex = 3
        doubled.append((when, p))
        twin = Packet(p.src, p.sport, p.dst, p.dport, p.flags, p.seq, p.ack, p.ttl, p.ip_id,
                      p.payload)
        twin.ifindex = 5
        doubled.append((when + 0.00002, twin))
    f.packets = doubled
    f.expected["packets"] = 12
    f.expected["snapshot.duplicates"] = 6
    emit(f)

    f = Fixture("null_loopback", "null")
    f.add(refused)
    f.add(client_close, v6=True)
    emit(f)

    f = Fixture("loop", "loop")
    f.add(refused)
    f.add(refused, v6=True)
    emit(f)

    f = Fixture("raw_ip", "raw")
    f.add(server_close)
    f.add(client_reset, v6=True)
    emit(f)

    f = Fixture("mixed", "ethernet", fmt="pcapng")
    f.add(refused)
    f.add(client_close)
    f.add(crossed_fins, v6=True)
    f.add(server_reset)
    emit(f)

    # Data, pure ACKs, UDP and ARP around one close: the capture filter passes only the close.
    f = Fixture("filtered_noise_eth", "ethernet")
    c = f.add(client_close)
    noise = [
        Packet("10.0.0.1", c.cport, "10.0.0.2", 443, ACK, 1, 1),
        Packet("10.0.0.1", c.cport, "10.0.0.2", 443, ACK | PSH, 1, 1, payload=100),
        Packet("2001:db8::1", 40100, "2001:db8::2", 443, ACK, 1, 1),
    ]
    udp = Packet("10.0.0.1", 5353, "10.0.0.2", 53, 0, 0)
    udp.protocol = 17
    noise.append(udp)
    arp = Packet("10.0.0.1", 0, "10.0.0.2", 0, 0, 0)
    arp.raw_ip = b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\0" * 20  # not IP at all
    for p in noise:
        f.add_packet(p, collections.Counter())
    emit(f)
    # The ARP frame needs its own EtherType: patch it in after the fact.
    path = os.path.join(HERE, "filtered_noise_eth.pcap")
    frames = [(t, p.frame("ethernet")) for t, p in f.packets]
    frames.append((f.time + 0.001, bytes.fromhex("ffffffffffff020000000001") + b"\x08\x06" +
                   arp.raw_ip))
    write_pcap(path, "ethernet", frames)

    # Control segments the filter passes but the dissector cannot use.
    f = Fixture("malformed_eth", "ethernet")
    f.add(refused)
    short_total = Packet("10.0.0.1", 40100, "10.0.0.2", 443, SYN, 1)
    short_total.ip_total_override = 30  # IP says 10 bytes of TCP: no room for a header
    bad_offset = Packet("10.0.0.1", 40101, "10.0.0.2", 443, FIN | ACK, 1, 1)
    bad_offset.tcp_offset_override = 3  # data offset below 5 words
    f.add_packet(short_total, expect(packets=1, malformed=1))
    f.add_packet(bad_offset, expect(packets=1, malformed=1))
    emit(f)

    # IPv6 behind extension headers (RFC 8200 §4): routing, fragment (first fragment), a chain,
    # and hop-by-hop + AH. Then what must not pass: a pure ACK behind a routing header, a
    # non-first fragment, and a RST behind nine extension headers (beyond the dissector's bound).
    f = Fixture("ipv6_ext_headers_eth", "ethernet")

    def chain(*headers):
        def dress(p):
            p.ipv6_ext = list(headers)
        return dress

    f.add(refused, v6=True, dress=chain((43, 24)))
    f.add(client_close, v6=True, dress=chain((44, 8)))
    f.add(server_reset, v6=True, dress=chain((60, 8), (43, 24), (44, 8)))
    f.add(refused, v6=True, dress=chain((0, 8), (51, 16)))
    ack = Packet("2001:db8::1", 40200, "2001:db8::2", 443, ACK, 1, 1)
    ack.ipv6_ext = [(43, 24)]
    f.add_noise(ack)
    rst_fragment = Packet("2001:db8::1", 40201, "2001:db8::2", 443, RST, 1, 1)
    rst_fragment.ipv6_ext = [(44, 8)]
    f.add_noise(rst_fragment)
    deep = Packet("2001:db8::1", 40202, "2001:db8::2", 443, RST, 1, 1)
    deep.ipv6_ext = [(60, 8)] * 9
    f.add_noise(deep)
    emit(f)
    # The non-first fragment: patch its fragment offset in (byte 2-3 of the fragment header).
    frames = [(t, p.frame("ethernet")) for t, p in f.packets]
    at = 14 + 40 + 2
    frames[-2] = (frames[-2][0], frames[-2][1][:at] + struct.pack("!H", 185 << 3) +
                  frames[-2][1][at + 2:])
    write_pcap(os.path.join(HERE, "ipv6_ext_headers_eth.pcap"), "ethernet", frames)
    fixtures[-1] = (f, frames)

    def four_tags(p):
        p.vlans = [0x88A8, 0x8100, 0x8100, 0x8100]

    f = Fixture("vlan_4_tags_eth", "ethernet")
    f.add(refused, dress=four_tags)
    f.add(client_close, v6=True, dress=four_tags)
    five = Packet("10.0.0.1", 40300, "10.0.0.2", 443, RST, 1, 1)
    five.vlans = [0x88A8, 0x8100, 0x8100, 0x8100, 0x8100]
    f.add_noise(five)
    emit(f)

    f = Fixture("half_close_400s_eth", "ethernet")
    f.add(half_close_400s)
    emit(f)

    f = Fixture("server_port_above_client_400s_eth", "ethernet")
    f.add(high_server_port_400s, server_port=50051)
    emit(f)

    f = Fixture("injected_resets_eth", "ethernet")
    f.add(injected_rst_racing_syn_ack, ttl_s=57)
    f.add(injected_rst_then_data_fin, ttl_s=57)
    f.add(rst_twice_other_ttl, ttl_s=57)
    emit(f)

    f = Fixture("rst_then_retry_eth", "ethernet")
    f.add(rst_then_retry)
    emit(f)

    # iptables -j NFLOG of a host's control segments (nflog:N interface): IPv4 and IPv6, and a
    # logged pure ACK that the filter must drop.
    f = Fixture("nflog", "nflog")
    f.add(refused)
    f.add(client_close, v6=True)
    f.add(server_reset)
    f.add_noise(Packet("10.0.0.1", 40400, "10.0.0.2", 443, ACK, 1, 1))
    emit(f)

    fixtures.append(dnat_nodeport(lines))
    return fixtures, lines


def dnat_nodeport(lines):
    """`any` on a Kubernetes node: a NodePort's inbound segments on eth0 (ifindex 2), then on the
    pod's veth (ifindex 7) after DNAT (destination 203.0.113.5:30080 -> 10.244.1.5:8080), and the
    pod's answers the other way round after un-DNAT, one hop later each (TTL - 1). One refused
    connection (the pod has no listener) and one that closes; the peer is the outside client."""
    f = Fixture("dnat_nodeport_sll2", "sll2")
    outside, node, pod = ("198.51.100.9", 51000), ("203.0.113.5", 30080), ("10.244.1.5", 8080)

    def both_views(p, inbound):
        # inbound: client -> node on eth0 first, then client -> pod on the veth.
        # outbound: pod -> client on the veth first, then node -> client on eth0.
        first = Packet(p.src, p.sport, p.dst, p.dport, p.flags, p.seq, p.ack, p.ttl, p.ip_id,
                       p.payload)
        second = Packet(p.src, p.sport, p.dst, p.dport, p.flags, p.seq, p.ack, p.ttl - 1,
                        p.ip_id, p.payload)
        if inbound:
            first.dst, first.dport, first.ifindex, first.pkttype = *node, 2, 0
            second.dst, second.dport, second.ifindex, second.pkttype = *pod, 7, 4
        else:
            first.src, first.sport, first.ifindex, first.pkttype = *pod, 7, 0
            second.src, second.sport, second.ifindex, second.pkttype = *node, 2, 4
        return [first, second]

    for kind, port in ((refused, 51000), (client_close, 51001)):
        c = Conversation(outside[0], port, pod[0], pod[1], ttl_c=60, ttl_s=64)
        f.expected += kind(c)
        for p in c.packets:
            for copy in both_views(p, inbound=p.src == outside[0]):
                f.time += 0.00005
                f.packets.append((f.time, copy))
        f.time += 0.05
    f.expected["packets"] = len(f.packets)
    f.expected["snapshot.duplicates"] = len(f.packets) // 2
    f.expected[f"snapshot.peer.{outside[0]}"] = 1
    frames = [(t, p.frame("sll2")) for t, p in f.packets]
    write_pcap(os.path.join(HERE, f"{f.name}.pcap"), "sll2", frames)
    lines.append(manifest_line(f.name, f"{f.name}.pcap", f.expected))
    return f, frames


def read_pcap(path):
    """(link name, [(time, frame)]) of a little-endian microsecond pcap file."""
    names = {v: k for k, v in LINKTYPE.items()}
    with open(path, "rb") as f:
        data = f.read()
    linktype = struct.unpack_from("<I", data, 20)[0]
    frames, at = [], 24
    while at + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, at)
        frames.append((sec + usec / 1e6, data[at + 16:at + 16 + caplen]))
        at += 16 + caplen
    return names[linktype], frames


def write_corpus(fixtures):
    os.makedirs(CORPUS, exist_ok=True)
    cases = sorted(name for name in os.listdir(HERE) if name.startswith("case_"))
    for real in ["real_lo_eth.pcap", "real_any_sll2.pcap"] + cases:
        path = os.path.join(HERE, real)
        if os.path.exists(path):
            link, frames = read_pcap(path)
            fixtures = fixtures + [(Fixture(real.rsplit(".", 1)[0], link), frames)]
    for fixture, frames in fixtures:
        seed = bytes([FUZZ_LINK[fixture.link]])
        for _, frame in frames:
            frame = frame[:255]
            seed += bytes([len(frame)]) + frame
        with open(os.path.join(CORPUS, f"{fixture.name}.bin"), "wb") as out:
            out.write(seed)
        # The first packet alone too, so single-packet mutations start from a valid frame.
        first = frames[0][1][:255]
        with open(os.path.join(CORPUS, f"{fixture.name}.first.bin"), "wb") as out:
            out.write(bytes([FUZZ_LINK[fixture.link], len(first)]) + first)


def main():
    fixtures, lines = build()
    header = [
        "# Expected replay counts of each fixture; generated by make_fixtures.py (synthetic) and",
        "# record_real_capture.sh (real). Format: name file key=value ...; keys are dotted paths",
        "# into `agent --replay --format json`; unlisted keys are 0; snapshot.* keys are checked",
        "# by tests/probes/passive/replay_test.cpp only.",
    ]
    manifest = os.path.join(HERE, "MANIFEST")
    real = []
    if os.path.exists(manifest):
        with open(manifest) as existing:
            real = [line.rstrip("\n") for line in existing
                    if line.startswith("real_") or line.startswith("case_")]
    with open(manifest, "w") as out:
        out.write("\n".join(header + lines + real) + "\n")
    write_corpus(fixtures)
    print(f"wrote {len(lines)} synthetic fixtures, kept {len(real)} real and field-case ones")


if __name__ == "__main__":
    main()
