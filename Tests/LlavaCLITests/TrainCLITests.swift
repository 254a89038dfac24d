// `llava train` and `llava merge-lora` as a user runs them: stage 1 then stage 2 on the tiny model until it has
// memorised its answers (greedy `llava generate` on the trained folder says them back), Ctrl-C then --resume,
// and bad arguments.
import Foundation
import Testing

let trainingDir = cliRoot.appendingPathComponent("Tests/Fixtures/training")

@Suite("llava train")
struct TrainCLITests {
    let images = fx("images")

    @Test("stage 1 then stage 2: the loss falls and the trained model says a training answer back")
    func memorises() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let s1 = dir.appendingPathComponent("stage1").path, s2 = dir.appendingPathComponent("stage2").path
        let a = try llava(["train", "--stage", "1", "--model", fx("tiny-gqa-crop"), "--data", trainingDir.appendingPathComponent("captions.json").path,
                           "--images", images, "--output", s1, "--steps", "20", "--batch-size", "2", "--lr", "1e-2", "--seed", "1"])
        #expect(a.status == 0, "\(a.stderr)")
        let b = try llava(["train", "--stage", "2", "--model", s1, "--data", trainingDir.appendingPathComponent("instruct.json").path,
                           "--images", images, "--output", s2, "--steps", "60", "--batch-size", "4", "--lr", "3e-3",
                           "--warmup-ratio", "0.1", "--seed", "1"])
        #expect(b.status == 0, "\(b.stderr)")
        let log = try String(contentsOfFile: s2 + "/log.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
        #expect(log.count == 60)
        let first = log.first?["loss"] as? Double ?? 0, last = log.last?["loss"] as? Double ?? 99
        #expect(first > 5 && last < 0.1, "loss \(first) -> \(last)")
        let svg = try String(contentsOfFile: s2 + "/loss.svg", encoding: .utf8)
        #expect(svg.contains("<polyline") && svg.contains("stage 1 (stage1)") && svg.contains("stage 2"))
        let prompt = "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, " +
            "detailed, and polite answers to the user's questions. USER: <image>\nDescribe the image in detail. ASSISTANT:"
        let g = try llava(["generate", "--model", s2, "--raw", "--image", fx("images/astronaut.png"), "--prompt", prompt,
                           "--max-tokens", "16", "--temperature", "0"])
        #expect(g.status == 0, "\(g.stderr)")
        #expect(g.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "The astronaut smiles in front of the flag.")
    }

    @Test("Ctrl-C writes a checkpoint and exits 130; --resume finishes the run")
    func interruptAndResume() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run").path
        let args = ["train", "--stage", "2", "--model", fx("tiny-gqa-crop"), "--data", trainingDir.appendingPathComponent("instruct.json").path,
                    "--images", images, "--output", out, "--steps", "400", "--batch-size", "2", "--lr", "1e-3",
                    "--lora-rank", "4", "--seed", "3"]
        let p = Process()
        p.executableURL = try llavaBinary()
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let logPath = out + "/log.jsonl"
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let s = try? String(contentsOfFile: logPath, encoding: .utf8), s.split(separator: "\n").count >= 5 { break }
            usleep(20_000)
        }
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/checkpoint/state.json"))) as? [String: Any]
        let step = state?["step"] as? Int ?? 0
        #expect(step >= 5 && step < 400)
        let refused = try llava(args)
        expectCleanError(refused, mentioning: "pass --resume")
        let resumed = try llava(args + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming after step \(step)"))
        let lines = try String(contentsOfFile: logPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 400)
        #expect(FileManager.default.fileExists(atPath: out + "/adapter/adapter_model.safetensors"))
        // merge-lora of that adapter onto the base gives a folder generate loads.
        let merged = dir.appendingPathComponent("merged").path
        let m = try llava(["merge-lora", "--model", fx("tiny-gqa-crop"), "--adapter", out + "/adapter", "--output", merged])
        #expect(m.status == 0, "\(m.stderr)")
        let g1 = try llava(["generate", "--model", merged, "--prompt", "Tell me about the fox.", "--max-tokens", "8", "--temperature", "0", "--json"])
        let g2 = try llava(["generate", "--model", out, "--prompt", "Tell me about the fox.", "--max-tokens", "8", "--temperature", "0", "--json"])
        func ids(_ r: Run) -> [Int] {
            let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
            return ((try? JSONSerialization.jsonObject(with: Data(last.utf8))) as? [String: Any])?["token_ids"] as? [Int] ?? []
        }
        #expect(g1.status == 0 && ids(g1).count == 8 && ids(g1) == ids(g2))
    }

    @Test("bad arguments give one error line")
    func badArguments() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = ["train", "--model", fx("tiny-gqa-crop"), "--data", trainingDir.appendingPathComponent("instruct.json").path,
                    "--images", images, "--output", dir.appendingPathComponent("x").path]
        expectCleanError(try llava(base + ["--stage", "3"]), mentioning: "--stage must be 1 or 2")
        expectCleanError(try llava(base + ["--stage", "2", "--schedule", "linear"]), mentioning: "--schedule must be cosine or constant")
        expectCleanError(try llava(base + ["--stage", "1", "--lora-rank", "4"]), mentioning: "LoRA is for stage 2")
        expectCleanError(try llava(["train", "--stage", "2", "--model", dir.path, "--data", "/nonexistent.json", "--output", dir.appendingPathComponent("y").path]),
                         mentioning: "config.json")
        expectCleanError(try llava(["merge-lora", "--model", fx("tiny-gqa-crop"), "--adapter", dir.path, "--output", dir.appendingPathComponent("z").path]),
                         mentioning: "adapter_config.json")
    }
}
