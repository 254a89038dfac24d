#!/usr/bin/env python3
"""Kill -9 at random, rerun, and check: byte-identical outputs, no finished request asked for again.

For each job — `llava curate`, `llava eval judge`, `llava train --resume --checkpoint-every N` — the script:

1. runs the job once, uninterrupted, into a reference folder (its wall time is the "reference seconds");
2. in a fresh folder, --kills times: starts the same command and sends it SIGKILL at a random moment, then starts
   it again (a rerun); at the end it lets a last rerun finish;
3. compares every file of the two folders byte for byte. A few files are meant to differ between runs and are
   compared after a stated normalisation instead (see NORMALISED below); everything else must be identical.

Curate and judge talk to a scripted OpenAI-compatible endpoint that this script serves on 127.0.0.1 (a
ThreadingHTTPServer on port 0). Its reply is derived from a hash of the request alone, so a rerun gets the same
reply for the same request, and it waits 0.05-0.2 s (also from the hash) before replying, so kills land mid-run.
It records every request: its work item (image x kind for curate, question for judge), its run, and whether the
response was fully written while the client was alive. Each request that asks for a work item already asked for
before is a repeat, and is counted as:

* finished: the item was already in the job's journal (curate's journal.jsonl, judge's reviews file) when the
  previous run ended, or was fully answered earlier in the same run. Must be 0.
* in flight: every earlier request for the item was still unanswered when its run was killed. Allowed.
* answered, unjournaled: the earlier response was fully written, but the kill came before llava appended it to
  its journal (a window of milliseconds that no client can close). Allowed; counted on its own.

Kill moments come from random.Random(--seed). With --window spread (the default) each kill is uniform between
--min-delay and --min-delay + 2 x (reference seconds) x (fraction of the work still to do) / (kills left), so the
kills spread over the whole job instead of the first few reruns finishing it; --window reference draws uniform
between --min-delay and the reference seconds, as is (most later kills then come after the rerun has finished,
and are reported as missed). The train job trains LoRA (stage 2) on the tiny fixture model
Tests/Fixtures/llava-hf/tiny-gqa-crop with the fixture data Tests/Fixtures/training/instruct.json, as the train
tests do; curate and judge inputs are written to a temporary folder.

Run, after `swift build -c release`, from the repository root:

    python3 Benchmarks/kill9_resume.py                      # all three jobs, 20 kills each
    python3 Benchmarks/kill9_resume.py --jobs train --kills 5 --seed 7 --json

Prints a markdown table (or JSON with --json) and exits 1 on any output mismatch, finished request asked for
again, or run that failed by itself. Python 3 standard library only.
"""
import argparse
import hashlib
import http.server
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")
TINY_MODEL = os.path.join(FIXTURES, "llava-hf", "tiny-gqa-crop")
FIXTURE_IMAGES = os.path.join(FIXTURES, "llava-hf", "images")
TRAIN_DATA = os.path.join(FIXTURES, "training", "instruct.json")


# --------------------------------------------------------------------------------------------------------------
# The scripted teacher / judge


