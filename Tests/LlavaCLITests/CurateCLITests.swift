// `llava curate` as a user runs it: a real process against a scripted teacher on loopback, killed with SIGKILL in
// the middle and rerun; and its bad inputs.
import Foundation
import LlavaFormats
import LlavaTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Starts `llava` with output to files, so the test's own threads are never blocked on pipes.
final class RunningLlava: @unchecked Sendable {
    let process = Process()
    let stdoutURL: URL, stderrURL: URL

    init(_ args: [String]) throws {
        let dir = try tempDir()
        stdoutURL = dir.appendingPathComponent("stdout"); stderrURL = dir.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.executableURL = try llavaBinary()
        process.arguments = args
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    func wait() async -> Run {
        while process.isRunning { try? await Task.sleep(nanoseconds: 20_000_000) }
        return Run(status: process.terminationStatus,
                   stdout: (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "",
                   stderr: (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "")
    }
}

func capsBoxesFile(count: Int) throws -> URL {
    let url = try tempDir().appendingPathComponent("caps.jsonl")
    let lines = (0..<count).map { i in
        "{\"id\": \"\(i)\", \"image\": \"\(i).jpg\", \"captions\": [\"Img\(i) caption.\"], \"instances\": [{\"category\": \"dog\", \"bbox\": [0.1, 0.2, 0.5, 0.9]}]}"
    }
    try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
    return url
}

/// "kind/id" of a request, read back from its system message and first caption.
func jobKey(_ r: RecordedRequest) -> String {
    let kind = r.system.contains("Write a conversation") ? "conversation" : r.system.contains("Describe the photo in detail") ? "detail" : "complex"
    let id = r.key.prefix(while: { $0 != " " }).dropFirst(3)
    return "\(kind)/\(id)"
}

@Suite(.serialized) struct CurateCLITests {
    @Test func killedMidRunAndRerunGivesTheSameSamplesAndRepeatsNoFinishedRequest() async throws {
        let server = try await ScriptedChatServer.start { request, _ in .delayed(0.15, .completion(scriptedTeacherReply(request))) }
        let input = try capsBoxesFile(count: 8)
        func args(_ out: URL) -> [String] {
            ["curate", "--input", input.path, "--endpoint", server.baseURL, "--model", "teacher", "--concurrency", "2",
             "--seed", "5", "--output", out.path]
        }
        let whole = try tempDir().appendingPathComponent("whole")
        let clean = await (try RunningLlava(args(whole))).wait()
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(await server.log.requests.count == 24)

        let killed = try tempDir().appendingPathComponent("killed")
        let journal = killed.appendingPathComponent("journal.jsonl")
        let first = try RunningLlava(args(killed))
        // A deadline, so a run that never journals fails the test instead of hanging CI (the whole run above took
        // a few seconds).
        let deadline = Date().addingTimeInterval(120)
        while ((try? String(contentsOf: journal, encoding: .utf8))?.split(separator: "\n").count ?? 0) < 7 {
            guard Date() < deadline else {
                kill(first.process.processIdentifier, SIGKILL)
                Issue.record("no 7 journal lines within 120 s")
                return
            }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        kill(first.process.processIdentifier, SIGKILL)
        let firstRun = await first.wait()
        #expect(firstRun.status != 0)
        let journaled = Set(try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").compactMap { line -> String? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return "\(o["kind"] ?? "")/\(o["id"] ?? "")"
        })
        #expect(journaled.count >= 7 && journaled.count < 24)
        let before = await server.log.requests.count

        let second = await (try RunningLlava(args(killed) + ["--json"])).wait()
        #expect(second.status == 0, "\(second.stderr)")
        let rerunKeys = await server.log.requests.dropFirst(before).map { jobKey($0.request) }
        #expect(Set(rerunKeys).isDisjoint(with: journaled), "finished work was asked for again")
        #expect(rerunKeys.count == Set(rerunKeys).count)
        #expect(journaled.count + rerunKeys.count == 24)
        for name in ["conversation.json", "detail.json", "complex.json"] {
            let a = try Data(contentsOf: whole.appendingPathComponent(name))
            let b = try Data(contentsOf: killed.appendingPathComponent(name))
            #expect(a == b, "\(name) differs after kill and rerun")
            #expect(try InstructSample.decode(b, path: name).count == 8)
        }
        let stats = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any]
        #expect((stats?["samples"] as? [String: Int]) == ["conversation": 8, "detail": 8, "complex": 8])
        #expect(((stats?["this_run"] as? [String: Any])?["requests"] as? Int) == rerunKeys.count)
        #expect(second.stderr.contains("curate ["))   // the progress bar
        await server.stop()
    }

    @Test func badInvocationsFailWithOneLine() async throws {
        let input = try capsBoxesFile(count: 1)
        let out = try tempDir().path
        let base = ["curate", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--output", out]
        expectCleanError(try llava(base + ["--input", input.path, "--kinds", "conversation,poems"]), mentioning: "poems")
        expectCleanError(try llava(base), mentioning: "--input")
        expectCleanError(try llava(base + ["--input", "/nonexistent.jsonl"]), mentioning: "/nonexistent.jsonl")
        expectCleanError(try llava(base + ["--input", input.path, "--api-key-env", "LLAVA_TEST_UNSET_KEY"]), mentioning: "LLAVA_TEST_UNSET_KEY")
        expectCleanError(try llava(base + ["--input", input.path, "--prompts", "/nonexistent-prompts"]), mentioning: "prompt folder")
        expectCleanError(try llava(base + ["--input", input.path, "--timeout=-1"]), mentioning: "--timeout")
        for huge in ["inf", "1e30", "nan"] {   // these trapped converting to integer nanoseconds
            expectCleanError(try llava(base + ["--input", input.path, "--timeout", huge]), mentioning: "--timeout")
        }
        let garbage = try tempDir().appendingPathComponent("bad.jsonl")
        try "{\"id\": \"1\"}\n".write(to: garbage, atomically: true, encoding: .utf8)
        expectCleanError(try llava(base + ["--input", garbage.path]), mentioning: "bad.jsonl:1")
        expectCleanError(try llava(["curate", "--input", input.path, "--endpoint", "gopher://x", "--model", "m", "--output", out]),
                         mentioning: "endpoint")
    }

    @Test func captionsSubcommandFiltersAndWritesStageOneSamples() throws {
        let dir = try tempDir()
        let input = dir.appendingPathComponent("pairs.jsonl")
        var lines = (0..<4).map { "{\"image\": \"dog\($0).jpg\", \"caption\": \"A dog on the beach.\"}" }
        lines.append("{\"image\": \"okapi.jpg\", \"caption\": \"An okapi.\"}")
        try lines.joined(separator: "\n").write(to: input, atomically: true, encoding: .utf8)
        let output = dir.appendingPathComponent("stage1.json")
        let r = try llava(["curate", "captions", "--input", input.path, "--output", output.path, "--max-per-phrase", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let samples = try InstructSample.decode(Data(contentsOf: output), path: output.path)
        #expect(!samples.contains { $0.image == "okapi.jpg" })       // a phrase seen once is rare
        #expect(samples.count >= 2 && samples.count <= 4)            // "dog" and "beach" keep 2 each at most
        #expect(samples.allSatisfy { $0.conversations.count == 2 && $0.conversations[1].value == "A dog on the beach." })
        expectCleanError(try llava(["curate", "captions", "--input", dir.appendingPathComponent("none.jsonl").path, "--output", output.path]),
                         mentioning: "none.jsonl")
    }
}
