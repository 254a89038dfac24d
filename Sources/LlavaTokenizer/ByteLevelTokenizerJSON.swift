// HF `tokenizer.json` files of the byte-level BPE family (GPT-2, SmolLM2, LLaMA 3, Qwen): the vocabulary, merges
// and added tokens are those llama.cpp's GGUF converter copies out of the same file, so they run through the
// byte-level BPE of GGUFTokenizer with the pre-tokenizer the JSON's `pre_tokenizer` names (a bare ByteLevel is
// GPT-2's regex; Digits(individual) + ByteLevel is SmolLM2's "smollm"). Added tokens marked special become control
// tokens, the others user-defined, as the converter marks them.
import Foundation
import LlavaFormats

extension TokenizerJSON {
    /// Either family: SentencePiece-style BPE (BPETokenizer) or byte-level BPE (GGUFTokenizer).
    public static func loadAny(path: String) throws -> any Tokenizer {
        let (file, root, config) = try read(path: path)
        guard let pre = byteLevelPre(root["pre_tokenizer"]) else {
            return try build(root, config: config, path: file.path)
        }
        return try byteLevel(root, config: config, pre: pre, path: file.path)
    }

    /// The llama.cpp pre-tokenizer name for a byte-level `pre_tokenizer`, nil when it is not byte-level.
    static func byteLevelPre(_ p: JSONValue?) -> String? {
        guard let p, !p.isNull else { return nil }
        let type = p["type"]?.string ?? ""
        if type == "ByteLevel" { return "gpt2" }
        guard type == "Sequence", let list = p["pretokenizers"]?.array else { return nil }
        let types = list.map { $0["type"]?.string ?? "" }
        if types == ["Digits", "ByteLevel"], list[0]["individual_digits"]?.bool == true { return "smollm" }
        if types == ["ByteLevel"] { return "gpt2" }
        return nil
    }

    static func byteLevel(_ root: JSONValue, config: JSONValue?, pre: String, path: String) throws -> GGUFTokenizer {
        guard let model = root["model"], model["type"]?.string ?? "BPE" == "BPE",
              let vocab = model["vocab"]?.object else { throw TokenizerError.unreadable(path, "no BPE model.vocab") }
        var size = 0
        for (_, v) in vocab { size = max(size, (v.int ?? -1) + 1) }
        let added = root["added_tokens"]?.array ?? []
        for t in added { size = max(size, (t["id"]?.int ?? -1) + 1) }
        guard size > 0, size <= 10_000_000 else { throw TokenizerError.unreadable(path, "vocabulary of \(size) ids") }
        var tokens = [String](repeating: "", count: size)
        var types = [GGUFTokenType](repeating: .normal, count: size)
        for (k, v) in vocab {
            guard let i = v.int, i >= 0 else { throw TokenizerError.unreadable(path, "bad id for \(k)") }
            tokens[i] = k
        }
        for t in added {
            guard let content = t["content"]?.string, let id = t["id"]?.int, id >= 0 else { continue }
            tokens[id] = content
            types[id] = (t["special"]?.bool ?? false) ? .control : .userDefined
        }
        for i in 0..<size where tokens[i].isEmpty { tokens[i] = "[PAD\(i)]"; types[i] = .unused }
        var merges: [String] = []
        for m in model["merges"]?.array ?? [] {
            if let s = m.string { merges.append(s) }
            else if let a = m.array, a.count == 2, let x = a[0].string, let y = a[1].string {
                merges.append(x + " " + y)
            }
            else { throw TokenizerError.unreadable(path, "bad merge entry") }
        }
        var idOf: [String: Int] = [:]
        for (i, t) in tokens.enumerated() where idOf[t] == nil { idOf[t] = i }
        func tokenId(_ key: String) -> Int? {
            guard let v = config?[key] else { return nil }
            if let s = v.string { return idOf[s] }
            return v["content"]?.string.flatMap { idOf[$0] }
        }
        let eos = tokenId("eos_token")
        return try GGUFTokenizer(kind: .bpe, tokens: tokens, types: types, scores: [], merges: merges, pre: pre,
                                 bos: tokenId("bos_token"), eos: eos.map { [$0] } ?? [],
                                 addBos: config?["add_bos_token"]?.bool ?? false, addEos: false, addSpacePrefix: false)
    }
}
