// Tokenizers from GGUF metadata, as llama.cpp runs them (src/llama-vocab.cpp):
//  - `llama`: SentencePiece BPE by token score (llm_tokenizer_spm): characters merged pairwise,
//    highest-scoring vocabulary pair first; pieces left unknown fall back to <0xXX> byte tokens;
//    spaces escaped to ▁, with a space prefix at the start and after each special token.
//  - `gpt2`: byte-level BPE by merge rank (llm_tokenizer_bpe) after the pre-tokenizer
//    `tokenizer.ggml.pre` names.
// Special tokens (control, user-defined) are split out first, longest first, as
// tokenizer_st_partition does; control tokens only when `parseSpecial` is on.
import LlavaFormats

public enum GGUFTokenType: Int, Sendable { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

public final class GGUFTokenizer: Tokenizer, @unchecked Sendable {
    public enum Kind: Sendable { case spm, bpe }
    public let kind: Kind
    public let tokens: [String]
    public let types: [GGUFTokenType]
    let scores: [Float]
    let tokenToId: [String: Int]
    let mergeRanks: [String: Int]   // "left right" -> rank
    let stages: [PreTokenizerStage]
    let ignoreMerges: Bool
    public let bosId: Int?
    public let eosIds: [Int]
    public let addBos: Bool
    public let addEos: Bool
    public let addSpacePrefix: Bool
    /// (text, id, isControl), longest text first.
    let specials: [([Unicode.Scalar], Int, Bool)]
    let byteEncoder: [Unicode.Scalar]   // byte -> GPT-2 printable character
    let byteDecoder: [Unicode.Scalar: UInt8]
    /// Parse control tokens in encode(_:addSpecialTokens:) (llama.cpp's parse_special).
    public var parseSpecial = true

    public var vocabularySize: Int { tokens.count }

    /// A SentencePiece-by-score (`spm`) or byte-level BPE (`bpe`) tokenizer from its parts.
    public init(kind: Kind, tokens toks: [String], types: [GGUFTokenType], scores: [Float], merges: [String],
                pre: String, bos: Int?, eos: [Int], addBos: Bool, addEos: Bool, addSpacePrefix: Bool) throws {
        self.kind = kind
        tokens = toks
        let n = toks.count
        self.types = (0..<n).map { $0 < types.count ? types[$0] : .normal }
        self.scores = (0..<n).map { $0 < scores.count ? scores[$0] : 0 }
        var t2i: [String: Int] = [:]
        for (i, t) in toks.enumerated() where t2i[t] == nil { t2i[t] = i }
        tokenToId = t2i
        var be = [Unicode.Scalar](repeating: " ", count: 256)
        var bd: [Unicode.Scalar: UInt8] = [:]
        var extra: UInt32 = 0
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            let s = Unicode.Scalar(printable ? UInt32(b) : 256 + extra)!
            if !printable { extra += 1 }
            be[b] = s; bd[s] = UInt8(b)
        }
        byteEncoder = be; byteDecoder = bd
        if kind == .bpe {
            guard let (st, ignore) = PreTokenizerStage.stages(forPre: pre) else {
                throw TokenizerError.unsupported("pre-tokenizer \"\(pre)\"")
            }
            stages = st; ignoreMerges = ignore
            var ranks: [String: Int] = [:]
            for (i, m) in merges.enumerated() where ranks[m] == nil { ranks[m] = i }
            mergeRanks = ranks
        } else {
            stages = []; ignoreMerges = false; mergeRanks = [:]
        }
        bosId = bos
        eosIds = eos
        self.addBos = addBos
        self.addEos = addEos
        self.addSpacePrefix = addSpacePrefix
        var sp: [([Unicode.Scalar], Int, Bool)] = []
        for i in 0..<n where self.types[i] == .control || self.types[i] == .userDefined || self.types[i] == .unknown {
            let text = Array(toks[i].unicodeScalars)
            if !text.isEmpty { sp.append((text, i, self.types[i] != .userDefined)) }
        }
        specials = sp.sorted { $0.0.count > $1.0.count }
    }

