#!/usr/bin/env python3
"""Unpacks a Debian package's files (data.tar.*) into a directory, like
`dpkg -x DEB DIR`, for machines without dpkg (scripts/gpu-check.sh)."""
import io
import sys
import tarfile


def data_member(deb_bytes, path):
    if not deb_bytes.startswith(b"!<arch>\n"):
        raise SystemExit(f"unpack_deb: {path}: not an ar archive")
    offset = 8
    while offset + 60 <= len(deb_bytes):
        header = deb_bytes[offset:offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = deb_bytes[offset + 60:offset + 60 + size]
        if name.startswith("data.tar"):
            return body
        offset += 60 + size + (size % 2)  # members are 2-byte aligned
    raise SystemExit(f"unpack_deb: {path}: no data.tar member")


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: unpack_deb.py PACKAGE.deb DIR")
    path, target = sys.argv[1], sys.argv[2]
    with open(path, "rb") as f:
        body = data_member(f.read(), path)
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
        tar.extractall(target)


if __name__ == "__main__":
    main()
