#!/usr/bin/env python3
"""Soak test for `llava serve`, loopback only and bounded in time. N concurrent clients mix plain, streamed and image
chat requests with hostile ones: clients that trickle their bytes, oversized headers and bodies, malformed JSON, broken
images, an unknown model, a wrong API key, clients that vanish before the first token or mid-stream. It checks that
every request is answered or refused with the right status, that the server does not crash, that its RSS grows < 5 %
after warm-up (the first 10 % of the run, at least 30 s), and at the end, with the soak traffic stopped, that a client
gone before its first token frees its slot within one token. Standard library only.

    python3 Benchmarks/soak_serve.py --model ~/.cache/swift-llava/smol-llava --clients 64 --minutes 10

starts `llava serve --port 0 --parallel 2 --queue 16 --max-body-mb 1 --api-key soak-key` (release build) and stops
it at the end; --url measures a server already running on this machine instead (--pid to sample its RSS, --api-key
for its key, --max-body-mb for its body limit). Prints a markdown table per kind of request, the RSS and the slot
figures (--json: one JSON object); exits 1 on any failure, with examples.

Expected answers, from Sources/LlavaServer and Hummingbird/NIO: 200 for the generating kinds (503 `overloaded` with
Retry-After is an accepted refusal when the queue is full); 400 for malformed JSON and broken images; 413
`request_too_large` for a body over --max-body-mb; 404 `model_not_found`; 401 `invalid_api_key`; for a header block
over NIO's 80 KB limit (or over Hummingbird's 1000 fields) Hummingbird answers the parse error with 400 and
`Connection: close`, so 400 (or 431), or the connection closed before a status line, is accepted.
"""
import argparse, base64, collections, ipaddress, json, os, random, select, socket, struct, sys, threading, time
import urllib.parse, urllib.request, zlib

from load_serve import percentile
from serve_client import start_server

PROMPTS = ["Tell me one fact about the number {n}.", "Name a colour and a fruit ({n}).",
           "Say hello in one short sentence, request {n}.", "What is {n} plus one?",
           "Give a one-line tip for writing clear code (#{n})."]
SLOT_PROMPT = "Count from 1 to 1000, one number per line, and nothing else."
REFUSABLE = {"plain", "stream", "image", "trickle", "vanish_stream"}   # kinds that take a slot: 503 is a refusal
SLOT_SLACK_S = 0.15   # allowed on top of prefill + one token: the /health poll, the HTTP round trips

Result = collections.namedtuple("Result", "kind outcome status seconds ttft detail")

class BadResponse(Exception):
    pass

class Ctx:
    """What every client shares: where the server is, its key and limits, and the prebuilt payloads."""
    def __init__(self, host, port, key, model, max_tokens, timeout, body_limit, pause, seed):
        self.host, self.port, self.key, self.model = host, port, key, model
        self.max_tokens, self.timeout, self.pause = max_tokens, timeout, pause
        rng = random.Random(seed)
        self.pngs = ["data:image/png;base64," + base64.b64encode(png(s, s, rng)).decode() for s in (24, 48, 96, 160)]
        filler = "x" * (body_limit + (256 << 10))
        self.big_body = json.dumps({"messages": [{"role": "user", "content": filler}], "max_tokens": 1}).encode()
        self.bad_images = [
            "data:image/png;base64," + base64.b64encode(bytes(rng.randrange(256) for _ in range(2048))).decode(),
            "data:image/png;base64," + base64.b64encode(png(32, 32, rng)[:60]).decode(),      # header, no pixels
            "data:image/png;base64," + base64.b64encode(png_header(100000, 100000)).decode(),  # a pixel bomb
            "data:image/png,not-base64-at-all",
            "data:image/png;base64,@@@@",
        ]

def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

def png_header(width, height):
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))

def png(width, height, rng):
    """An RGB PNG of a random two-colour gradient with noise, in pure Python."""
    a, b = [rng.randrange(256) for _ in range(3)], [rng.randrange(256) for _ in range(3)]
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            t = (x + y) / (width + height)
            row += bytes(min(255, int(a[c] * (1 - t) + b[c] * t) + rng.randrange(16)) for c in range(3))
        rows.append(bytes(row))
    return png_header(width, height) + png_chunk(b"IDAT", zlib.compress(b"".join(rows))) + png_chunk(b"IEND", b"")