    public convenience init(gguf: GGUFFile) throws {
        let m = gguf.metadata
        guard let model = m["tokenizer.ggml.model"]?.string else { throw TokenizerError.unsupported("GGUF has no tokenizer.ggml.model") }
        guard let toks = m["tokenizer.ggml.tokens"]?.array?.compactMap(\.string), !toks.isEmpty else {
            throw TokenizerError.unsupported("GGUF has no tokenizer.ggml.tokens")
        }
        let types = (m["tokenizer.ggml.token_type"]?.array?.compactMap(\.int) ?? []).map { GGUFTokenType(rawValue: $0) ?? .normal }
        let scores = m["tokenizer.ggml.scores"]?.array?.compactMap { $0.double.map(Float.init) } ?? []
        var eos: [Int] = []
        if let e = m["tokenizer.ggml.eos_token_id"]?.int { eos.append(e) }
        if let e = m["tokenizer.ggml.eot_token_id"]?.int, !eos.contains(e) { eos.append(e) }
        let kind: Kind
        switch model {
        case "llama": kind = .spm
        case "gpt2": kind = .bpe
        default: throw TokenizerError.unsupported("GGUF tokenizer model \"\(model)\" (llama and gpt2 are supported)")
        }
        try self.init(kind: kind, tokens: toks, types: types, scores: scores,
                      merges: m["tokenizer.ggml.merges"]?.array?.compactMap(\.string) ?? [],
                      pre: m["tokenizer.ggml.pre"]?.string ?? "default",
                      bos: m["tokenizer.ggml.bos_token_id"]?.int, eos: eos,
                      addBos: m["tokenizer.ggml.add_bos_token"]?.bool ?? (kind == .spm),
                      addEos: m["tokenizer.ggml.add_eos_token"]?.bool ?? false,
                      addSpacePrefix: m["tokenizer.ggml.add_space_prefix"]?.bool ?? (kind == .spm))
    }

    // MARK: encoding

    enum Fragment { case text([Unicode.Scalar]), token(Int) }

