// Ids identical to HF tokenizers on the same tokenizer.json, for both LLaMA layouts
// (legacy Prepend/Replace normalizer, Metaspace prepend_scheme "first"); cases cover unicode,
// emoji, runs of spaces, tabs, newlines, digits and added tokens. Fixtures: Tools/make_llava_fixtures.py.
import Foundation
import LlavaFormats
import LlavaTokenizer
import Testing

let tokenizerFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/llava-hf")

struct TokenizerCase: Sendable, CustomStringConvertible {
    let kind: String
    let text: String
    let ids: [Int]
    let idsNoSpecial: [Int]
    let decoded: String
    var description: String { "\(kind): \(text.debugDescription)" }
}

let tokenizerCases: [TokenizerCase] = {
    guard let data = FileManager.default.contents(atPath: tokenizerFixtures.appendingPathComponent("tokenizer-cases.json").path),
          let json = try? JSONValue.parse(data) else { return [] }
    var out: [TokenizerCase] = []
    for kind in ["legacy", "first"] {
        for c in json[kind]?.array ?? [] {
            out.append(TokenizerCase(kind: kind, text: c["text"]?.string ?? "",
                                     ids: c["ids"]?.array?.compactMap { $0.int } ?? [],
                                     idsNoSpecial: c["ids_no_special"]?.array?.compactMap { $0.int } ?? [],
                                     decoded: c["decoded"]?.string ?? ""))
        }
    }
    return out
}()

@Suite struct TokenizerParityTests {
    static func tokenizer(_ kind: String) throws -> BPETokenizer {
        try TokenizerJSON.load(path: tokenizerFixtures.appendingPathComponent("tokenizer-\(kind)/tokenizer.json").path)
    }

    @Test func casesArePresent() { #expect(tokenizerCases.count == 24) }

    @Test(arguments: tokenizerCases)
    func idsMatchHFTokenizers(_ c: TokenizerCase) throws {
        let tok = try Self.tokenizer(c.kind)
        #expect(tok.encode(c.text, addSpecialTokens: true) == c.ids)
        #expect(tok.encode(c.text, addSpecialTokens: false) == c.idsNoSpecial)
    }

    @Test(arguments: tokenizerCases)
    func decodeMatchesHFTokenizers(_ c: TokenizerCase) throws {
        let tok = try Self.tokenizer(c.kind)
        #expect(tok.decode(c.idsNoSpecial, skipSpecialTokens: true) == c.decoded)
    }

    @Test func garbageFilesAreClearErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let bad = dir.appendingPathComponent("tokenizer.json")
        try Data("{not json".utf8).write(to: bad)
        #expect(throws: TokenizerError.self) { try TokenizerJSON.load(path: bad.path) }
        try Data(#"{"model": {"type": "Unigram", "vocab": []}}"#.utf8).write(to: bad)
        #expect(throws: TokenizerError.unsupported("model type Unigram (only BPE)")) { try TokenizerJSON.load(path: bad.path) }
        #expect(throws: TokenizerError.self) { try TokenizerJSON.load(path: dir.appendingPathComponent("missing.json").path) }
    }
}
