"""Shared by the serve benchmarks: start `llava serve` on a free port, and stream one chat completion."""
import json, os, subprocess, sys, time, urllib.request

def start_server(model, extra=()):
    """Starts the release build's `llava serve --port 0`; returns the process and its base URL."""
    binary = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "release", "llava")
    proc = subprocess.Popen([binary, "serve", "--model", os.path.expanduser(model), "--port", "0", *extra],
                            stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    if "http://" not in line:
        sys.exit("llava serve did not start: " + line)
    return proc, line.split("on ", 1)[1].split(" ")[0]

def stream_chat(url, body):
    """POSTs a streamed chat completion; returns (seconds to first token, total seconds, text, usage)."""
    body = dict(body, stream=True, stream_options={"include_usage": True})
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    first, text, usage = None, "", {}
    with urllib.request.urlopen(req, timeout=3600) as resp:
        buffer = b""
        for chunk in iter(lambda: resp.read1(65536), b""):
            buffer += chunk
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                if not event.startswith(b"data: ") or event == b"data: [DONE]":
                    continue
                data = json.loads(event[6:])
                usage = data.get("usage") or usage
                for choice in data.get("choices", []):
                    piece = choice.get("delta", {}).get("content")
                    if piece:
                        first = first if first is not None else time.perf_counter() - t0
                        text += piece
    total = time.perf_counter() - t0
    return (first if first is not None else total), total, text, usage
