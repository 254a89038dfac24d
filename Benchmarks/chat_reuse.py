#!/usr/bin/env python3
"""What KV-cache and image-feature reuse saves in `llava serve`: a chat resends its whole history (with its image)
every turn, as OpenAI clients do. For each turn we time the answer's first token with the history reused, then the
same history sent so that nothing can be reused — its system line starts differently and its image bytes differ
(a byte after the JPEG's end, which decoders ignore) — on the same server.

    python3 Benchmarks/chat_reuse.py --model MODEL.gguf --mmproj MMPROJ.gguf --image photo.jpg --turns 3
"""
import argparse, base64

from serve_client import start_server, stream_chat

def ask(url, messages, max_tokens):
    first, _, text, usage = stream_chat(url, {"messages": messages, "max_tokens": max_tokens, "temperature": 0})
    return first, text, usage

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--mmproj")
    ap.add_argument("--image")
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=16)
    args = ap.parse_args()
    server, url = start_server(args.model, ["--parallel", "1"] + (["--mmproj", args.mmproj] if args.mmproj else []))
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
