// Loads a BPETokenizer from HF `tokenizer.json` (+ `tokenizer_config.json` beside it when present).
import Foundation
import LlavaFormats

public enum TokenizerJSON {
    public static func load(path: String) throws -> BPETokenizer {
        let (file, root, config) = try read(path: path)
        return try build(root, config: config, path: file.path)
    }

    /// tokenizer.json (the file, or the folder holding it) parsed, with tokenizer_config.json beside it when present.
    static func read(path: String) throws -> (file: URL, root: JSONValue, config: JSONValue?) {
        var file = URL(fileURLWithPath: path)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            file = file.appendingPathComponent("tokenizer.json")
        }
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw TokenizerError.unreadable(file.path, "file not found")
        }
        let root: JSONValue
        do { root = try JSONValue.parse(data) } catch { throw TokenizerError.unreadable(file.path, "not valid JSON") }
        let configURL = file.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json")
        let config = FileManager.default.contents(atPath: configURL.path).flatMap { try? JSONValue.parse($0) }
        return (file, root, config)
    }

    static func build(_ root: JSONValue, config: JSONValue?, path: String) throws -> BPETokenizer {
        guard let model = root["model"] else { throw TokenizerError.unreadable(path, "no \"model\" section") }
        let type = model["type"]?.string ?? "BPE"
        guard type == "BPE" else { throw TokenizerError.unsupported("model type \(type) (only BPE)") }
        guard let vocabObject = model["vocab"]?.object else { throw TokenizerError.unreadable(path, "no model.vocab") }
        var vocab: [String: Int] = [:]
        for (k, v) in vocabObject {
            guard let i = v.int, i >= 0 else { throw TokenizerError.unreadable(path, "bad id for \(k)") }
            vocab[k] = i
        }
        var merges: [(String, String)] = []
        for m in model["merges"]?.array ?? [] {
            if let s = m.string {
                // "a b"; a token never contains a plain space in this family (spaces are ▁).
                guard let sp = s.firstIndex(of: " ") else { throw TokenizerError.unreadable(path, "bad merge \(s)") }
                merges.append((String(s[..<sp]), String(s[s.index(after: sp)...])))
            } else if let a = m.array, a.count == 2, let x = a[0].string, let y = a[1].string {
                merges.append((x, y))
            } else { throw TokenizerError.unreadable(path, "bad merge entry") }
        }
        if let d = model["dropout"], let p = d.double, p > 0 { throw TokenizerError.unsupported("BPE dropout") }
        if let c = model["continuing_subword_prefix"]?.string, !c.isEmpty { throw TokenizerError.unsupported("continuing_subword_prefix") }
        if let c = model["end_of_word_suffix"]?.string, !c.isEmpty { throw TokenizerError.unsupported("end_of_word_suffix") }

        var added: [AddedToken] = []
        for t in root["added_tokens"]?.array ?? [] {
            guard let content = t["content"]?.string, let id = t["id"]?.int else { continue }
            added.append(AddedToken(content: content, id: id, special: t["special"]?.bool ?? false,
                                    lstrip: t["lstrip"]?.bool ?? false, rstrip: t["rstrip"]?.bool ?? false,
                                    singleWord: t["single_word"]?.bool ?? false))
        }

        let normalizer = try normalizerSteps(root["normalizer"])
        let metaspace = try metaspaceSettings(root["pre_tokenizer"])

        var idOf: [String: Int] = vocab
        for t in added { idOf[t.content] = t.id }
        func tokenId(_ key: String) -> Int? {
            guard let v = config?[key] else { return nil }
            if let s = v.string { return idOf[s] }
            if let s = v["content"]?.string { return idOf[s] }
            return nil
        }
        let bos = tokenId("bos_token") ?? idOf["<s>"]
        let eos = tokenId("eos_token") ?? idOf["</s>"]
        let template = try postProcessorTemplate(root["post_processor"], ids: idOf)

        let tok = try BPETokenizer(
            vocab: vocab, merges: merges, byteFallback: model["byte_fallback"]?.bool ?? false,
            unk: model["unk_token"]?.string, fuseUnk: model["fuse_unk"]?.bool ?? false,
            ignoreMerges: model["ignore_merges"]?.bool ?? false,
            normalizer: normalizer, metaspace: metaspace, addedTokens: added,
            template: template, bos: bos, eos: eos.map { [$0] } ?? [])
        return tok
    }

    static func normalizerSteps(_ n: JSONValue?) throws -> [NormalizerStep] {
        guard let n, !n.isNull else { return [] }
        let type = n["type"]?.string ?? ""
        switch type {
        case "Sequence": return try (n["normalizers"]?.array ?? []).flatMap { try normalizerSteps($0) }
        case "Prepend": return [.prepend(n["prepend"]?.string ?? "▁")]
        case "Replace":
            guard let pattern = n["pattern"]?["String"]?.string else { throw TokenizerError.unsupported("Replace normalizer with a regex pattern") }
            return [.replace(pattern, n["content"]?.string ?? "")]
        case "NFC", "NFKC", "NFD", "NFKD", "Lowercase", "Strip", "StripAccents", "BertNormalizer":
            throw TokenizerError.unsupported("normalizer \(type)")
        default: throw TokenizerError.unsupported("normalizer \(type)")
        }
    }

    static func metaspaceSettings(_ p: JSONValue?) throws -> MetaspaceSettings? {
        guard let p, !p.isNull else { return nil }
        let type = p["type"]?.string ?? ""
        if type == "Sequence" {
            let list = p["pretokenizers"]?.array ?? []
            if list.count == 1 { return try metaspaceSettings(list[0]) }
            throw TokenizerError.unsupported("pre-tokenizer sequence of \(list.count)")
        }
        guard type == "Metaspace" else { throw TokenizerError.unsupported("pre-tokenizer \(type)") }
        var s = MetaspaceSettings()
        if let r = p["replacement"]?.string { s.replacement = r }
        if let scheme = p["prepend_scheme"]?.string {
            guard let v = PrependScheme(rawValue: scheme) else { throw TokenizerError.unsupported("prepend_scheme \(scheme)") }
            s.prependScheme = v
        } else if let add = p["add_prefix_space"]?.bool {
            s.prependScheme = add ? .always : .never
        }
        s.split = p["split"]?.bool ?? true
        return s
    }

    /// The single-sequence template: special token ids, with nil where the text goes.
    static func postProcessorTemplate(_ p: JSONValue?, ids: [String: Int]) throws -> [Int?] {
        guard let p, !p.isNull else { return [nil] }
        let type = p["type"]?.string ?? ""
        switch type {
        case "TemplateProcessing":
            var out: [Int?] = []
            for item in p["single"]?.array ?? [] {
                if item["Sequence"] != nil { out.append(nil) }
                else if let sp = item["SpecialToken"]?["id"]?.string {
                    let specialIds = p["special_tokens"]?[sp]?["ids"]?.array?.compactMap { $0.int }
                    if let list = specialIds, !list.isEmpty { out.append(contentsOf: list.map { Optional($0) }) }
                    else if let id = ids[sp] { out.append(id) }
                    else { throw TokenizerError.unsupported("post-processor token \(sp) not in vocabulary") }
                }
            }
            if !out.contains(where: { $0 == nil }) { out.append(nil) }
            return out
        case "Sequence":
            var t: [Int?] = [nil]
            for sub in p["processors"]?.array ?? [] where sub["type"]?.string == "TemplateProcessing" {
                t = try postProcessorTemplate(sub, ids: ids)
            }
            return t
        case "ByteLevel": return [nil]
        default: throw TokenizerError.unsupported("post-processor \(type)")
        }
    }
}
