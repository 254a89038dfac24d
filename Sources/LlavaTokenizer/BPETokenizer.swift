// SentencePiece-style BPE as HF tokenizers runs it from a tokenizer.json (the LLaMA/Vicuna kind):
// added tokens split out first, then the normalizer (Prepend "▁" + Replace " " -> "▁") or the
// Metaspace pre-tokenizer (prepend_scheme always/first/never, optional split), then BPE by merge
// rank over Unicode scalars with byte fallback (<0xXX>), then the TemplateProcessing post-processor.
// Mirrors tokenizers' models/bpe, normalizers/{prepend,replace}, pre_tokenizers/metaspace.
import Foundation
import LlavaFormats

public enum NormalizerStep: Sendable, Equatable {
    case prepend(String)
    case replace(String, String)
}

public enum PrependScheme: String, Sendable { case always, first, never }

public struct MetaspaceSettings: Sendable, Equatable {
    public var replacement: String = "▁"
    public var prependScheme: PrependScheme = .always
    public var split: Bool = true
}

public final class BPETokenizer: Tokenizer, @unchecked Sendable {
    public let idToToken: [String]
    public let tokenToId: [String: Int]
    /// (left id, right id) -> (rank, merged id)
    let merges: [UInt64: (rank: Int, id: Int)]
    let byteFallback: Bool
    let byteTokenIds: [Int]?  // <0x00>..<0xFF>
    let unkId: Int?
    let fuseUnk: Bool
    let ignoreMerges: Bool
    let normalizer: [NormalizerStep]
    let metaspace: MetaspaceSettings?
    let added: AddedTokenMatcher
    public let addedTokens: [AddedToken]
    /// Token ids the post-processor puts around a single sequence (nil marks the sequence).
    public private(set) var template: [Int?]
    public let bosId: Int?
    public let eosIds: [Int]

    public var vocabularySize: Int { idToToken.count }

    public init(
        vocab: [String: Int], merges mergePairs: [(String, String)], byteFallback: Bool, unk: String?, fuseUnk: Bool,
        ignoreMerges: Bool = false, normalizer: [NormalizerStep], metaspace: MetaspaceSettings?,
        addedTokens: [AddedToken], template: [Int?], bos: Int?, eos: [Int]
    ) throws {
        var all = vocab
        for t in addedTokens { all[t.content] = t.id }
        let size = (all.values.max() ?? -1) + 1
        var names = [String](repeating: "", count: size)
        for (t, i) in all where i >= 0 { names[i] = t }
        idToToken = names
        tokenToId = all
        var m: [UInt64: (Int, Int)] = [:]
        for (rank, (a, b)) in mergePairs.enumerated() {
            guard let ia = all[a], let ib = all[b], let im = all[a + b] else {
                throw TokenizerError.unsupported("merge \"\(a) \(b)\" names a token outside the vocabulary")
            }
            let key = UInt64(UInt32(ia)) << 32 | UInt64(UInt32(ib))
            if m[key] == nil { m[key] = (rank, im) }
        }
        merges = m
        self.byteFallback = byteFallback
        if byteFallback {
            let ids = (0..<256).map { all[String(format: "<0x%02X>", $0)] }
            byteTokenIds = ids.allSatisfy { $0 != nil } ? ids.map { $0! } : nil
        } else { byteTokenIds = nil }
        unkId = unk.flatMap { all[$0] }
        self.fuseUnk = fuseUnk
        self.ignoreMerges = ignoreMerges
        self.normalizer = normalizer
        self.metaspace = metaspace
        self.addedTokens = addedTokens
        added = AddedTokenMatcher(addedTokens)
        self.template = template
        bosId = bos
        eosIds = eos
    }

