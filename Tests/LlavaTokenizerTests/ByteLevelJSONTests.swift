// A byte-level tokenizer.json (SmolLM2's vocabulary as scripts/assemble_smol_llava.py writes it, Digits + ByteLevel
// pre-tokenizer) tokenizes id for id as the GGUF it came from does under llama.cpp's rules, the added <image> token
// included; a pre-tokenizer we do not implement is a clear error.
import Foundation
import LlavaFormats
import LlavaTokenizer
import Testing

@Suite("Byte-level tokenizer.json")
struct ByteLevelJSONTests {
    static let cache = ProcessInfo.processInfo.environment["SWIFT_LLAVA_CACHE"]
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/swift-llava").path

    @Test("SmolLM2's tokenizer.json = its GGUF vocabulary")
    func sameAsGGUF() throws {
        let json = try TokenizerJSON.loadAny(path: Self.cache + "/smol-llava-base/tokenizer.json")
        let gguf = try GGUFTokenizer(gguf: GGUFFile(path: Self.cache + "/SmolLM2-135M-Instruct.Q4_1.gguf"))
        let texts = ["Hello world", "How many red shapes are there?\nAnswer in a single word or a short phrase.",
                     "<|im_start|>user\n12345 apples, 3.14 π — naïve café\t\ttabs  and   spaces<|im_end|>\n",
                     "  leading spaces", "émoji 🙂 and 中文", "don't won't I'll", ""]
        for t in texts {
            #expect(json.encode(t, addSpecialTokens: true) == gguf.encode(t, addSpecialTokens: true), "\(t)")
            // Text round-trips (control tokens are not printed back, as llama.cpp renders them).
            if !t.contains("<|") { #expect(json.decode(json.encode(t, addSpecialTokens: true), skipSpecialTokens: false) == t) }
        }
        #expect(json.encode("<image>", addSpecialTokens: true) == [49152])
        #expect(json.eosIds == [2])
    }

    @Test("an unknown pre-tokenizer is refused by name")
    func unknownPre() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = """
            {"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
             "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, {"type": "ByteLevel"}]}}
            """
        try Data(text.utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
        #expect(throws: (any Error).self) { try TokenizerJSON.loadAny(path: dir.path) }
    }
}
