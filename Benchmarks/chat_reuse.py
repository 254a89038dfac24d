#!/usr/bin/env python3
"""What KV-cache and image-feature reuse saves in `llava serve`: a chat resends its whole history (with its image)
every turn, as OpenAI clients do. For each turn we time the answer's first token with the history reused, then the
same history sent so that nothing can be reused — its system line starts differently and its image bytes differ
(a byte after the JPEG's end, which decoders ignore) — on the same server.

    python3 Benchmarks/chat_reuse.py --model MODEL.gguf --mmproj MMPROJ.gguf --image photo.jpg --turns 3
"""
import argparse, base64, json, os, subprocess, sys, time, urllib.request

def ask(url, messages, max_tokens):
    body = json.dumps({"messages": messages, "max_tokens": max_tokens, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    req = urllib.request.Request(url + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"})
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
                        first = first or time.perf_counter() - t0
                        text += piece
    return first or time.perf_counter() - t0, text, usage

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--mmproj")
    ap.add_argument("--image")
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=16)
    args = ap.parse_args()
    binary = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "release", "llava")
    cmd = [binary, "serve", "--model", os.path.expanduser(args.model), "--port", "0", "--parallel", "1"]
    if args.mmproj:
        cmd += ["--mmproj", os.path.expanduser(args.mmproj)]
    server = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    line = server.stderr.readline()
    if "http://" not in line:
        sys.exit("llava serve did not start: " + line)
    url = line.split("on ", 1)[1].split(" ")[0]
    questions = ["Describe this picture.", "What colours stand out?", "What might happen next?", "Summarise in one line.",
                 "Anything unusual?"]
    try:
        def opening(system, tail):
            content = [{"type": "text", "text": questions[0]}]
            if args.image:
                data = base64.b64encode(open(args.image, "rb").read() + tail).decode()
                content.insert(0, {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}})
            return [{"role": "system", "content": system}, {"role": "user", "content": content}]
        history = opening("You answer questions about pictures.", b"")
        print("| turn | prompt tokens | reused | first token, reused | first token, nothing reused | speed-up |")
        print("|---:|---:|---:|---:|---:|---:|")
        for turn in range(args.turns):
            t_reuse, text, usage = ask(url, history, args.max_tokens)
            cached = usage.get("prompt_tokens_details", {}).get("cached_tokens", 0)
            # The same conversation, made unreusable: another system line's start, other image bytes (same pixels).
            fresh = opening("We answer questions about pictures.", bytes([turn + 1])) + history[2:]
            t_fresh, _, usage_fresh = ask(url, fresh, args.max_tokens)
            print(f"| {turn + 1} | {usage.get('prompt_tokens')} | {cached} | {t_reuse:.2f} s | {t_fresh:.2f} s | {t_fresh / t_reuse:.1f}× |",
                  flush=True)
            # The reused slot now holds the unreusable variant; put the real history back before the next turn.
            ask(url, history, 1)
            history += [{"role": "assistant", "content": text}, {"role": "user", "content": questions[(turn + 1) % len(questions)]}]
    finally:
        server.terminate()
        server.wait()

if __name__ == "__main__":
    main()
