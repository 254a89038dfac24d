// llama.cpp's flash attention (its default on a CPU: -fa auto turns it on) against llama.cpp's own tokens, recorded
// by Tools/make_llamacpp_fixtures.py --flash-attn on (files ending -fa.json): SmolLM2 Q4_1 from the package, and the
// llama-quantize conversions where they are in the model cache. Each level reproduces one build, as without flash
// attention: avx512 and portable an AVX-512 build's tokens, avx2 and avxvnni an AVX2 build's. The short prompts
// (under 64 tokens, under 256 cells) take llama.cpp's one-chunk kernel; the long ones (-long-: 64 to 300 tokens,
// continued past 256 cells) its tiled kernel for the prompt and its split-KV kernel for decoding past 256 cells.
import Foundation
import LlavaFormats
import LlavaGeneration
import LlavaModels
import LlavaTensor
import Testing

@Suite struct FlashAttentionParityTests {
    static func cases(_ file: String) -> [(prompt: [Int], greedy: [Int])] {
        let url = Fixtures.root.appendingPathComponent("llamacpp/" + file)
        guard let d = FileManager.default.contents(atPath: url.path), let j = try? JSONValue.parse(d) else { return [] }
        return (j["cases"]?.array ?? []).map {
            ($0["prompt_tokens"]?.array?.compactMap(\.int) ?? [], $0["greedy"]?.array?.compactMap(\.int) ?? [])
        }
    }

    static func file(_ name: String, _ level: CPULevel, long: Bool = false) -> String {
        name + (long ? "-long" : "") + (level == .avx2 || level == .avxvnni ? "-avx2" : "") + "-fa.json"
    }

    /// Greedy tokens of `path` with flash attention on, against the fixture, at every level this CPU executes.
    /// The long prompts (64 to 300 tokens, continued past 256 cells) take llama.cpp's tiled and split-KV kernels.
    static func check(_ path: String, name: String, long: Bool = false) throws {
        for level in CPULevel.executable {
            try CPULevel.with(level) {
                let model = try CheckpointLoader.loadGGUF(model: path, mmproj: nil)
                #expect(model.language.flashAttention == .on)   // the default, as llama.cpp's -fa auto on a CPU
                model.language.flashAttentionSplits = 2   // the fixtures' n_threads
                if long {
                    let cases = LongPromptCase.load(file(name, level, long: true))
                    #expect(cases.count == 4, "\(file(name, level, long: true))")
                    for (i, c) in cases.enumerated() { try c.check(model, "\(name) at \(level), long prompt \(i)") }
                    return
                }
                let cases = Self.cases(file(name, level))
                #expect(cases.count == 7, "\(file(name, level))")
                for (i, c) in cases.enumerated() {
                    let r = try Generator(model: model).generate(ids: c.prompt, imageFeatures: [],
                                                                 options: GenerationOptions(maxTokens: c.greedy.count))
                    #expect(r.tokenIds == c.greedy, "\(name) at \(level), prompt \(i)")
                }
            }
        }
    }

    @Test func kernelChoice() {
        // llama.cpp's choice (ops.cpp): split-KV for one token over a 512-cell view, tiled from 64 tokens.
        #expect(Attention.flashKernel(queries: 1, cells: 256) == .oneChunk)
        #expect(Attention.flashKernel(queries: 1, cells: 257) == .splitKV)
        #expect(Attention.flashKernel(queries: 63, cells: 400) == .oneChunk)
        #expect(Attention.flashKernel(queries: 64, cells: 64) == .tiled)
        #expect(Attention.flashKernel(queries: 2, cells: 600) == .oneChunk)
        #expect(LlamaModel.ubatches(1025) == [0..<512, 512..<1024, 1024..<1025])
    }

    @Test func fixturesDifferFromFlashAttentionOff() {
        // Flash attention changes llama.cpp's own tokens (so the mode is worth matching): 4 of 7 prompts on the
        // AVX-512 build.
        let on = Self.cases("smollm2-fa.json"), off = Self.cases("smollm2.json")
        #expect(on.count == 7 && off.count == 7)
        #expect(zip(on, off).filter { $0.greedy != $1.greedy }.count == 4)
    }

    @Test("SmolLM2 Q4_1 with flash attention: llama.cpp's greedy tokens at every level")
    func smollm2() throws {
        try #require(FileManager.default.fileExists(atPath: smolPath), "run scripts/fetch-test-models.sh")
        try Self.check(smolPath, name: "smollm2")
    }

    @Test("SmolLM2 Q4_1, long prompts with flash attention: the tiled and split-KV kernels' tokens at every level")
    func smollm2Long() throws {
        try #require(FileManager.default.fileExists(atPath: smolPath), "run scripts/fetch-test-models.sh")
        try Self.check(smolPath, name: "smollm2", long: true)
    }

    @Test(.enabled(if: LlamaCppConversionTests.present, "needs the llama-quantize conversions in the model cache"),
          arguments: LlamaCppConversionTests.names, [false, true])
    func conversions(_ name: String, long: Bool) throws {
        try Self.check("\(LlamaCppConversionTests.folder)/smol-\(name).gguf", name: "smollm2-\(name.lowercased())",
                       long: long)
    }
}
