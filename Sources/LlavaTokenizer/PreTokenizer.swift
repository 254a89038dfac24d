// Splitting text into words before byte-level BPE, as llama.cpp's unicode_regex_split does for
// the pre-tokenizers GGUF files name (`tokenizer.ggml.pre`): hand-written matchers for the GPT-2
// regex and the LLaMA-3 regex, and single-digit splitting (SmolLM, StarCoder). Each stage splits
// every piece from the stage before; text no pattern matches is kept as its own piece.

public enum PreTokenizerStage: Sendable, Equatable {
    case digits          // \p{N}: each number character alone
    case gpt2            // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
    case llama3          // (?i:'s|…)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+

    /// The stages llama.cpp uses for a `tokenizer.ggml.pre` name; nil for ones we do not implement.
    public static func stages(forPre name: String) -> (stages: [PreTokenizerStage], ignoreMerges: Bool)? {
        switch name {
        case "default", "gpt-2", "gpt2", "mpt", "olmo", "jais", "trillion", "granite-docling": return ([.gpt2], false)
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b": return ([.digits, .gpt2], false)
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "dbrx", "smaug-bpe": return ([.llama3], true)
        default: return nil
        }
    }
}

enum CharClass {
    @inline(__always) static func isLetter(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }
    @inline(__always) static func isNumber(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }
    @inline(__always) static func isSpace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace }
}

public enum PreTokenizer {
    /// Splits `text` through each stage in turn.
    public static func split(_ text: [Unicode.Scalar], stages: [PreTokenizerStage]) -> [ArraySlice<Unicode.Scalar>] {
        var pieces: [Range<Int>] = text.isEmpty ? [] : [0..<text.count]
        for stage in stages {
            var next: [Range<Int>] = []
            for r in pieces {
                switch stage {
                case .digits: digits(text, r, &next)
                case .gpt2: gpt2(text, r, &next)
                case .llama3: llama3(text, r, &next)
                }
            }
            pieces = next
        }
        return pieces.map { text[$0] }
    }

    static func digits(_ s: [Unicode.Scalar], _ r: Range<Int>, _ out: inout [Range<Int>]) {
        var start = r.lowerBound
        for i in r where CharClass.isNumber(s[i]) {
            if i > start { out.append(start..<i) }
            out.append(i..<(i + 1))
            start = i + 1
        }
        if start < r.upperBound { out.append(start..<r.upperBound) }
    }

    static func gpt2(_ s: [Unicode.Scalar], _ r: Range<Int>, _ out: inout [Range<Int>]) {
        let end = r.upperBound
        func at(_ p: Int) -> Unicode.Scalar? { p < end ? s[p] : nil }
        func letter(_ p: Int) -> Bool { at(p).map(CharClass.isLetter) ?? false }
        func number(_ p: Int) -> Bool { at(p).map(CharClass.isNumber) ?? false }
        func space(_ p: Int) -> Bool { at(p).map(CharClass.isSpace) ?? false }
        func other(_ p: Int) -> Bool { at(p).map { !CharClass.isSpace($0) && !CharClass.isLetter($0) && !CharClass.isNumber($0) } ?? false }
        var prev = r.lowerBound, pos = r.lowerBound
        func add(_ e: Int) { if e > prev { out.append(prev..<e) }; prev = e; pos = e }
        while pos < end {
            let c = s[pos]
            if c == "'" && pos + 1 < end {
                let n = s[pos + 1]
                if n == "s" || n == "t" || n == "m" || n == "d" { add(pos + 2); continue }
                if pos + 2 < end {
                    let nn = s[pos + 2]
                    if (n == "r" && nn == "e") || (n == "v" && nn == "e") || (n == "l" && nn == "l") { add(pos + 3); continue }
                }
            }
            let q = c == " " ? pos + 1 : pos
            if letter(q) { var p = q; while letter(p) { p += 1 }; add(p); continue }
            if number(q) { var p = q; while number(p) { p += 1 }; add(p); continue }
            if other(q) { var p = q; while other(p) { p += 1 }; add(p); continue }
            var ws = 0
            while space(pos + ws) { ws += 1 }
            if ws > 1 && pos + ws < end { add(pos + ws - 1); continue }
            if ws > 0 { add(pos + ws); continue }
            add(pos + 1)
        }
    }

    static func llama3(_ s: [Unicode.Scalar], _ r: Range<Int>, _ out: inout [Range<Int>]) {
        let end = r.upperBound
        func at(_ p: Int) -> Unicode.Scalar? { p < end ? s[p] : nil }
        func letter(_ p: Int) -> Bool { at(p).map(CharClass.isLetter) ?? false }
        func number(_ p: Int) -> Bool { at(p).map(CharClass.isNumber) ?? false }
        func space(_ p: Int) -> Bool { at(p).map(CharClass.isSpace) ?? false }
        func other(_ p: Int) -> Bool { at(p).map { !CharClass.isSpace($0) && !CharClass.isLetter($0) && !CharClass.isNumber($0) } ?? false }
        func lower(_ c: Unicode.Scalar) -> Unicode.Scalar { c.properties.lowercaseMapping.unicodeScalars.first ?? c }
        var prev = r.lowerBound, pos = r.lowerBound
        func add(_ e: Int) { if e > prev { out.append(prev..<e) }; prev = e; pos = e }
        while pos < end {
            let c = s[pos]
            if c == "'" && pos + 1 < end {
                let n = lower(s[pos + 1])
                if n == "s" || n == "t" || n == "m" || n == "d" { add(pos + 2); continue }
                if pos + 2 < end {
                    let nn = lower(s[pos + 2])
                    if (n == "r" && nn == "e") || (n == "v" && nn == "e") || (n == "l" && nn == "l") { add(pos + 3); continue }
                }
            }
            if !(c == "\r" || c == "\n" || number(pos)) {
                if letter(pos) || letter(pos + 1) {
                    var p = pos + 1
                    while letter(p) { p += 1 }
                    add(p); continue
                }
            }
            if number(pos) {
                var p = pos, ini = pos
                while number(p) {
                    p += 1
                    if p - ini >= 3 { add(p); ini = p }
                }
                add(p); continue
            }
            let q = c == " " ? pos + 1 : pos
            if other(q) && at(pos) != nil {
                var p = q
                while other(p) { p += 1 }
                while at(p) == "\r" || at(p) == "\n" { p += 1 }
                add(p); continue
            }
            var ws = 0, lastRN = 0
            while space(pos + ws) {
                if s[pos + ws] == "\r" || s[pos + ws] == "\n" { lastRN = pos + ws + 1 }
                ws += 1
            }
            if lastRN > 0 { add(lastRN); continue }
            if ws > 1 && pos + ws < end { add(pos + ws - 1); continue }
            if ws > 0 { add(pos + ws); continue }
            add(pos + 1)
        }
    }
}