class Conn:
    """One HTTP/1.1 exchange over a raw socket, so a client can trickle its bytes, stop reading or vanish at will."""
    def __init__(self, ctx):
        self.sock = socket.create_connection((ctx.host, ctx.port), timeout=ctx.timeout)
        self.buf = b""

    def send(self, data, trickle=None):
        if trickle is None:
            self.sock.sendall(data)
            return
        pieces, at = [], 0
        while at < len(data):
            n = trickle.randint(1, 24)
            pieces.append(data[at:at + n])
            at += n
        pause = trickle.uniform(1, 3) / len(pieces)
        for piece in pieces:
            self.sock.sendall(piece)
            time.sleep(pause)

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise BadResponse("a header or chunk-size line over 64 KB")
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self._more()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def head(self):
        parts = self.line().split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise BadResponse(f"bad status line {b' '.join(parts)[:80]!r}")
        headers = {}
        while True:
            line = self.line()
            if not line:
                return int(parts[1]), headers
            name, sep, value = line.partition(b":")
            if not sep:
                raise BadResponse(f"bad header line {line[:80]!r}")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")

    def pieces(self, headers):
        """The body as it arrives: chunked, Content-Length or up to the close."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size_line = self.line().split(b";")[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError:
                    raise BadResponse(f"bad chunk size {size_line[:40]!r}") from None
                if size == 0:
                    while self.line():
                        pass
                    return
                yield self.exact(size)
                if self.exact(2) != b"\r\n":
                    raise BadResponse("a chunk not followed by CRLF")
        elif "content-length" in headers:
            yield self.exact(int(headers["content-length"]))
        else:
            while True:
                try:
                    self._more()
                except EOFError:
                    break
            data, self.buf = self.buf, b""
            yield data

    def body(self, headers):
        return b"".join(self.pieces(headers))

    def close(self, reset=False):
        if reset:   # SO_LINGER 0: the close sends RST instead of FIN
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

def request(ctx, body=b"", path="/v1/chat/completions", method="POST", key=None, extra=(), chunked=False):
    head = [f"{method} {path} HTTP/1.1", f"Host: {ctx.host}:{ctx.port}", "Connection: close"]
    if method == "POST":
        head.append("Content-Type: application/json")
        head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
    key = ctx.key if key is None else key
    if key:
        head.append(f"Authorization: Bearer {key}")
    head += extra
    if chunked:
        step = 64 << 10
        body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step])
                        for i in range(0, len(body), step)) + b"0\r\n\r\n"
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body

def chat(ctx, rng, stream=False, image=None, **override):
    text = rng.choice(PROMPTS).format(n=rng.randrange(1000))
    content = text if image is None else [{"type": "text", "text": text},
                                          {"type": "image_url", "image_url": {"url": image}}]
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": ctx.max_tokens,
            "temperature": round(rng.uniform(0, 1), 2), "seed": rng.randrange(1 << 31)}
    if rng.random() < 0.5:
        body["model"] = ctx.model
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    body.update(override)
    return json.dumps(body).encode()

def check_answer(status, headers, data, code=None):
    """None if the body fits the status (a chat.completion for 200, an OpenAI error object otherwise), else why not."""
    try:
        o = json.loads(data)
    except ValueError:
        return f"{status} with a body that is not JSON: {data[:80]!r}"
    if status == 200:
        choices = o.get("choices") if isinstance(o, dict) else None
        message = choices[0].get("message") if isinstance(choices, list) and choices else None
        if o.get("object") != "chat.completion" or not isinstance((message or {}).get("content"), str) \
                or "usage" not in o:
            return f"200 without a chat.completion: {data[:100]!r}"
        return None
    error = o.get("error") if isinstance(o, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return f"{status} without an error object: {data[:100]!r}"
    if status == 503:
        code = "overloaded"
        if "retry-after" not in headers:
            return "503 without Retry-After"
    if code and error.get("code") != code:
        return f"{status} with code {error.get('code')!r}, expected {code!r}"
    return None

def answer(conn, code=None):
    status, headers = conn.head()
    return status, check_answer(status, headers, conn.body(headers), code)

def read_stream(conn, headers, t0, stop_at_first=False):
    """Reads a streamed answer; returns (seconds to the first token or None, what is wrong or None, usage)."""
    if "text/event-stream" not in headers.get("content-type", ""):
        return None, f"200 stream with content type {headers.get('content-type')!r}", {}
    buf, done, first, usage = b"", False, None, {}
    for piece in conn.pieces(headers):
        buf += piece
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            if done:
                return first, f"an event after data: [DONE]: {event[:60]!r}", usage
            if event == b"data: [DONE]":
                done = True
                continue
            if not event.startswith(b"data: "):
                return first, f"not an SSE data event: {event[:60]!r}", usage
            try:
                o = json.loads(event[6:])
            except ValueError:
                return first, f"an SSE event that is not JSON: {event[:60]!r}", usage
            if "error" in o:
                return first, f"an error event: {event[:100]!r}", usage
            usage = o.get("usage") or usage
            for choice in o.get("choices", []):
                if (choice.get("delta") or {}).get("content"):
                    first = first if first is not None else time.perf_counter() - t0
                    if stop_at_first:
                        return first, None, usage
    if not done:
        return first, "the stream ended without data: [DONE]", usage
    if buf.strip():
        return first, f"bytes after the last event: {buf[:60]!r}", usage
    return first, None, usage

# Each kind: (weight, expected statuses, run(ctx, rng, t0) -> (status, seconds to first token or None, problem)).

def k_plain(ctx, rng, t0, image=None, trickle=False):
    conn = Conn(ctx)
    try:
        conn.send(request(ctx, chat(ctx, rng, image=image)), rng if trickle else None)
        status, problem = answer(conn)
        return status, None, problem
    finally:
        conn.close()

def k_stream(ctx, rng, t0, vanish=False):
    conn = Conn(ctx)
    reset = vanish and rng.random() < 0.5
    try:
        conn.send(request(ctx, chat(ctx, rng, stream=True)))
        status, headers = conn.head()
        if status != 200:
            return status, None, check_answer(status, headers, conn.body(headers))
        ttft, problem, _ = read_stream(conn, headers, t0, stop_at_first=vanish)
        return status, ttft, problem
    finally:
        conn.close(reset)

def k_bad_image(ctx, rng, t0):
    conn = Conn(ctx)
    try:
        conn.send(request(ctx, chat(ctx, rng, image=rng.choice(ctx.bad_images))))
        status, problem = answer(conn)
        return status, None, problem
    finally:
        conn.close()

def k_big_header(ctx, rng, t0):
    if rng.random() < 0.5:
        extra = ["X-Soak-Filler: " + "a" * (100 << 10)]                             # one 100 KB field
    else:
        extra = [f"X-Soak-{i}: " + "b" * 48 for i in range(1800)]                   # 1800 fields, ~100 KB
    conn = Conn(ctx)
    try:
        try:
            conn.sock.sendall(request(ctx, chat(ctx, rng), extra=extra))
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            status, headers = conn.head()
        except (EOFError, ConnectionResetError, BrokenPipeError):
            return "closed", None, None
        try:
            conn.body(headers)
        except (EOFError, OSError):
            pass
        return status, None, None
    finally:
        conn.close()

def k_big_body(ctx, rng, t0):
    data = request(ctx, ctx.big_body, chunked=rng.random() < 0.5)
    conn = Conn(ctx)
    try:
        sent = 0
        try:
            while sent < len(data):
                if select.select([conn.sock], [], [], 0)[0]:
                    break   # the server answered before the whole body: stop sending, as curl does
                sent += conn.sock.send(data[sent:sent + (64 << 10)])
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, problem = answer(conn, "request_too_large")
        return status, None, problem
    finally:
        conn.close()

BAD_JSON = [b'{"messages": [{"role": "user", "content": "hi"}', b"not json at all", b"", b"[1, 2, 3]",
            b'{"messages": "hi"}', b'{"messages": []}', b'\xff\xfe{"messages"}',
            b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": -3}',
            b'{"messages": [{"role": "robot", "content": "hi"}]}', b'{"messages": [{"role": "user", "content": 7}]}']

def one_refusal(ctx, body, code=None, key=None):
    """Send one request on its own connection; its status and what was wrong with the answer (None when right)."""
    conn = Conn(ctx)
    try:
        conn.send(request(ctx, body, key=key))
        status, problem = answer(conn, code)
        return status, None, problem
    finally:
        conn.close()

def k_bad_json(ctx, rng, t0):
    return one_refusal(ctx, rng.choice(BAD_JSON))

def k_unknown_model(ctx, rng, t0):
    return one_refusal(ctx, chat(ctx, rng, model=f"no-such-model-{rng.randrange(100)}"), "model_not_found")

def k_wrong_key(ctx, rng, t0):
    return one_refusal(ctx, chat(ctx, rng), "invalid_api_key", key=rng.choice(["wrong-key", " "]))

def k_vanish_early(ctx, rng, t0):
    conn = Conn(ctx)
    conn.send(request(ctx, chat(ctx, rng, stream=rng.random() < 0.5)))
    conn.close(reset=rng.random() < 0.5)
    return "gone", None, None

KINDS = {
    "plain": (3, {200}, k_plain),
    "stream": (3, {200}, k_stream),
    "image": (2, {200}, lambda ctx, rng, t0: k_plain(ctx, rng, t0, image=rng.choice(ctx.pngs))),
    "trickle": (1, {200}, lambda ctx, rng, t0: k_plain(ctx, rng, t0, trickle=True)),
    "bad_image": (1, {400}, k_bad_image),
    "big_header": (1, {400, 431, "closed"}, k_big_header),
    "big_body": (1, {413}, k_big_body),
    "bad_json": (1, {400}, k_bad_json),
    "unknown_model": (1, {404}, k_unknown_model),
    "wrong_key": (1, {401}, k_wrong_key),
    "vanish_early": (1, {"gone"}, k_vanish_early),
    "vanish_stream": (1, {200}, lambda ctx, rng, t0: k_stream(ctx, rng, t0, vanish=True)),
}

def run_one(ctx, kind, rng):
    _, expected, run = KINDS[kind]
    t0 = time.perf_counter()
    try:
        status, ttft, problem = run(ctx, rng, t0)
    except TimeoutError:
        return Result(kind, "fail", None, time.perf_counter() - t0, None, f"no answer within {ctx.timeout:g} s")
    except (OSError, EOFError, BadResponse, ValueError) as error:
        return Result(kind, "fail", None, time.perf_counter() - t0, None, f"{type(error).__name__}: {error}")
    seconds = time.perf_counter() - t0
    if problem is None and status == 503 and kind in REFUSABLE:
        return Result(kind, "refused", status, seconds, None, None)
    if problem is None and status in expected:
        return Result(kind, "ok", status, seconds, ttft, None)
    expected_text = "/".join(str(s) for s in sorted(expected, key=str))
    return Result(kind, "fail", status, seconds, None, problem or f"status {status}, expected {expected_text}")

def client(ctx, index, seed, deadline, stop, results, lock):
    rng = random.Random(seed * 1000 + index)
    names = [k for k in KINDS if k != "wrong_key" or ctx.key]
    weights = [KINDS[k][0] for k in names]
    while time.monotonic() < deadline and not stop.is_set():
        r = run_one(ctx, rng.choices(names, weights)[0], rng)
        with lock:
            results.append(r)
        # a 503 says Retry-After: 1
        time.sleep(rng.uniform(0.5, 1.5) if r.outcome == "refused" else rng.uniform(0, ctx.pause))

def health(ctx, timeout=10):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # loopback: never through a proxy
    with opener.open(f"http://{ctx.host}:{ctx.port}/health", timeout=timeout) as resp:
        return json.loads(resp.read())

def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None

def wait_idle(ctx, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            h = health(ctx)
            if h.get("slots_busy") == 0 and h.get("queued") == 0:
                return h
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    return None

def slot_check(ctx, tokens):
    """With no other traffic: one token's time from a streamed reference, then clients that send a request with a
    large max_tokens and close at once (FIN, or RST with SO_LINGER 0), plain and streamed; how long until /health
    shows the slot idle again and the request counted as served."""
    if wait_idle(ctx, 300) is None:
        return {"error": "the slots did not go idle within 300 s of the soak traffic stopping"}
    messages = [{"role": "user", "content": SLOT_PROMPT}]
    body = json.dumps({"messages": messages, "max_tokens": 32, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    t0 = time.perf_counter()
    conn = Conn(ctx)
    try:
        conn.send(request(ctx, body))
        status, headers = conn.head()
        if status != 200:
            return {"error": f"the reference request got {status}"}
        ttft, problem, usage = read_stream(conn, headers, t0)
    finally:
        conn.close()
    total = time.perf_counter() - t0
    n = usage.get("completion_tokens", 0)
    if problem or ttft is None or n < 2:
        return {"error": f"the reference request failed: {problem or 'fewer than 2 tokens'}"}
    per_token = (total - ttft) / (n - 1)
    limit = ttft + per_token + SLOT_SLACK_S
    out = {"reference_tokens": n, "prefill_s": round(ttft, 4), "per_token_s": round(per_token, 4),
           "limit_s": round(limit, 4), "max_tokens": tokens, "cases": []}
    for stream in (False, True):
        for reset in (False, True):
            h0 = wait_idle(ctx, 300)
            if h0 is None:
                out["cases"].append({"stream": stream, "close": "RST" if reset else "FIN", "freed_s": None,
                                     "ok": False, "note": "slots busy before the case"})
                continue
            body = {"messages": messages, "max_tokens": tokens, "temperature": 0}
            if stream:
                body.update(stream=True)
            conn = Conn(ctx)
            conn.send(request(ctx, json.dumps(body).encode()))
            gone = time.perf_counter()
            conn.close(reset)
            give_up, freed, h = gone + tokens * per_token * 2 + 60, None, h0
            while time.perf_counter() < give_up:
                try:
                    h = health(ctx)
                except (OSError, ValueError):
                    time.sleep(0.01)
                    continue
                if h["served"] > h0["served"] and h["slots_busy"] == 0:
                    freed = time.perf_counter() - gone
                    break
                time.sleep(0.01)
            cancelled = h.get("cancelled", 0) - h0.get("cancelled", 0)
            case = {"stream": stream, "close": "RST" if reset else "FIN",
                    "freed_s": None if freed is None else round(freed, 4), "cancelled": cancelled,
                    "tokens_after_prefill": None if freed is None else round(max(0, freed - ttft) / per_token, 1),
                    "ok": freed is not None and freed <= limit}
            case["note"] = ("never freed" if freed is None else "stopped (cancelled)" if cancelled
                            else "freed in time without a cancellation" if case["ok"]
                            else "ran to its end: the server did not notice the client leave")
            out["cases"].append(case)
    return out

def fmt(x, digits=3):
    return "–" if x is None or x != x else f"{x:.{digits}f}"

def summarize(results, names):
    rows = {}
    for kind in names:
        rs = [r for r in results if r.kind == kind]
        ok = [r for r in rs if r.outcome == "ok"]
        latency = [r.seconds for r in ok]
        ttft = [r.ttft for r in ok if r.ttft is not None]
        statuses = collections.Counter("error" if r.status is None else str(r.status) for r in rs)
        row = {"count": len(rs), "ok": len(ok), "refused": sum(r.outcome == "refused" for r in rs),
               "failures": sum(r.outcome == "fail" for r in rs),
               "statuses": dict(sorted(statuses.items()))}
        for q in (50, 95, 99):
            row[f"p{q}_s"] = round(percentile(latency, q / 100), 4) if latency else None
            row[f"ttft_p{q}_s"] = round(percentile(ttft, q / 100), 4) if ttft else None
        rows[kind] = row
    return rows

def rss_summary(samples, warm_s, end_kb):
    after = [(t, kb) for t, kb in samples if t >= warm_s]
    if not after or end_kb is None:
        return None
    warm_t, warm_kb = after[0]
    growth = (end_kb - warm_kb) / warm_kb * 100
    return {"warmup_s": round(warm_s, 1), "at_warmup_mb": round(warm_kb / 1024, 1), "at_warmup_t_s": round(warm_t, 1),
            "end_mb": round(end_kb / 1024, 1), "max_mb": round(max(kb for _, kb in after + [(0, end_kb)]) / 1024, 1),
            "growth_pct": round(growth, 2), "samples": len(samples), "ok": growth < 5}

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="~/.cache/swift-llava/smol-llava",
                    help="model for the llava serve this script starts (an image-capable one)")
    ap.add_argument("--url", help="a server already running on this machine, e.g. http://127.0.0.1:8080")
    ap.add_argument("--pid", type=int, help="with --url: the server's process id, to sample its RSS")
    ap.add_argument("--api-key", help="the server's key (default: soak-key for a started server)")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-tokens", type=int, default=12, help="max_tokens of the soak's generating requests")
    ap.add_argument("--parallel", type=int, default=2, help="--parallel for the server this script starts")
    ap.add_argument("--queue", type=int, default=16, help="--queue for the server this script starts")
    ap.add_argument("--max-body-mb", type=int, default=1, help="the server's --max-body-mb")
    ap.add_argument("--timeout", type=float, default=300, help="seconds a client waits for any byte of an answer")
    ap.add_argument("--pause", type=float, default=0.5, help="most seconds a client waits between requests")
    ap.add_argument("--slot-tokens", type=int, default=2000, help="max_tokens of the slot check's vanishing requests")
    ap.add_argument("--rss-every", type=float, default=3, help="seconds between RSS samples")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    server, pid, stderr_tail = None, args.pid, collections.deque(maxlen=40)
    if args.url:
        parts = urllib.parse.urlsplit(args.url)
        host, port, key = parts.hostname or "", parts.port or 80, args.api_key
    else:
        key = "soak-key" if args.api_key is None else args.api_key
        extra = ["--parallel", str(args.parallel), "--queue", str(args.queue), "--max-body-mb", str(args.max_body_mb)]
        server, url = start_server(args.model, extra + (["--api-key", key] if key else []))
        threading.Thread(target=lambda: stderr_tail.extend(server.stderr), daemon=True).start()
        parts = urllib.parse.urlsplit(url)
        host, port, pid = parts.hostname, parts.port, server.pid
    try:
        if not all(ipaddress.ip_address(a[4][0]).is_loopback for a in socket.getaddrinfo(host, port)):
            sys.exit(f"{host} is not a loopback address: this soak test only runs against this machine")
    except (OSError, ValueError):
        sys.exit(f"cannot resolve {host!r}")

    def alive():
        if server is not None:
            return server.poll() is None
        return pid is None or os.path.exists(f"/proc/{pid}")

    failures, report = [], {}
    try:
        ctx = Ctx(host, port, key or None, "", args.max_tokens, args.timeout, args.max_body_mb << 20, args.pause,
                  args.seed)
        ctx.model = health(ctx).get("model", "")
        names = [k for k in KINDS if k != "wrong_key" or ctx.key]
        results, lock, stop = [], threading.Lock(), threading.Event()
        duration = args.minutes * 60
        warm_s = max(30.0, duration / 10)
        start = time.monotonic()
        deadline = start + duration
        threads = [threading.Thread(target=client, args=(ctx, i, args.seed, deadline, stop, results, lock), daemon=True)
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        samples, next_sample, crashed_at = [], start, None
        while any(t.is_alive() for t in threads):
            now = time.monotonic()
            if pid is not None and now >= next_sample:
                kb = rss_kb(pid)
                if kb is not None:
                    samples.append((now - start, kb))
                next_sample = now + args.rss_every
            if crashed_at is None and not alive():
                crashed_at = now - start
                stop.set()
            time.sleep(0.2)
        wall = time.monotonic() - start
        end_kb = rss_kb(pid) if pid is not None else None
        rows = summarize(results, names)
        rss = rss_summary(samples, warm_s, end_kb) if pid is not None else None
        idle = wait_idle(ctx, 120) if alive() else None
        slots = slot_check(ctx, args.slot_tokens) if alive() and idle is not None else None
        final = None
        try:
            final = health(ctx) if alive() else None
        except (OSError, ValueError):
            pass

        if crashed_at is not None or not alive():
            code = server.poll() if server is not None else None
            failures.append(f"the server died {fmt(crashed_at, 1)} s into the soak (exit status {code}); stderr tail: "
                            + " | ".join(line.strip() for line in list(stderr_tail)[-8:]))
        elif final is None or final.get("status") != "ok":
            failures.append(f"/health does not answer ok at the end: {final}")
        if idle is None and alive():
            failures.append("the slots did not go idle within 120 s of the soak traffic stopping")
        if rss is not None and not rss["ok"]:
            failures.append(f"RSS grew {rss['growth_pct']} % after warm-up (limit 5 %)")
        if slots is not None:
            if "error" in slots:
                failures.append("slot check: " + slots["error"])
            for c in slots.get("cases", []):
                if not c["ok"]:
                    failures.append(f"slot check, {'streamed' if c['stream'] else 'plain'} request closed with "
                                    f"{c['close']}: freed after {c['freed_s']} s, limit {slots['limit_s']} s "
                                    f"({c['note']})")
        shown = collections.Counter()
        for r in results:   # every failed request counts; up to 5 examples of each kind are listed
            if r.outcome == "fail":
                failures.append(f"{r.kind}: {r.detail} (after {r.seconds:.2f} s)")
                shown[r.kind] += 1
        failed_requests = sum(shown.values())
        examples = failures[:len(failures) - failed_requests]
        seen = collections.Counter()
        for line in failures[len(examples):]:
            kind = line.split(":", 1)[0]
            seen[kind] += 1
            if seen[kind] <= 5:
                examples.append(line)
        report = {"clients": args.clients, "minutes": args.minutes, "seconds": round(wall, 1), "seed": args.seed,
                  "max_tokens": args.max_tokens, "parallel": args.parallel if server else None,
                  "queue": args.queue if server else None, "requests": len(results), "kinds": rows, "rss": rss,
                  "slots": slots, "server_alive": alive(), "health_at_end": final,
                  "failures": len(failures), "failure_examples": examples}
    finally:
        if server:
            server.terminate()
            try:
                server.wait(timeout=30)
            except Exception:
                server.kill()
                server.wait()

    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['requests']} requests from {args.clients} clients in {report['seconds']} s "
              f"(max_tokens {args.max_tokens}, parallel {report['parallel']}, queue {report['queue']})\n")
        print("| kind | count | ok | refused (503) | failures | p50 s | p95 s | p99 s | TTFT p50 | p95 | p99 "
              "| statuses |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for kind, r in report["kinds"].items():
            statuses = ", ".join(f"{s}×{n}" for s, n in r["statuses"].items())
            print(f"| {kind} | {r['count']} | {r['ok']} | {r['refused']} | {r['failures']} | {fmt(r['p50_s'])} | "
                  f"{fmt(r['p95_s'])} | {fmt(r['p99_s'])} | {fmt(r['ttft_p50_s'])} | {fmt(r['ttft_p95_s'])} | "
                  f"{fmt(r['ttft_p99_s'])} | {statuses} |")
        rss = report["rss"]
        if rss:
            print(f"\nRSS: {rss['at_warmup_mb']} MB at the end of warm-up ({rss['at_warmup_t_s']} s), "
                  f"{rss['end_mb']} MB at the end, max {rss['max_mb']} MB after warm-up: growth "
                  f"{rss['growth_pct']:+.2f} % (limit 5 %, {rss['samples']} samples)")
        else:
            print("\nRSS: " + ("not sampled (give --pid with --url)" if pid is None else "no sample after warm-up"))
        slots = report["slots"]
        if slots and "error" not in slots:
            print(f"Slot check: prefill {slots['prefill_s']} s, one token {slots['per_token_s']} s "
                  f"(reference: {slots['reference_tokens']} tokens); limit prefill + one token + {SLOT_SLACK_S} s "
                  f"= {slots['limit_s']} s; vanishing requests with max_tokens {slots['max_tokens']}:")
            for c in slots["cases"]:
                print(f"- {'streamed' if c['stream'] else 'plain'}, closed with {c['close']}: slot free after "
                      f"{fmt(c['freed_s'])} s (~{c.get('tokens_after_prefill')} tokens after prefill), cancelled "
                      f"+{c.get('cancelled')}: {c['note']} — {'ok' if c['ok'] else 'FAIL'}")
        elif slots:
            print("Slot check: " + slots["error"])
        end = report["health_at_end"] or {}
        print(f"Server alive at the end: {report['server_alive']}; /health: {end.get('status')} "
              f"(served {end.get('served')}, cancelled {end.get('cancelled')}, rejected {end.get('rejected')})")
        print(f"\n{report['failures']} failures" + (":" if failures else "."))
        for line in report["failure_examples"]:
            print("- " + line)
    sys.exit(1 if failures else 0)

if __name__ == "__main__":
    main()
