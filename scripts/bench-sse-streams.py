#!/usr/bin/env python3
"""Holds N streamed /v1/completions at once against headroom-server's
OpenAI-compatible API and reports how many streams were open together, how
many ended with [DONE], and the server's RSS and thread count at the peak.

  scripts/bench-sse-streams.py --addr 127.0.0.1:8000 --pid PID --streams 1000

Each stream is its own connection (HTTP/1.1, chunked SSE), read without
blocking by one selector loop, so the client is one thread for any N.
"""
import argparse
import json
import selectors
import socket
import time


def proc_status(pid):
    rss_kb, threads = 0, 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss_kb / 1024.0, threads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--model", default="headroom-tiny")
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    host, port = a.addr.rsplit(":", 1)
    body = json.dumps({"model": a.model, "prompt": "Once upon a time",
                       "max_tokens": a.max_tokens, "ignore_eos": True,
                       "stream": True}).encode()
    req = (f"POST /v1/completions HTTP/1.1\r\nHost: {a.addr}\r\n"
           f"Content-Type: application/json\r\nConnection: close\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    rss0, threads0 = proc_status(a.pid)
    sel = selectors.DefaultSelector()
    state = {}
    t0 = time.time()
    for _ in range(a.streams):
        s = socket.create_connection((host, int(port)))
        s.sendall(req)
        s.setblocking(False)
        state[s] = {"buf": b"", "first": None}
        sel.register(s, selectors.EVENT_READ)
    peak_conns = len(state)  # every stream was open once all were sent
    open_streams = peak_open = done = first_events = 0
    peak_rss, peak_threads = rss0, threads0
    last_sample = 0
    while state and time.time() - t0 < a.timeout:
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            st = state[s]
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            if data:
                st["buf"] += data
                if st["first"] is None and b"data: {" in st["buf"]:
                    st["first"] = time.time() - t0
                    first_events += 1
                    open_streams += 1
                    peak_open = max(peak_open, open_streams)
                continue
            if b"data: [DONE]" in st["buf"]:
                done += 1
            if st["first"] is not None:
                open_streams -= 1
            sel.unregister(s)
            s.close()
            del state[s]
        now = time.time()
        if now - last_sample > 0.1:
            last_sample = now
            rss, threads = proc_status(a.pid)
            peak_rss, peak_threads = max(peak_rss, rss), max(peak_threads, threads)
    print(json.dumps({
        "streams": a.streams, "max_tokens": a.max_tokens,
        "streams_with_events": first_events, "streams_done": done,
        "streams_open_at_once": peak_conns,
        "peak_streams_receiving": peak_open, "seconds": round(time.time() - t0, 2),
        "rss_mib_before": round(rss0, 1), "rss_mib_peak": round(peak_rss, 1),
        "threads_before": threads0, "threads_peak": peak_threads}))


if __name__ == "__main__":
    main()
