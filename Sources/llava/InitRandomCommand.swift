// `llava init-random`: a LLaVA-1.5-7B-shaped model with seeded random weights, for benchmarks.
import ArgumentParser
import Foundation
import LlavaFormats
import LlavaModels
import LlavaTensor

struct InitRandomCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init-random",
        abstract: "Write a LLaVA-1.5-7B-shaped model with seeded random weights (GGUF Q4_0/Q8_0 + mmproj F16, llava-hf BF16).")

    @Option(help: "Output folder.") var output: String
    @Option(help: "A vocabulary GGUF to take tokenizer metadata from (e.g. llama.cpp's ggml-vocab-llama-spm.gguf).") var vocab: String
    @Option(help: "A tokenizer folder (tokenizer.json) for the llava-hf copy.") var tokenizer: String = "Tests/Fixtures/llava-hf/tiny-gqa-crop"
    @Option(help: "Which parts: any of q4_0, q8_0, mmproj, hf (comma-separated).") var parts: String = "q4_0,q8_0,mmproj,hf"
    @Option(help: "Layers of the language model (32 is the real shape; fewer for quick checks).") var layers: Int = 32

    func run() throws {
        try runReportingErrors {
            let dir = URL(fileURLWithPath: output)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var shape = RandomModelShape.llava15_7B
            shape.layers = layers
            let want = Set(parts.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
            let vocabFile = try GGUFFile(path: vocab)
            func say(_ s: String) { FileHandle.standardError.write(Data("\r\u{1B}[K\(s)".utf8)) }
            for (name, type) in [("q4_0", GGMLType.q4_0), ("q8_0", .q8_0)] where want.contains(name) {
                try RandomModel.writeLanguageModel(shape, type: type, vocab: vocabFile, to: dir.appendingPathComponent("llava-7b-shaped-\(name).gguf")) { say("\(name): \($0)") }
            }
            if want.contains("mmproj") { say("mmproj"); try RandomModel.writeMMProj(shape, to: dir.appendingPathComponent("mmproj-7b-shaped-f16.gguf")) }
            if want.contains("hf") {
                try RandomModel.writeLlavaHF(shape, to: dir.appendingPathComponent("llava-7b-shaped-hf"), tokenizerFrom: URL(fileURLWithPath: tokenizer)) { say($0) }
            }
            say("wrote \(output)\n")
        }
    }
}
