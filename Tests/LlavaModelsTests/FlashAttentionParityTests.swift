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
    /// llama.cpp -fa on tokens (short prompts) or logits (long: 64 to 300 tokens, continued past 256 cells, where
    /// llama.cpp's tiled and split-KV kernels run) of `path`, at every level this CPU executes.
    static func check(_ path: String, name: String, long: Bool = false) throws {
        try LlamaCppConversionTests.check(path, name: name, long: long, portable: true, flash: .on)
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
        let on = LlamaCppConversionTests.cases("smollm2-fa.json"), off = LlamaCppConversionTests.cases("smollm2.json")
        #expect(on.count == 7 && off.count == 7)
        #expect(zip(on, off).filter { $0.greedy != $1.greedy }.count == 4)
    }

    @Test("SmolLM2 Q4_1 with flash attention: llama.cpp's greedy tokens at every level")
    func smollm2() throws {
        try #require(FileManager.default.fileExists(atPath: smolPath), "run scripts/fetch-test-models.sh")
        // On unless asked otherwise, as llama.cpp's -fa auto on a CPU.
        #expect(try CheckpointLoader.loadGGUF(model: smolPath, mmproj: nil).language.flashAttention == .on)
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
