// The `llava` binary as a user runs it: real processes, real files. Results are checked against
// the HF transformers fixtures; every bad input must give one `error:` line and a non-zero exit.
import Foundation
import LlavaFormats
import Testing

let cliRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let fixtureDir = cliRoot.appendingPathComponent("Tests/Fixtures/llava-hf")
func fx(_ p: String) -> String { fixtureDir.appendingPathComponent(p).path }

struct Run {
    let status: Int32
    let stdout: String
    let stderr: String
}

func llavaBinary() throws -> URL {
    // The test bundle sits beside the products of the same build.
    let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent(),
                      cliRoot.appendingPathComponent(".build/debug"), cliRoot.appendingPathComponent(".build/release")]
        .map { $0.appendingPathComponent("llava") }
    for c in candidates where FileManager.default.isExecutableFile(atPath: c.path) { return c }
    for b in Bundle.allBundles {
        let c = b.bundleURL.deletingLastPathComponent().appendingPathComponent("llava")
        if FileManager.default.isExecutableFile(atPath: c.path) { return c }
    }
    throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "llava binary"])
}

func llava(_ args: [String], environment: [String: String] = [:]) throws -> Run {
    let p = Process()
    p.executableURL = try llavaBinary()
    p.arguments = args
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

func tempDir() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("llava-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

/// A copy of a fixture checkpoint to break.
func copyModel(_ name: String) throws -> URL {
    let d = try tempDir().appendingPathComponent(name)
    try FileManager.default.copyItem(at: fixtureDir.appendingPathComponent(name), to: d)
    return d
}

func expectCleanError(_ r: Run, mentioning: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status != 0, "exit status \(r.status)", sourceLocation: sourceLocation)
    let lines = r.stderr.split(separator: "\n")
    #expect(lines.count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
    #expect(r.stderr.lowercased().contains(mentioning.lowercased()), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
    #expect(!r.stderr.contains("Fatal error"), sourceLocation: sourceLocation)
}

@Suite(.serialized) struct CLITests {
    @Test func generateGivesHFsGreedyTokensThroughTheChatTemplate() throws {
        let r = try llava(["generate", "--model", fx("tiny-gqa-crop"), "--image", fx("images/chelsea.jpg"),
                           "--prompt", "What is shown in this picture?", "--max-tokens", "16", "--temperature", "0", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let last = try #require(r.stdout.split(separator: "\n").last)
        let json = try JSONValue.parse(Data(last.utf8))
        let ref = try SafetensorsFile(path: fx("tiny-gqa-crop.safetensors"))
        #expect(json["token_ids"]?.array?.compactMap { $0.int } == (try ref.integers("one-image.greedy")))
        #expect(json["prompt_tokens"]?.int == 29)
        #expect(json["completion_tokens"]?.int == 16)
        #expect(json["finish_reason"]?.string == "length")
        #expect(json["timings"]?["prefill_tokens_per_s"]?.double != nil)
    }

    @Test func rawPromptWithTwoImages() throws {
        let r = try llava(["generate", "--model", fx("tiny-mha-pad-full"), "--image", fx("images/astronaut.png"),
                           "--image", fx("images/camera-gray.png"), "--raw",
                           "--prompt", "USER: <image>\n<image>\nCompare the two pictures. ASSISTANT:",
                           "--max-tokens", "16", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONValue.parse(Data(try #require(r.stdout.split(separator: "\n").last).utf8))
        let ref = try SafetensorsFile(path: fx("tiny-mha-pad-full.safetensors"))
        #expect(json["token_ids"]?.array?.compactMap { $0.int } == (try ref.integers("two-images.greedy")))
    }

    @Test func hugeMaxTokensRunsToTheContextEnd() throws {
        // Int.max overflowed prompt + max tokens (a trap); now generation stops where the 256-position context ends.
        let r = try llava(["generate", "--model", fx("tiny-gqa-crop"), "--prompt", "hi",
                           "--max-tokens", "9223372036854775807", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONValue.parse(Data(try #require(r.stdout.split(separator: "\n").last).utf8))
        let prompt = json["prompt_tokens"]?.int ?? 0, completion = json["completion_tokens"]?.int ?? 0
        let finish = json["finish_reason"]?.string ?? ""
        // The context holds 256 positions; the token sampled from the last one's logits is the 257th.
        #expect(prompt > 0 && (finish == "stop" ? prompt + completion <= 257 : prompt + completion == 257),
                "\(prompt) + \(completion), \(finish)")
    }

    @Test func forwardWritesHFsNumbers() throws {
        let out = try tempDir().appendingPathComponent("out.safetensors")
        let r = try llava(["forward", "--model", fx("tiny-bf16-sharded"), "--image", fx("images/chelsea.jpg"),
                           "--prompt", "USER: <image>\nWhat is shown in this picture? ASSISTANT:", "--output", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        let f = try SafetensorsFile(path: out.path)
        let ref = try SafetensorsFile(path: fx("tiny-bf16-sharded.safetensors"))
        #expect(try f.integers("input_ids") == (try ref.integers("one-image.input_ids")))
        for (mine, theirs, tol) in [("logits", "one-image.logits", Float(1e-4)), ("image_features", "one-image.image_features", 1e-4),
                                    ("pixel_values", "one-image.pixel_values", 1e-5)] {
            let a = try f.tensor(mine), b = try ref.tensor(theirs)
            #expect(a.shape == b.shape, "\(mine) \(a.shape) vs \(b.shape)")
            var worst: Float = 0
            for i in 0..<min(a.count, b.count) { worst = max(worst, abs(a[flat: i] - b[flat: i])) }
            #expect(worst < tol, "\(mine) differs by \(worst)")
        }
    }

    @Test func tokenizeJSONAndNoSpecial() throws {
        let r = try llava(["tokenize", "--model", fx("tiny-gqa-crop"), "--text", "Hello world", "--json"])
        #expect(r.status == 0)
        let ids = try JSONValue.parse(Data(r.stdout.utf8))["ids"]?.array?.compactMap { $0.int }
        #expect(ids?.first == 1)
        let n = try llava(["tokenize", "--model", fx("tiny-gqa-crop/tokenizer.json"), "--text", "Hello world", "--no-special"])
        #expect(n.stdout.split(separator: " ").count == (ids?.count ?? 0) - 1)
    }

    @Test func chatAnswersEachTurn() throws {
        let p = Process()
        p.executableURL = try llavaBinary()
        p.arguments = ["chat", "--model", fx("tiny-gqa-crop"), "--image", fx("images/chelsea.jpg"), "--max-tokens", "4",
                       "--timings"]
        let input = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = input; p.standardOutput = out; p.standardError = err
        try p.run()
        input.fileHandleForWriting.write(Data("What is this?\nAnd the colour?\n/exit\n".utf8))
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(String(decoding: o, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).count >= 2)
        // The second turn takes the first turn's positions (its image among them) from the cache.
        let turns = e.split(separator: "\n").filter { $0.hasPrefix("[prompt ") }.map { line in
            line.split(separator: " ").compactMap { Int($0) }
        }
        #expect(turns.count == 2, "\(e)")
        if turns.count == 2 {
            #expect(turns[0][1] == 0, "\(e)")
            // (all of it but where the template's text meets the answer, which may tokenise differently)
            #expect(turns[1][1] >= turns[0][0] - 2 && turns[1][0] > turns[0][0], "turn 2 reuses turn 1: \(e)")
        }
    }

    // MARK: GGUF

    static let cache = ProcessInfo.processInfo.environment["SWIFT_LLAVA_CACHE"] ?? (NSHomeDirectory() + "/.cache/swift-llava")
    static let smol = cache + "/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Test func ggufChatGivesLlamaCppsTokensWithinTheMemoryBudget() throws {
        // The default (flash attention, as llama.cpp's -fa auto on a CPU) and --flash-attn off, each against
        // llama.cpp's record of that mode; at the portable level, which reproduces the AVX-512 build's records on
        // any CPU.
        for (flag, file) in [(nil, "smollm2-fa.json"), ("off", "smollm2.json")] {
            let url = cliRoot.appendingPathComponent("Tests/Fixtures/llamacpp/" + file)
            let chat = try #require(try JSONValue.parse(Data(contentsOf: url))["cases"]?.array?.first {
                $0["kind"]?.string == "chat"
            })
            let expected = chat["greedy"]?.array?.compactMap(\.int) ?? []
            let r = try llava(["generate", "--model", Self.smol, "--prompt", chat["prompt"]?.string ?? "",
                               "--max-tokens", "\(expected.count)", "--temperature", "0", "--json"]
                              + (flag.map { ["--flash-attn", $0] } ?? []), environment: ["LLAVA_CPU_LEVEL": "portable"])
            #expect(r.status == 0, "\(r.stderr)")
            let json = try JSONValue.parse(Data(try #require(r.stdout.split(separator: "\n").last).utf8))
            #expect(json["token_ids"]?.array?.compactMap(\.int) == expected, "\(file)")
        }
        expectCleanError(try llava(["generate", "--model", Self.smol, "--flash-attn", "maybe", "--prompt", "hi"]),
                         mentioning: "--flash-attn must be on, off or auto")
        // Decode works on the quantised blocks in place: the 98 MB file, no dequantised copy. The bench's
        // figure is VmHWM, which starts afresh at exec (ru_maxrss of a child would include this process's).
        let b = try llava(["bench", "--model", Self.smol, "--prompt-tokens", "64", "--gen-tokens", "16", "--json"])
        #expect(b.status == 0, "\(b.stderr)")
        let peakMB = try JSONValue.parse(Data(b.stdout.utf8))["peak_rss_mb"]?.double ?? .infinity
        #expect(peakMB > 50 && peakMB < 300, "peak RSS \(peakMB) MB")
        print("SmolLM2 peak RSS: \(peakMB) MB")
    }

    @Test func tokenizeAVocabularyOnlyGGUF() throws {
        let r = try llava(["tokenize", "--model", Self.cache + "/llama.cpp-vocab/ggml-vocab-llama-spm.gguf",
                           "--text", "Hello world", "--no-special", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try JSONValue.parse(Data(r.stdout.utf8))["ids"]?.array?.compactMap(\.int) == [15043, 3186])
    }

    @Test func unknownTemplateNameIsAnError() throws {
        expectCleanError(try llava(["generate", "--model", Self.smol, "--template", "klingon", "--prompt", "hi"]),
                         mentioning: "unknown template")
    }

    @Test func visionPrecisionOption() throws {
        expectCleanError(try llava(["generate", "--model", fx("tiny-gqa-crop"), "--vision-precision", "fp8", "--prompt", "hi"]),
                         mentioning: "--vision-precision must be f32 or bf16")
        let r = try llava(["generate", "--model", fx("tiny-gqa-crop"), "--image", fx("images/chelsea.jpg"), "--prompt", "What is it?",
                           "--max-tokens", "4", "--vision-precision", "bf16", "--json"])
        // Where oneDNN's bf16 is unavailable the option says so in one line; where it is, the answer comes.
        if r.status == 0 { #expect(r.stdout.contains("\"completion_tokens\":4")) }
        else { expectCleanError(r, mentioning: "AVX512-BF16") }
    }

    @Test func kvCacheOption() throws {
        expectCleanError(try llava(["generate", "--model", Self.smol, "--kv-cache", "q4_0", "--prompt", "hi"]),
                         mentioning: "--kv-cache must be default or q8_0")
        // tiny-gqa-crop's heads are 16 wide: no whole q8_0 block.
        expectCleanError(try llava(["generate", "--model", fx("tiny-gqa-crop"), "--kv-cache", "q8_0", "--prompt", "hi"]),
                         mentioning: "multiple of 32")
        // 8-bit K and V move the numbers a little: the greedy answer starts as the f16 cache's does.
        var answers: [[Int]] = []
        for kv in ["default", "q8_0"] {
            let r = try llava(["generate", "--model", Self.smol, "--kv-cache", kv, "--prompt", "What is the capital of France?",
                               "--max-tokens", "8", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let json = try JSONValue.parse(Data(try #require(r.stdout.split(separator: "\n").last).utf8))
            answers.append(json["token_ids"]?.array?.compactMap(\.int) ?? [])
        }
        #expect(answers[1].count == 8 && answers[0].prefix(4) == answers[1].prefix(4), "\(answers)")
    }

    @Test func corruptGGUFIsAnError() throws {
        let d = try tempDir().appendingPathComponent("cut.gguf")
        let h = try FileHandle(forReadingFrom: URL(fileURLWithPath: Self.smol))
        let head = h.readData(ofLength: 4_000_000)
        try h.close()
        try head.write(to: d)
        expectCleanError(try llava(["generate", "--model", d.path, "--prompt", "hi"]), mentioning: "truncated")
    }

    // MARK: bad input

    @Test func chatRefusesATooSmallContext() throws {
        expectCleanError(try llava(["chat", "--model", fx("tiny-gqa-crop"), "--context", "1"]), mentioning: "--context")
    }

    @Test func missingModelFolder() throws {
        expectCleanError(try llava(["generate", "--model", "/no/such/model", "--prompt", "hi"]), mentioning: "not found")
    }

    @Test func truncatedWeights() throws {
        let m = try copyModel("tiny-gqa-crop")
        let w = m.appendingPathComponent("model.safetensors")
        let d = try Data(contentsOf: w)
        try d.prefix(d.count / 2).write(to: w)
        expectCleanError(try llava(["generate", "--model", m.path, "--prompt", "hi"]), mentioning: "truncated")
    }

    @Test func lyingHeader() throws {
        let m = try copyModel("tiny-gqa-crop")
        let w = m.appendingPathComponent("model.safetensors")
        var d = try Data(contentsOf: w)
        d.replaceSubrange(0..<8, with: [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
        try d.write(to: w)
        expectCleanError(try llava(["generate", "--model", m.path, "--prompt", "hi"]), mentioning: "header length")
    }

    @Test func wrongTensorShape() throws {
        let m = try copyModel("tiny-gqa-crop")
        let cfgURL = m.appendingPathComponent("config.json")
        var cfg = String(decoding: try Data(contentsOf: cfgURL), as: UTF8.self)
        cfg = cfg.replacingOccurrences(of: "\"intermediate_size\": 136", with: "\"intermediate_size\": 140")
        try Data(cfg.utf8).write(to: cfgURL)
        expectCleanError(try llava(["generate", "--model", m.path, "--prompt", "hi"]), mentioning: "shape")
    }

    @Test func unknownDType() throws {
        let m = try copyModel("tiny-gqa-crop")
        let w = m.appendingPathComponent("model.safetensors")
        var d = try Data(contentsOf: w)
        let header = d.range(of: Data("\"F32\"".utf8))!
        d.replaceSubrange(header, with: Data("\"C64\"".utf8))
        try d.write(to: w)
        expectCleanError(try llava(["generate", "--model", m.path, "--prompt", "hi"]), mentioning: "dtype")
    }

    @Test func missingConfigKey() throws {
        let m = try copyModel("tiny-gqa-crop")
        let cfgURL = m.appendingPathComponent("config.json")
        var cfg = String(decoding: try Data(contentsOf: cfgURL), as: UTF8.self)
        cfg = cfg.replacingOccurrences(of: "\"num_hidden_layers\": 2,", with: "")
        try Data(cfg.utf8).write(to: cfgURL)
        expectCleanError(try llava(["generate", "--model", m.path, "--prompt", "hi"]), mentioning: "num_hidden_layers")
    }

    @Test func corruptAndTextImages() throws {
        let d = try tempDir()
        let text = d.appendingPathComponent("notes.jpg")
        try Data("just some text\n".utf8).write(to: text)
        expectCleanError(try llava(["generate", "--model", fx("tiny-gqa-crop"), "--image", text.path, "--prompt", "hi"]),
                         mentioning: "not a JPEG or PNG")
        let full = try Data(contentsOf: URL(fileURLWithPath: fx("images/chelsea.jpg")))
        let cut = d.appendingPathComponent("cut.jpg")
        try full.prefix(full.count / 3).write(to: cut)
        expectCleanError(try llava(["generate", "--model", fx("tiny-gqa-crop"), "--image", cut.path, "--prompt", "hi"]),
                         mentioning: "truncated")
    }

    @Test func imageMarkerCountsMustMatch() throws {
        expectCleanError(try llava(["generate", "--model", fx("tiny-gqa-crop"), "--raw", "--image", fx("images/chelsea.jpg"),
                                    "--image", fx("images/astronaut.png"), "--prompt", "USER: <image>\nHi ASSISTANT:"]),
                         mentioning: "1 <image> marker(s) but 2 image(s)")
        expectCleanError(try llava(["generate", "--model", fx("tiny-gqa-crop"), "--raw",
                                    "--prompt", "USER: <image>\nHi ASSISTANT:"]),
                         mentioning: "1 <image> marker(s) but 0 image(s)")
    }

    @Test func promptLongerThanContext() throws {
        let long = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 60)
        expectCleanError(try llava(["generate", "--model", fx("tiny-gqa-crop"), "--prompt", long]), mentioning: "context")
        let out = try tempDir().appendingPathComponent("o.safetensors")
        expectCleanError(try llava(["forward", "--model", fx("tiny-gqa-crop"), "--prompt", long, "--output", out.path]),
                         mentioning: "context")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}

/// LLAVA_CPU_LEVEL: a name that is no level, or a level this CPU does not run, is one clear line and exit 1 before
/// anything loads; a lower level runs and is named in the timings.
@Suite struct CPULevelCLITests {
    @Test func badLevelsAreRefusedAndALowerOneRuns() throws {
        let model = CLITests.cache + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        let args = ["bench", "--model", model, "--prompt-tokens", "4", "--gen-tokens", "1", "--json"]
        let bogus = try llava(args, environment: ["LLAVA_CPU_LEVEL": "avx9000"])
        #expect(bogus.status == 1 && bogus.stderr.contains("LLAVA_CPU_LEVEL=avx9000 names no level"), "\(bogus.stderr)")
        // No x86 CPU runs NEON, and arm64 has no NEON kernels yet: refused everywhere for now.
        let neon = try llava(args, environment: ["LLAVA_CPU_LEVEL": "neon"])
        #expect(neon.status == 1 && neon.stderr.contains("asks for more than this CPU runs"), "\(neon.stderr)")
        let portable = try llava(args, environment: ["LLAVA_CPU_LEVEL": "portable"])
        #expect(portable.status == 0 && portable.stdout.contains("\"cpu_level\":\"portable\""), "\(portable.stdout)")
    }
}