    func partition(_ text: String, parseSpecial: Bool) -> [Fragment] {
        if text.isEmpty { return [] }
        var frags: [Fragment] = [.text(Array(text.unicodeScalars))]
        for (st, id, isControl) in specials {
            if isControl && !parseSpecial { continue }
            var next: [Fragment] = []
            for f in frags {
                guard case .text(let s) = f, s.count >= st.count else { next.append(f); continue }
                var start = 0, i = 0
                while i + st.count <= s.count {
                    if s[i] == st[0] && Array(s[i..<(i + st.count)]) == st {
                        if i > start { next.append(.text(Array(s[start..<i]))) }
                        next.append(.token(id))
                        i += st.count; start = i
                    } else { i += 1 }
                }
                if start < s.count { next.append(.text(Array(s[start..<s.count]))) }
            }
            frags = next
        }
        return frags
    }

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        encode(text, addSpecialTokens: addSpecialTokens, parseSpecial: parseSpecial)
    }

    public func encode(_ text: String, addSpecialTokens: Bool, parseSpecial: Bool) -> [Int] {
        var out: [Int] = []
        if addSpecialTokens && addBos, let b = bosId { out.append(b) }
        var prevSpecial = true
        for f in partition(text, parseSpecial: parseSpecial) {
            switch f {
            case .token(let id):
                out.append(id); prevSpecial = true
            case .text(let s):
                switch kind {
                case .spm:
                    var t = s
                    if addSpacePrefix && prevSpecial { t.insert(" ", at: 0) }
                    t = t.map { $0 == " " ? "\u{2581}" : $0 }
                    spm(t, into: &out)
                case .bpe:
                    for word in PreTokenizer.split(s, stages: stages) { bpe(word, into: &out) }
                }
                prevSpecial = false
            }
        }
        if addSpecialTokens && addEos, let e = eosIds.first { out.append(e) }
        return out
    }

    struct Sym { var start: Int; var n: Int; var prev: Int; var next: Int }

    func spm(_ text: [Unicode.Scalar], into out: inout [Int]) {
        if text.isEmpty { return }
        var syms = (0..<text.count).map { Sym(start: $0, n: 1, prev: $0 - 1, next: $0 + 1 < text.count ? $0 + 1 : -1) }
        // Max-heap by (score, then leftmost): a sorted-insert queue is plenty for prompt lengths.
        var heap = Heap<(score: Float, left: Int, right: Int, size: Int)>(higher: { a, b in
            a.score > b.score || (a.score == b.score && a.left < b.left)
        })
        var revMerge: [String: (Int, Int)] = [:]
        func str(_ s: Sym) -> String { String(String.UnicodeScalarView(text[s.start..<(s.start + s.n)])) }
        func tryAdd(_ l: Int, _ r: Int) {
            if l < 0 || r < 0 { return }
            let s = str(Sym(start: syms[l].start, n: syms[l].n + syms[r].n, prev: 0, next: 0))
            guard let id = tokenToId[s] else { return }
            heap.push((scores[id], l, r, syms[l].n + syms[r].n))
            revMerge[s] = (l, r)
        }
        for i in 1..<syms.count { tryAdd(i - 1, i) }
        while let b = heap.pop() {
            let l = b.left, r = b.right
            if syms[l].n == 0 || syms[r].n == 0 || syms[l].n + syms[r].n != b.size { continue }
            syms[l].n += syms[r].n
            syms[r].n = 0
            syms[l].next = syms[r].next
            if syms[r].next >= 0 { syms[syms[r].next].prev = l }
            tryAdd(syms[l].prev, l)
            tryAdd(l, syms[l].next)
        }
        func resegment(_ s: Sym) {
            let t = str(s)
            if let id = tokenToId[t] { out.append(id); return }
            if let (a, b) = revMerge[t] { resegment(syms[a]); resegment(syms[b]); return }
            for byte in t.utf8 {
                if let id = tokenToId[String(format: "<0x%02X>", byte)] { out.append(id) }
            }
        }
        var i = 0
        while i != -1 { resegment(syms[i]); i = syms[i].next }
    }

    func bpe(_ word: ArraySlice<Unicode.Scalar>, into out: inout [Int]) {
        var chars: [String] = []
        for b in String(String.UnicodeScalarView(word)).utf8 { chars.append(String(Character(byteEncoder[Int(b)]))) }
        if ignoreMerges, let id = tokenToId[chars.joined()] { out.append(id); return }
        var symbols = chars
        // Merge the lowest-ranked adjacent pair, leftmost on ties, until none is in the merge list.
        while symbols.count > 1 {
            var best = Int.max, at = -1
            for i in 0..<(symbols.count - 1) {
                if let r = mergeRanks[symbols[i] + " " + symbols[i + 1]], r < best { best = r; at = i }
            }
            if at < 0 { break }
            symbols[at] += symbols[at + 1]
            symbols.remove(at: at + 1)
        }
        for s in symbols {
            if let id = tokenToId[s] { out.append(id); continue }
            for ch in s.unicodeScalars { if let id = tokenToId[String(Character(ch))] { out.append(id) } }
        }
    }

    // MARK: decoding

    public func isSpecial(_ id: Int) -> Bool {
        id >= 0 && id < types.count && (types[id] == .control || types[id] == .unknown || types[id] == .unused)
    }

    public func bytes(for id: Int) -> [UInt8] {
        guard id >= 0 && id < tokens.count else { return [] }
        let t = tokens[id]
        switch kind {
        case .spm:
            if types[id] == .byte, t.count == 6, let b = UInt8(t.dropFirst(3).prefix(2), radix: 16) { return [b] }
            if types[id] == .control { return [] }
            return Array(t.replacingOccurrences(of: "\u{2581}", with: " ").utf8)
        case .bpe:
            if types[id] == .userDefined || types[id] == .control { return types[id] == .control ? [] : Array(t.utf8) }
            return t.unicodeScalars.compactMap { byteDecoder[$0] }
        }
    }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var out: [UInt8] = []
        for id in ids where !(skipSpecialTokens && isSpecial(id)) { out += bytes(for: id) }
        if stripsLeadingSpace && out.first == 0x20 { out.removeFirst() }
        return String(decoding: out, as: UTF8.self)
    }

    public var stripsLeadingSpace: Bool { kind == .spm && addSpacePrefix }
}

/// A binary heap ordered by `higher` (the element that should come out first).
struct Heap<T> {
    var items: [T] = []
    let higher: (T, T) -> Bool
    init(higher: @escaping (T, T) -> Bool) { self.higher = higher }

    mutating func push(_ x: T) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if higher(items[i], items[p]) { items.swapAt(i, p); i = p } else { break }
        }
    }

    mutating func pop() -> T? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && higher(items[l], items[m]) { m = l }
            if r < items.count && higher(items[r], items[m]) { m = r }
            if m == i { break }
            items.swapAt(i, m); i = m
        }
        return top
    }
}
