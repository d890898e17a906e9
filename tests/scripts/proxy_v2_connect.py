#!/usr/bin/env python3
"""An OpenSSH ProxyCommand that stands for a load balancer: connects to HOST:PORT from
127.0.0.2 (the address the nodes trust for PROXY headers in tests), sends a PROXY v2 header
naming SOURCE as the client, then relays stdin/stdout.

Usage: proxy_v2_connect.py SOURCE HOST PORT
"""
import ipaddress
import os
import socket
import struct
import sys
import threading

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def header(source, host, port):
    src = ipaddress.ip_address(source)
    dst = ipaddress.ip_address(host)
    if src.version == 4:
        family, dst_bytes = 0x11, dst.packed
    else:
        family = 0x21
        dst_bytes = (ipaddress.IPv6Address(f"::ffff:{dst}") if dst.version == 4 else dst).packed
    body = src.packed + dst_bytes + struct.pack("!HH", 40000, port)
    return SIGNATURE + bytes([0x21, family]) + struct.pack("!H", len(body)) + body


def main():
    source, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.2", 0))
    s.connect((host, port))
    s.sendall(header(source, host, port))

    def up():
        while True:
            data = os.read(0, 65536)
            if not data:
                s.shutdown(socket.SHUT_WR)
                return
            s.sendall(data)

    threading.Thread(target=up, daemon=True).start()
    while True:
        data = s.recv(65536)
        if not data:
            return
        os.write(1, data)


if __name__ == "__main__":
    main()
