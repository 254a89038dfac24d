// Tokenizers from GGUF metadata against llama.cpp's own tokenizer test cases
// (models/ggml-vocab-*.gguf with their .inp/.out files, from the llama-cpp-python source package,
// fetched by scripts/fetch-test-models.sh): ids identical, add_special off, parse_special off,
// as llama.cpp's test-tokenizer-0 runs them.
import Foundation
import LlavaFormats
import LlavaTokenizer
import Testing

let modelCache = URL(fileURLWithPath: ProcessInfo.processInfo.environment["SWIFT_LLAVA_CACHE"]
    ?? (NSHomeDirectory() + "/.cache/swift-llava"))
let vocabDir = modelCache.appendingPathComponent("llama.cpp-vocab")

func llamaCppCases(_ name: String) throws -> [(String, [Int])] {
    let inp = String(decoding: try Data(contentsOf: vocabDir.appendingPathComponent("ggml-vocab-\(name).gguf.inp")), as: UTF8.self)
    let out = String(decoding: try Data(contentsOf: vocabDir.appendingPathComponent("ggml-vocab-\(name).gguf.out")), as: UTF8.self)
    var texts = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
    if texts.last == "" { texts.removeLast() }
    let lines = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    return texts.enumerated().map { i, t in
        (t, i < lines.count ? lines[i].split(separator: " ").compactMap { Int($0) } : [-1])
    }
}

@Suite struct GGUFTokenizerTests {
    @Test(arguments: ["llama-spm", "phi-3", "gpt-2", "llama-bpe", "refact", "starcoder"])
    func matchesLlamaCppTestCases(_ name: String) throws {
        let tok = try GGUFTokenizer(gguf: GGUFFile(path: vocabDir.appendingPathComponent("ggml-vocab-\(name).gguf").path))
        let cases = try llamaCppCases(name)
        #expect(cases.count > 30)
        var failed = 0
        for (text, ids) in cases {
            let mine = tok.encode(text, addSpecialTokens: false, parseSpecial: false)
            if mine != ids {
                failed += 1
                Issue.record("\(name) \(text.debugDescription): \(mine) != \(ids)")
            }
        }
        #expect(failed == 0)
    }

    @Test func specialTokensParseOnlyWhenAsked() throws {
        let tok = try GGUFTokenizer(gguf: GGUFFile(path: modelCache.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf").path))
        let withSpecial = tok.encode("<|im_start|>user\nhi<|im_end|>", addSpecialTokens: false, parseSpecial: true)
        #expect(withSpecial.first == 1 && withSpecial.last == 2)
        let without = tok.encode("<|im_start|>", addSpecialTokens: false, parseSpecial: false)
        #expect(without.count > 1)
        #expect(tok.decode(tok.encode("Hello, world! 123", addSpecialTokens: false), skipSpecialTokens: true) == "Hello, world! 123")
    }
}