    /// Overrides the post-processor's BOS/EOS placement (tokenizer_config's add_bos_token/add_eos_token).
    public func setSpecialTokens(addBos: Bool, addEos: Bool) {
        var t: [Int?] = []
        if addBos, let b = bosId { t.append(b) }
        t.append(nil)
        if addEos, let e = eosIds.first { t.append(e) }
        template = t
    }

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var ids: [Int] = []
        if addSpecialTokens { for case let id? in template.prefix(while: { $0 != nil }) { ids.append(id) } }
        for piece in added.split(text) {
            switch piece {
            case .token(let id): ids.append(id)
            case .text(let scalars, let origin): encodeText(scalars, atOrigin: origin, into: &ids)
            }
        }
        if addSpecialTokens, let n = template.firstIndex(where: { $0 == nil }) {
            for case let id? in template[(n + 1)...] { ids.append(id) }
        }
        return ids
    }

    func encodeText(_ input: [Unicode.Scalar], atOrigin: Bool, into ids: inout [Int]) {
        var s = input
        for step in normalizer {
            switch step {
            case .prepend(let p): if !s.isEmpty { s = Array(p.unicodeScalars) + s }
            case .replace(let a, let b): s = Self.replace(s, Array(a.unicodeScalars), Array(b.unicodeScalars))
            }
        }
        var words: [[Unicode.Scalar]] = [s]
        if let ms = metaspace {
            let rep = Array(ms.replacement.unicodeScalars)
            s = Self.replace(s, [" "], rep)
            let prepend = ms.prependScheme == .always || (ms.prependScheme == .first && atOrigin)
            if prepend && !s.starts(with: rep) { s = rep + s }
            words = ms.split ? Self.splitBefore(s, rep) : [s]
        }
        for w in words where !w.isEmpty { bpe(w, into: &ids) }
    }

    static func replace(_ s: [Unicode.Scalar], _ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard !a.isEmpty else { return s }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            if i + a.count <= s.count && s[i] == a[0] && Array(s[i..<(i + a.count)]) == a {
                out.append(contentsOf: b); i += a.count
            } else { out.append(s[i]); i += 1 }
        }
        return out
    }

    /// Metaspace split: each replacement character starts a new word (tokenizers' MergedWithNext).
    static func splitBefore(_ s: [Unicode.Scalar], _ rep: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var cur: [Unicode.Scalar] = []
        var i = 0
        while i < s.count {
            if i + rep.count <= s.count && Array(s[i..<(i + rep.count)]) == rep {
                if !cur.isEmpty { words.append(cur) }
                cur = rep; i += rep.count
            } else { cur.append(s[i]); i += 1 }
        }
        if !cur.isEmpty { words.append(cur) }
        return words
    }

    func bpe(_ word: [Unicode.Scalar], into ids: inout [Int]) {
        if ignoreMerges, let id = tokenToId[String(String.UnicodeScalarView(word))] { ids.append(id); return }
        var symbols: [Int] = []
        symbols.reserveCapacity(word.count)
        var lastWasUnk = false
        for c in word {
            if let id = tokenToId[String(c)] { symbols.append(id); lastWasUnk = false; continue }
            if let bytes = byteTokenIds {
                for b in String(c).utf8 { symbols.append(bytes[Int(b)]) }
                lastWasUnk = false
            } else if let u = unkId {
                if !(fuseUnk && lastWasUnk) { symbols.append(u) }
                lastWasUnk = true
            }
        }
        // Merge the lowest-ranked adjacent pair until none is left (ties: leftmost first).
        while symbols.count > 1 {
            var best = Int.max, at = -1, merged = 0
            for i in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[i])) << 32 | UInt64(UInt32(symbols[i + 1]))
                if let m = merges[key], m.rank < best { best = m.rank; at = i; merged = m.id }
            }
            if at < 0 { break }
            symbols[at] = merged
            symbols.remove(at: at + 1)
        }
        ids.append(contentsOf: symbols)
    }

    /// SentencePiece-style scores for a GGUF `llama` vocabulary: the token a merge of rank r creates
    /// scores -r (earlier merges win, as in BPE); base characters and specials score 0.
    public var mergeScores: [Float] {
        var scores = [Float](repeating: 0, count: idToToken.count)
        for (_, m) in merges where m.id < scores.count {
            let s = -Float(m.rank + 1)
            if scores[m.id] == 0 || s > scores[m.id] { scores[m.id] = s }
        }
        return scores
    }

    /// Whether text gets a "▁" dummy prefix (GGUF's add_space_prefix).
    public var addsSpacePrefix: Bool { stripsLeadingSpace }

    // MARK: decoding

    public func piece(_ id: Int) -> String { id >= 0 && id < idToToken.count ? idToToken[id] : "" }

    public func isSpecial(_ id: Int) -> Bool { addedTokens.contains { $0.id == id && $0.special } }

    /// Bytes a token contributes to the output text (▁ -> space, <0xXX> -> that byte).
    public func bytes(for id: Int) -> [UInt8] {
        let p = piece(id)
        if byteTokenIds != nil, p.count == 6, p.hasPrefix("<0x"), p.hasSuffix(">"), let b = UInt8(p.dropFirst(3).prefix(2), radix: 16) {
            return [b]
        }
        let rep = metaspace?.replacement ?? "▁"
        return Array(p.replacingOccurrences(of: rep, with: " ").utf8)
    }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) -> String {
        var out: [UInt8] = []
        for id in ids {
            if skipSpecialTokens && isSpecial(id) { continue }
            out.append(contentsOf: bytes(for: id))
        }
        // The Strip decoder removes the one space the dummy prefix put in front.
        if out.first == 0x20 && stripsLeadingSpace { out.removeFirst() }
        return String(decoding: out, as: UTF8.self)
    }

    public var stripsLeadingSpace: Bool {
        if let ms = metaspace { return ms.prependScheme != .never }
        return normalizer.contains { if case .prepend = $0 { return true } else { return false } }
    }
}
