// Added and special tokens, matched in the raw text before any normalisation or BPE,
// as HF tokenizers' AddedVocabulary does (leftmost match, longest token first at a position,
// lstrip/rstrip swallowing neighbouring whitespace).

public struct AddedToken: Sendable, Equatable {
    public let content: String
    public let id: Int
    public let special: Bool
    public let lstrip: Bool
    public let rstrip: Bool
    public let singleWord: Bool

    public init(content: String, id: Int, special: Bool, lstrip: Bool = false, rstrip: Bool = false, singleWord: Bool = false) {
        self.content = content; self.id = id; self.special = special
        self.lstrip = lstrip; self.rstrip = rstrip; self.singleWord = singleWord
    }
}

/// A piece of input: plain text to run through the model, or an added token already resolved.
public enum TextPiece: Equatable, Sendable {
    case text([Unicode.Scalar], startsAtOrigin: Bool)
    case token(Int)
}

struct AddedTokenMatcher: Sendable {
    let tokens: [(scalars: [Unicode.Scalar], token: AddedToken)]

    init(_ added: [AddedToken]) {
        // Longest first, so "<image>" is never shadowed by a shorter token sharing its start.
        tokens = added.filter { !$0.content.isEmpty }
            .map { (Array($0.content.unicodeScalars), $0) }
            .sorted { $0.0.count > $1.0.count }
    }

    func split(_ text: String, includeSpecial: Bool = true) -> [TextPiece] {
        let s = Array(text.unicodeScalars)
        var pieces: [TextPiece] = []
        var textStart = 0
        var i = 0
        func isSpace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace }
        func isWordChar(_ c: Unicode.Scalar) -> Bool { c.properties.isAlphabetic || c.properties.numericType != nil || c == "_" }
        while i < s.count {
            var matched: AddedToken? = nil
            var matchLen = 0
            for (scalars, token) in tokens where scalars.count <= s.count - i {
                if !includeSpecial && token.special { continue }
                if s[i] != scalars[0] { continue }
                var ok = true
                for k in 1..<scalars.count where s[i + k] != scalars[k] { ok = false; break }
                if !ok { continue }
                if token.singleWord {
                    let before = i > 0 ? s[i - 1] : nil, after = i + scalars.count < s.count ? s[i + scalars.count] : nil
                    if let b = before, isWordChar(b) { continue }
                    if let a = after, isWordChar(a) { continue }
                }
                matched = token; matchLen = scalars.count
                break
            }
            guard let token = matched else { i += 1; continue }
            var textEnd = i
            if token.lstrip { while textEnd > textStart && isSpace(s[textEnd - 1]) { textEnd -= 1 } }
            if textEnd > textStart { pieces.append(.text(Array(s[textStart..<textEnd]), startsAtOrigin: textStart == 0)) }
            pieces.append(.token(token.id))
            i += matchLen
            if token.rstrip { while i < s.count && isSpace(s[i]) { i += 1 } }
            textStart = i
        }
        if textStart < s.count { pieces.append(.text(Array(s[textStart..<s.count]), startsAtOrigin: textStart == 0)) }
        return pieces
    }
}