def digest_of(request):
    """A stable hash of what the request asks: model, messages and sampling settings."""
    keyed = {k: request.get(k) for k in ("model", "messages", "temperature", "max_tokens")}
    return hashlib.sha256(json.dumps(keyed, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def system_and_user(request):
    messages = request.get("messages") or []
    system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
    user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    return system, user


def curate_kind(system):
    """The curation kind a system message asks for (the built-in prompts' wording)."""
    if "Write a conversation" in system:
        return "conversation"
    if "Describe the photo in detail" in system or "describe the scene in a detailed manner" in system:
        return "detail"
    return "complex"


def curate_item(request):
    system, user = system_and_user(request)
    m = re.search(r"\bItem (\d+)\b", user)
    return "%s/%s" % (curate_kind(system), m.group(1) if m else "?")


def curate_reply(request, digest):
    """LLaVA's reply forms, as scriptedTeacherReply in Tests/LlavaTestSupport gives them: prose for a
    description, Question/===/Answer blocks otherwise."""
    system, user = system_and_user(request)
    first = user.split("\n")[0]
    tag = digest[:10]
    if curate_kind(system) == "detail":
        return "The photo shows this: %s (%s)" % (first, tag)
    return ("Question:\nWhat does the photo show?\n===\nAnswer:\n%s\n===\nQuestion:\nIs it clear?\n===\n"
            "Answer:\nYes, reply %s." % (first, tag))


def judge_item(request):
    _, user = system_and_user(request)
    m = re.search(r"\[Question\]\nQ(\d+):", user)
    return m.group(1) if m else "?"


def judge_reply(request, digest):
    """Two scores alone on the first line, as the judge prompt asks (ScoreParser reads them)."""
    a, b = 5 + int(digest[0:2], 16) % 6, 2 + int(digest[2:4], 16) % 9
    return "%d %d\nAssistant 1 is sound; Assistant 2 less so (%s)." % (a, b, digest[:10])


class Teacher:
    """State shared by the handler threads: the reply rule and every request's record."""

    def __init__(self, item_of, reply_of):
        self.item_of, self.reply_of = item_of, reply_of
        self.lock = threading.Lock()
        self.records = []
        self.phase, self.run = "reference", 0

    def begin(self, request, digest):
        with self.lock:
            record = {"phase": self.phase, "run": self.run, "item": self.item_of(request), "digest": digest,
                      "start": time.monotonic(), "sent": None}
            self.records.append(record)
            return record


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_POST(self):
        teacher = self.server.teacher
        body = self.read_body()
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        if self.path.rstrip("/") != "/v1/chat/completions" or not isinstance(request, dict):
            self.send_json(400, {"error": {"message": "bad request"}})
            return
        digest = digest_of(request)
        record = teacher.begin(request, digest)
        time.sleep(0.05 + (int(digest[8:12], 16) % 151) / 1000.0)
        text = teacher.reply_of(request, digest)
        payload = {"id": "chatcmpl-" + digest[:12], "object": "chat.completion", "model": request.get("model", ""),
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}
        try:
            self.send_json(200, payload)
        except OSError:
            return
        record["sent"] = time.monotonic()


class QuietServer(http.server.ThreadingHTTPServer):
    """A client killed while it sent its request resets the connection: expected here, not worth a traceback."""
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class ScriptedServer:
    def __init__(self, teacher):
        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.teacher = teacher
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self):
        return "http://127.0.0.1:%d/v1" % self.httpd.server_address[1]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------------------------------------------
# Jobs

SUBJECTS = ["a brown dog", "two cats", "a red bus", "a woman with an umbrella", "a plate of food", "three bikes",
            "a man surfing", "a clock tower", "a child with a kite", "an old truck", "a pizza", "a train"]
PLACES = ["on a beach", "in a park", "on a city street", "in a kitchen", "near a lake", "at a station"]


def caption(i, j):
    return "%s %s %s." % (SUBJECTS[(i * 7 + j) % len(SUBJECTS)], ["sits", "stands", "waits"][(i + j) % 3],
                          PLACES[(i * 5 + j * 3) % len(PLACES)])


def instances(i):
    return [{"category": ["dog", "cat", "bus", "person"][(i + k) % 4],
             "bbox": [round(0.05 * k + 0.01 * (i % 7), 3), round(0.1 + 0.02 * k, 3),
                      round(0.5 + 0.05 * k, 3), round(0.9 - 0.01 * (i % 5), 3)]} for k in range(1 + i % 3)]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def read_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().split(b"\n")
    except OSError:
        return []


def json_lines(path):
    rows = []
    for line in read_lines(path):
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass   # empty, or cut short by the kill
    return rows


def drop_keys(data, keys, lines=False):
    """JSON (or JSON lines) with these top-level keys removed, re-encoded canonically."""
    def clean(o):
        return json.dumps({k: v for k, v in o.items() if k not in keys}, sort_keys=True) if isinstance(o, dict) else o
    if lines:
        return "\n".join(clean(json.loads(l)) for l in data.decode().split("\n") if l.strip()).encode()
    return clean(json.loads(data)).encode()


def sorted_lines(data):
    return b"\n".join(sorted(l for l in data.split(b"\n") if l.strip()))


class Curate:
    name = "curate"
    uses_server = True
    item_of, reply_of = staticmethod(curate_item), staticmethod(curate_reply)
    # file: (why it may differ, how it is compared instead)
    normalised = {
        "journal.jsonl": ("lines are appended in the order requests finish (4 in flight); compared as sorted lines",
                          sorted_lines),
        "stats.json": ("\"this_run\" counts only the last process's requests; compared without it",
                       lambda d: drop_keys(d, {"this_run"})),
    }

    def __init__(self, args, tmp):
        self.images = args.curate_images
        self.total = self.images * 3
        self.input = os.path.join(tmp, "caps.jsonl")
        write_jsonl(self.input, [{"id": str(i), "image": "%d.jpg" % i,
                                  "captions": ["Item %d shows %s" % (i, caption(i, 0))] +
                                              [caption(i, j).capitalize() for j in range(1, 3)],
                                  "instances": instances(i)} for i in range(self.images)])

    def command(self, out, url):
        return ["curate", "--input", self.input, "--endpoint", url, "--model", "teacher", "--seed", "5",
                "--output", out]

    def journaled(self, out):
        return {"%s/%s" % (o.get("kind"), o.get("id")) for o in json_lines(os.path.join(out, "journal.jsonl"))
                if isinstance(o, dict) and o.get("status") in ("ok", "rejected")}

    def progress(self, out):
        return len(self.journaled(out)) / float(self.total)


class Judge:
    name = "judge"
    uses_server = True
    item_of, reply_of = staticmethod(judge_item), staticmethod(judge_reply)
    normalised = {}   # reviews.jsonl is the job's output: compared byte for byte

    def __init__(self, args, tmp):
        n = args.judge_questions
        self.total = n
        images = max(1, n // 3)
        self.questions, self.context = os.path.join(tmp, "questions.jsonl"), os.path.join(tmp, "context.jsonl")
        self.reference, self.answers = os.path.join(tmp, "reference.jsonl"), os.path.join(tmp, "answers.jsonl")
        cats = ["conv", "detail", "complex"]
        write_jsonl(self.questions, [{"question_id": i, "image": "%d.jpg" % (i % images), "category": cats[i % 3],
                                      "text": "Q%d: What is %s doing?" % (i, SUBJECTS[i % len(SUBJECTS)])}
                                     for i in range(n)])
        write_jsonl(self.context, [{"image": "%d.jpg" % i, "captions": [caption(i, j) for j in range(3)],
                                    "instances": instances(i)} for i in range(images)])
        write_jsonl(self.reference, [{"question_id": i, "text": "It %s." % caption(i % images, 0)} for i in range(n)])
        write_jsonl(self.answers, [{"question_id": i, "text": "Probably %s." % caption(i, 1)} for i in range(n)])
        self.concurrency = args.judge_concurrency

    def command(self, out, url):
        cmd = ["eval", "judge", "--questions", self.questions, "--context", self.context, "--reference",
               self.reference, "--answers", self.answers, "--endpoint", url, "--model", "judge",
               "--output", os.path.join(out, "reviews.jsonl")]
        return cmd + (["--concurrency", str(self.concurrency)] if self.concurrency else [])

    def journaled(self, out):
        rows = json_lines(os.path.join(out, "reviews.jsonl"))
        return {str(o.get("question_id")) for o in rows if isinstance(o, dict)}

    def progress(self, out):
        return len(self.journaled(out)) / float(self.total)


class Train:
    name = "train"
    uses_server = False
    normalised = {
        "log.jsonl": ("each step's \"seconds\" and \"tokens_per_s\" are timings; compared without them",
                      lambda d: drop_keys(d, {"seconds", "tokens_per_s"}, lines=True)),
    }

    def __init__(self, args, tmp):
        self.steps, self.every = args.train_steps, args.train_checkpoint_every
        self.total = self.steps

    def command(self, out, url):
        return ["train", "--stage", "2", "--model", TINY_MODEL, "--data", TRAIN_DATA, "--images", FIXTURE_IMAGES,
                "--output", out, "--steps", str(self.steps), "--batch-size", "2", "--lr", "1e-3", "--lora-rank", "4",
                "--seed", "3", "--checkpoint-every", str(self.every), "--resume"]

    def progress(self, out):
        for d in ("checkpoint", ".checkpoint.old"):
            try:
                with open(os.path.join(out, d, "state.json")) as f:
                    return json.load(f)["step"] / float(self.steps)
            except (OSError, ValueError, KeyError):
                pass
        return 0.0


JOBS = {"curate": Curate, "judge": Judge, "train": Train}


# --------------------------------------------------------------------------------------------------------------
# Running, killing, comparing


def all_files(folder):
    found = set()
    for dirpath, _, names in os.walk(folder):
        for n in names:
            found.add(os.path.relpath(os.path.join(dirpath, n), folder))
    return found


def compare(job, ref, out):
    """(differences, notes): files that differ, and how the normalised files were compared."""
    diffs, notes = [], []
    for rel in sorted(all_files(ref) | all_files(out)):
        a, b = (os.path.join(ref, rel), os.path.join(out, rel))
        if not os.path.exists(a) or not os.path.exists(b):
            diffs.append("%s: only in the %s folder" % (rel, "reference" if os.path.exists(a) else "killed-run"))
            continue
        with open(a, "rb") as f:
            da = f.read()
        with open(b, "rb") as f:
            db = f.read()
        if rel in job.normalised:
            why, norm = job.normalised[rel]
            notes.append("%s: %s" % (rel, why))
            try:
                same = norm(da) == norm(db)
            except ValueError as e:
                same = False
                why = "unreadable (%s)" % e
            if not same:
                diffs.append("%s: differs even after normalising (%s)" % (rel, why))
        elif da != db:
            detail = "%d vs %d bytes" % (len(da), len(db))
            if sorted_lines(da) == sorted_lines(db):
                detail += "; the same lines in another order"
            diffs.append("%s: differs (%s)" % (rel, detail))
    return diffs, notes


def start(binary, args, logs, tag):
    out = open(os.path.join(logs, tag + ".out"), "wb")
    err = open(os.path.join(logs, tag + ".err"), "wb")
    try:
        return subprocess.Popen([binary] + args, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    finally:
        out.close()
        err.close()


def tail(logs, tag):
    try:
        with open(os.path.join(logs, tag + ".err"), "rb") as f:
            text = f.read().decode(errors="replace").replace("\r", "\n")
    except OSError:
        return ""
    lines = [l for l in text.split("\n") if l.strip()]
    return lines[-1][:200] if lines else ""


def classify(records, journaled_after, kill_times):
    """Repeats among the killed sequence's requests; journaled_after[k]: items journaled when run k ended."""
    counts = {"finished": 0, "in_flight": 0, "answered_unjournaled": 0, "in_flight_at_kill": 0, "changed": 0}
    examples = []
    earlier = {}
    for r in sorted(records, key=lambda r: r["start"]):
        k = r["run"]
        kill_t = kill_times.get(k)
        answered = r["sent"] is not None and (kill_t is None or r["sent"] <= kill_t)
        if kill_t is not None and not answered:
            counts["in_flight_at_kill"] += 1
        before = earlier.setdefault(r["item"], [])
        if before:
            if any(p["digest"] != r["digest"] for p in before):
                counts["changed"] += 1
            journaled = k > 0 and r["item"] in journaled_after.get(k - 1, set())
            same_run_answered = any(p["run"] == k and p["ok"] for p in before)
            if journaled or same_run_answered:
                counts["finished"] += 1
                examples.append("%s asked again in run %d (already %s)" % (
                    r["item"], k, "journaled" if journaled else "answered in the same run"))
            elif any(p["ok"] for p in before):
                counts["answered_unjournaled"] += 1
            else:
                counts["in_flight"] += 1
        before.append({"run": k, "ok": answered, "digest": r["digest"]})
    return counts, examples, earlier


def run_job(job, binary, kills, rng, window, min_delay, root, verbose):
    teacher = Teacher(job.item_of, job.reply_of) if job.uses_server else None
    server = ScriptedServer(teacher) if teacher else None
    url = server.base_url if server else None
    logs = os.path.join(root, "logs")
    os.makedirs(logs, exist_ok=True)
    ref, out = os.path.join(root, "reference"), os.path.join(root, "killed")
    problems = []
    result = {"job": job.name}
    try:
        t0 = time.monotonic()
        p = start(binary, job.command(ref, url), logs, "reference")
        rc = p.wait()
        ref_seconds = time.monotonic() - t0
        result["reference_seconds"] = round(ref_seconds, 2)
        if rc != 0:
            problems.append("reference run exited %d: %s" % (rc, tail(logs, "reference")))
            result.update(problems=problems, ok=False)
            return result
        if verbose:
            print("%s: reference run %.1f s" % (job.name, ref_seconds), file=sys.stderr)

        landed, missed, journaled_after, kill_times, moments = 0, 0, {}, {}, []
        for k in range(kills):
            if teacher:
                with teacher.lock:
                    teacher.phase, teacher.run = "killed", k
            left = max(0.0, 1.0 - job.progress(out))
            if window == "spread":
                upper = min_delay + 2.0 * ref_seconds * left / (kills - k)
            else:
                upper = ref_seconds
            delay = rng.uniform(min_delay, max(min_delay, upper))
            tag = "run-%02d" % k
            p = start(binary, job.command(out, url), logs, tag)
            try:
                rc = p.wait(timeout=delay)
                missed += 1
                if rc != 0:
                    problems.append("run %d (not yet killed) exited %d: %s" % (k, rc, tail(logs, tag)))
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                kill_times[k] = time.monotonic()
                p.wait()
                landed += 1
            moments.append(round(delay, 3))
            if hasattr(job, "journaled"):
                journaled_after[k] = job.journaled(out)
            if verbose:
                print("%s: run %d %s at %.2f s, %.0f%% done" % (job.name, k, "killed" if k in kill_times else
                      "finished", delay, 100 * job.progress(out)), file=sys.stderr)

        if teacher:
            with teacher.lock:
                teacher.phase, teacher.run = "killed", kills
        tag = "final"
        p = start(binary, job.command(out, url), logs, tag)
        try:
            rc = p.wait(timeout=max(300.0, 20 * ref_seconds))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = "timeout"
        if rc != 0:
            problems.append("final rerun exited %s: %s" % (rc, tail(logs, tag)))

        diffs, notes = compare(job, ref, out)
        result.update(kills=landed, missed_kills=missed, reruns=kills, kill_moments=moments,
                      identical=not diffs and rc == 0, differences=diffs, normalised=notes)
        if teacher:
            with teacher.lock:
                records = list(teacher.records)
            reference = [r for r in records if r["phase"] == "reference"]
            killed = [r for r in records if r["phase"] == "killed"]
            counts, examples, items = classify(killed, journaled_after, kill_times)
            ref_items = {r["item"] for r in reference}
            result.update(reference_requests=len(reference), requests=len(killed),
                          finished_repeated=counts["finished"], in_flight_repeated=counts["in_flight"],
                          answered_unjournaled_repeated=counts["answered_unjournaled"],
                          in_flight_at_kills=counts["in_flight_at_kill"], changed_requests=counts["changed"],
                          repeat_examples=examples[:10])
            if len(reference) != job.total or len(ref_items) != job.total:
                problems.append("reference run made %d requests for %d items; expected %d" % (
                    len(reference), len(ref_items), job.total))
            if set(items) != ref_items:
                problems.append("the killed runs asked for %d items, the reference for %d"
                                % (len(items), len(ref_items)))
            if counts["changed"]:
                problems.append("%d repeated requests differ from the first ask (prompt not deterministic)"
                                % counts["changed"])
        result["problems"] = problems
        result["ok"] = result["identical"] and not problems and not result.get("finished_repeated")
        return result
    finally:
        if server:
            server.stop()


def table(results):
    rows = ["| job | kills | reruns | reference s | identical outputs | finished requests repeated "
            "| in-flight requests repeated | answered, unjournaled, repeated |",
            "|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in results:
        if "kills" not in r:
            rows.append("| %s | - | - | %s | no (did not run) | - | - | - |"
                        % (r["job"], r.get("reference_seconds", "-")))
            continue
        kills = "%d" % r["kills"] + (" (+%d missed)" % r["missed_kills"] if r["missed_kills"] else "")
        rows.append("| %s | %s | %d | %.1f | %s | %s | %s | %s |" % (
            r["job"], kills, r["reruns"], r["reference_seconds"], "yes" if r["identical"] else "**no**",
            r.get("finished_repeated", "-"), r.get("in_flight_repeated", "-"),
            r.get("answered_unjournaled_repeated", "-")))
    lines = ["\n".join(rows), ""]
    for r in results:
        for d in r.get("differences", []):
            lines.append("- %s: %s" % (r["job"], d))
        for p in r.get("problems", []):
            lines.append("- %s: problem: %s" % (r["job"], p))
        for e in r.get("repeat_examples", []):
            lines.append("- %s: repeat: %s" % (r["job"], e))
        for n in r.get("normalised", []):
            lines.append("- %s: normalised %s" % (r["job"], n))
        if "requests" in r:
            lines.append("- %s: %d requests in the reference run, %d over the kills and reruns, %d cut off in flight "
                         "by kills" % (r["job"], r["reference_requests"], r["requests"], r["in_flight_at_kills"]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="kill -9 this many runs per job (default 20)")
    ap.add_argument("--seed", type=int, default=0, help="seed for the kill moments")
    ap.add_argument("--jobs", default="curate,judge,train", help="comma-separated: curate,judge,train")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "llava"))
    ap.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    ap.add_argument("--window", choices=["spread", "reference"], default="spread", help="how kill moments are drawn")
    ap.add_argument("--min-delay", type=float, default=0.1, help="earliest kill, seconds after the start")
    ap.add_argument("--curate-images", type=int, default=80, help="images to curate (3 requests each)")
    ap.add_argument("--judge-questions", type=int, default=120, help="questions to judge")
    ap.add_argument("--judge-concurrency", type=int, default=0, help="--concurrency for judge (0: llava's default)")
    ap.add_argument("--train-steps", type=int, default=400)
    ap.add_argument("--train-checkpoint-every", type=int, default=10)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (its path goes to stderr)")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per run on stderr")
    args = ap.parse_args()
    names = [n.strip() for n in args.jobs.split(",") if n.strip()]
    unknown = [n for n in names if n not in JOBS]
    if unknown or not names or args.kills < 1:
        ap.error("unknown job %s (use curate,judge,train); --kills must be positive" % ",".join(unknown))
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        ap.error("no llava binary at %s (build with `swift build -c release`, or pass --binary)" % binary)

    rng = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix="kill9-")
    started = time.monotonic()
    results = []
    try:
        for name in names:
            root = os.path.join(tmp, name)
            os.makedirs(root)
            job = JOBS[name](args, root)
            results.append(run_job(job, binary, args.kills, rng, args.window, args.min_delay, root, args.verbose))
    finally:
        if args.keep:
            print("kept %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started
    if args.json:
        print(json.dumps({"seed": args.seed, "kills": args.kills, "window": args.window, "seconds": round(elapsed, 1),
                          "jobs": results}, indent=2))
    else:
        print(table(results))
        print("\n%d kills per job, seed %d, window %s; %.0f s in all" % (args.kills, args.seed, args.window, elapsed))
    return 0 if all(r.get("ok") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
