#!/usr/bin/env python3
"""Load test for `llava serve`: N concurrent clients send a fixed number of streamed chat requests and we report
requests/s, latency (p50/p95), time to first token (p50/p95) and generated tokens/s. Standard library only.

    python3 Benchmarks/load_serve.py --model ~/.cache/swift-llava/SmolLM2-135M-Instruct.Q4_1.gguf \
        --clients 8 --requests 64 --parallel 2 --max-tokens 32

starts `llava serve` (release build) on a free port, or measures a running server with --url.
"""
import argparse, json, sys, threading, time

from serve_client import start_server, stream_chat

def percentile(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)

def one_request(url, i, max_tokens):
    first, total, _, usage = stream_chat(url, {"messages": [{"role": "user", "content": f"Tell me one fact about the number {i}."}],
                                               "max_tokens": max_tokens, "temperature": 0})
    return total, first, usage.get("completion_tokens", 0)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model for a llava serve this script starts")
    ap.add_argument("--url", help="an already running server, e.g. http://127.0.0.1:8080")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--parallel", type=int, default=2, help="--parallel for the server this script starts")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    server = None
    url = args.url
    if not url:
        if not args.model:
            sys.exit("give --model (to start llava serve) or --url")
        server, url = start_server(args.model, ["--parallel", str(args.parallel), "--queue", str(args.requests)])
    try:
        results, lock, counter = [], threading.Lock(), [0]
        def client():
            while True:
                with lock:
                    if counter[0] >= args.requests:
                        return
                    i = counter[0]
                    counter[0] += 1
                r = one_request(url, i, args.max_tokens)
                with lock:
                    results.append(r)
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads: t.start()
        for t in threads: t.join()
        wall = time.perf_counter() - t0
    finally:
        if server:
            server.terminate()
            server.wait()
    latency = [r[0] for r in results]
    ttft = [r[1] for r in results]
    tokens = sum(r[2] for r in results)
    report = {"clients": args.clients, "requests": len(results), "parallel": args.parallel if server else None,
              "max_tokens": args.max_tokens, "seconds": round(wall, 3),
              "requests_per_s": round(len(results) / wall, 3), "tokens_per_s": round(tokens / wall, 1),
              "latency_p50_s": round(percentile(latency, 0.5), 3), "latency_p95_s": round(percentile(latency, 0.95), 3),
              "ttft_p50_s": round(percentile(ttft, 0.5), 3), "ttft_p95_s": round(percentile(ttft, 0.95), 3)}
    if args.json:
        print(json.dumps(report))
    else:
        print("| clients | requests | parallel | req/s | tokens/s | latency p50 | p95 | TTFT p50 | p95 |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| {report['clients']} | {report['requests']} | {report['parallel']} | {report['requests_per_s']} | "
              f"{report['tokens_per_s']} | {report['latency_p50_s']} s | {report['latency_p95_s']} s | "
              f"{report['ttft_p50_s']} s | {report['ttft_p95_s']} s |")

if __name__ == "__main__":
    main()
