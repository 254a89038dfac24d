// Turns a teacher's reply into conversation turns. The asked-for form is LLaVA's:
//   Question:\n…\n===\nAnswer:\n…\n===\nQuestion:…
// and the parser tolerates what models commonly do instead: labels with the text on the same line, markdown bold
// (`**Question:**`), `Q:`/`A:`, `User:`/`Assistant:`, numbered labels (`Question 2:`), missing `===` lines, a block
// after `===` whose label is missing, and a preamble before the first question. Anything else — an answer with no question, a question with no answer, empty
// turns — is rejected whole, so no half conversation is ever written.
import Foundation

public struct QAPair: Sendable, Equatable {
    public var question: String
    public var answer: String
    public init(question: String, answer: String) { self.question = question; self.answer = answer }
}

public enum ReplyParseError: Error, Equatable, CustomStringConvertible {
    case empty
    case noQuestions
    case unanswered(question: String)
    case answerWithoutQuestion
    case emptyTurn
    case truncated

    public var description: String {
        switch self {
        case .empty: return "empty reply"
        case .noQuestions: return "no Question:/Answer: turns found"
        case .unanswered(let q): return "question without an answer: \(q.prefix(80))"
        case .answerWithoutQuestion: return "an answer that follows no question"
        case .emptyTurn: return "an empty question or answer"
        case .truncated: return "reply cut off at the token limit"
        }
    }
}

public enum ReplyParser {
    enum Label { case question, answer }

    /// A label line: optional markdown emphasis or heading marks, the label word, optional number, a colon.
    /// Returns the label and whatever text follows the colon on the same line.
    static func label(of line: Substring) -> (Label, String)? {
        var s = line.trimmingCharacters(in: .whitespaces)
        while let first = s.first, "*#_>-".contains(first) { s.removeFirst(); s = s.trimmingCharacters(in: .whitespaces) }
        let lower = s.lowercased()
        let words: [(String, Label)] = [("question", .question), ("answer", .answer), ("user", .question),
                                        ("human", .question), ("assistant", .answer), ("gpt", .answer),
                                        ("q", .question), ("a", .answer)]
        for (word, kind) in words where lower.hasPrefix(word) {
            var rest = s.dropFirst(word.count)
            rest = rest.drop(while: { $0 == " " || $0.isNumber })   // "Question 2:"
            rest = rest.drop(while: { $0 == "*" || $0 == "_" })
            guard rest.first == ":" || rest.first == "：" else { continue }
            rest = rest.dropFirst().drop(while: { $0 == "*" || $0 == "_" })
            return (kind, rest.trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    static func isSeparator(_ line: Substring) -> Bool {
        let t = line.trimmingCharacters(in: .whitespaces)
        return t.count >= 3 && (t.allSatisfy { $0 == "=" } || t.allSatisfy { $0 == "-" })
    }

    /// Question/answer pairs in order; at least one.
    public static func qaPairs(_ reply: String) throws -> [QAPair] {
        let text = reply.replacingOccurrences(of: "\r\n", with: "\n")
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw ReplyParseError.empty }
        // A segment opens at a label, or at the first text after a `===` line (a block whose label the model left
        // out; its kind follows from alternation below).
        var segments: [(Label?, [String])] = []
        var afterSeparator = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if isSeparator(line) { afterSeparator = true; continue }
            if let (kind, rest) = label(of: line) {
                segments.append((kind, rest.isEmpty ? [] : [rest]))
                afterSeparator = false
            } else if afterSeparator && !segments.isEmpty {
                if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                segments.append((nil, [String(line)]))
                afterSeparator = false
            } else if !segments.isEmpty {
                segments[segments.count - 1].1.append(String(line))
            }   // text before the first label is a preamble and is dropped
        }
        guard !segments.isEmpty else { throw ReplyParseError.noQuestions }
        var pairs: [QAPair] = []
        var pending: String?
        for (kind, lines) in segments {
            let body = lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
            guard !body.isEmpty else { throw ReplyParseError.emptyTurn }
            switch kind ?? (pending == nil ? .question : .answer) {
            case .question:
                if let q = pending { throw ReplyParseError.unanswered(question: q) }
                pending = body
            case .answer:
                guard let q = pending else { throw ReplyParseError.answerWithoutQuestion }
                pairs.append(QAPair(question: q, answer: body))
                pending = nil
            }
        }
        if let q = pending { throw ReplyParseError.unanswered(question: q) }
        return pairs
    }

    /// A detailed description: the reply's prose, with a leading "Description:" label dropped.
    public static func description(_ reply: String) throws -> String {
        var text = reply.replacingOccurrences(of: "\r\n", with: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        for prefix in ["**Description:**", "Description:", "**Description**:"] where text.hasPrefix(prefix) {
            text = String(text.dropFirst(prefix.count)).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard !text.isEmpty else { throw ReplyParseError.empty }
        return text
    }
}
