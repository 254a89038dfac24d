// Plain accuracy benchmarks: multiple choice (ScienceQA-style, the model answers with a letter), short-answer VQA
// (normalised exact match; VQAv2's min(#humans who gave the answer / 3, 1) when there are several ground truths) and
// POPE-style yes/no (accuracy, precision, recall, F1, yes-ratio). Answers are read robustly; an answer that cannot be
// read counts as wrong and is counted apart as unparsed.
import Foundation

public enum MultipleChoice {
    public static func letter(_ index: Int) -> String { String(UnicodeScalar(UInt8(65 + index))) }

    /// The chosen option's index: a leading letter ("B", "B.", "(B)", "B) …"), "the answer is B", or the text of one
    /// choice. nil when nothing names exactly one option.
    public static func parse(_ answer: String, choices: [String]) -> Int? {
        let text = answer.trimmingCharacters(in: .whitespacesAndNewlines)
        let letters = choices.indices.map(letter)
        func index(of token: Substring) -> Int? {
            let t = token.trimmingCharacters(in: CharacterSet(charactersIn: "()[]*.:,; \n"))
            return letters.firstIndex(of: t.uppercased()).flatMap { t.count == 1 ? $0 : nil }
        }
        // A letter alone, or a letter followed by punctuation, at the start.
        if let first = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first, first.count <= 4,
           first.filter(\.isLetter).count == 1, let i = index(of: first) { return i }
        let lower = text.lowercased()
        for phrase in ["answer is", "answer:", "option", "choice"] {
            if let r = lower.range(of: phrase) {
                let rest = text[r.upperBound...].split(whereSeparator: { $0 == " " || $0 == "\n" })
                if let token = rest.first, let i = index(of: token) { return i }
            }
        }
        let normalised = VQAScore.normalise(text)
        let matches = choices.indices.filter { VQAScore.normalise(choices[$0]) == normalised }
        if matches.count == 1 { return matches[0] }
        let contained = choices.indices.filter { !choices[$0].isEmpty && normalised.contains(VQAScore.normalise(choices[$0])) }
        return contained.count == 1 ? contained[0] : nil
    }
}

public enum VQAScore {
    static let numberWords = ["none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                              "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"]
    static let articles: Set<String> = ["a", "an", "the"]

    /// Lower case; punctuation dropped except a decimal point between digits; number words as digits; articles dropped.
    public static func normalise(_ s: String) -> String {
        let chars = Array(s.lowercased())
        var out = ""
        for (i, ch) in chars.enumerated() {
            if ch == "." && i > 0 && i + 1 < chars.count && chars[i - 1].isNumber && chars[i + 1].isNumber { out.append(ch); continue }
            if ch == "'" { continue }   // "don't" and "dont" are the same answer
            out.append(ch.isLetter || ch.isNumber ? ch : " ")
        }
        return out.split(separator: " ").map(String.init).filter { !articles.contains($0) }
            .map { numberWords[$0] ?? $0 }.joined(separator: " ")
    }

    /// One ground truth: exact match after normalising. Several (VQAv2's ten): min(matches / 3, 1).
    public static func score(answer: String, truths: [String]) -> Double {
        let a = normalise(answer)
        let matches = truths.filter { normalise($0) == a }.count
        return truths.count == 1 ? Double(matches) : min(Double(matches) / 3, 1)
    }
}

public enum YesNo {
    /// As LLaVA's POPE evaluation reads answers: the first sentence, and "no"/"not" anywhere in it means no.
    public static func parse(_ answer: String) -> Bool {
        var text = answer.trimmingCharacters(in: .whitespacesAndNewlines)
        if let dot = text.firstIndex(of: ".") { text = String(text[..<dot]) }
        let words = text.replacingOccurrences(of: ",", with: "").lowercased().split(whereSeparator: { !$0.isLetter }).map(String.init)
        return !(words.contains("no") || words.contains("not"))
    }
}

public struct AccuracyGroup: Sendable, Equatable, Codable {
    public var n: Int
    public var correct: Double     // VQA scores are fractional
    public var accuracy: Double
    public var unparsed: Int
    public init(n: Int, correct: Double, accuracy: Double, unparsed: Int) {
        self.n = n; self.correct = correct; self.accuracy = accuracy; self.unparsed = unparsed
    }
}

public struct YesNoMetrics: Sendable, Equatable, Codable {
    public var n: Int, accuracy: Double, precision: Double, recall: Double, f1: Double, yesRatio: Double
    enum CodingKeys: String, CodingKey { case n, accuracy, precision, recall, f1, yesRatio = "yes_ratio" }
}

public enum AccuracyReport {
    /// Multiple choice or short answer: per subject (the question's `category`/`subject`) and "all".
    public static func grouped(questions: [EvalQuestion], answers: [QuestionID: EvalAnswer]) throws -> [String: AccuracyGroup] {
        var totals: [String: (n: Int, correct: Double, unparsed: Int)] = [:]
        for q in questions {
            guard let a = answers[q.id] else { throw EvalError("no answer for question \(q.id)") }
            var credit = 0.0, unparsed = 0
            switch q.kind {
            case .multipleChoice:
                guard let truth = q.answerIndex else { throw EvalError("question \(q.id) has no \"answer\" index") }
                if let chosen = MultipleChoice.parse(a.text, choices: q.choices) { credit = chosen == truth ? 1 : 0 } else { unparsed = 1 }
            case .shortAnswer:
                credit = VQAScore.score(answer: a.text, truths: q.answers)
            case .yesNo:
                // Mixed with short answers (a synthetic benchmark's yes/no type): right or wrong as POPE reads it.
                guard let truth = q.label else { throw EvalError("question \(q.id) has no yes/no \"label\"") }
                credit = YesNo.parse(a.text) == truth ? 1 : 0
            case .open:
                throw EvalError("question \(q.id) is not multiple choice or short answer")
            }
            for key in Set([q.category ?? "all", "all"]) {
                var t = totals[key] ?? (0, 0, 0)
                t.n += 1; t.correct += credit; t.unparsed += unparsed
                totals[key] = t
            }
        }
        return totals.mapValues { AccuracyGroup(n: $0.n, correct: $0.correct, accuracy: $0.n > 0 ? 100 * $0.correct / Double($0.n) : 0, unparsed: $0.unparsed) }
    }

    /// What always giving each category's most common ground truth would score: the floor a model must beat.
    public static func majorityBaseline(questions: [EvalQuestion]) -> [String: AccuracyGroup] {
        var answers: [String: [String]] = [:]
        for q in questions where q.kind == .shortAnswer || q.kind == .yesNo {
            let truth = q.kind == .yesNo ? ((q.label ?? false) ? "yes" : "no") : VQAScore.normalise(q.answers.first ?? "")
            for key in Set([q.category ?? "all", "all"]) { answers[key, default: []].append(truth) }
        }
        var out: [String: AccuracyGroup] = [:]
        for (key, list) in answers {
            var counts: [String: Int] = [:]
            for a in list { counts[a, default: 0] += 1 }
            let best = counts.values.max() ?? 0
            out[key] = AccuracyGroup(n: list.count, correct: Double(best),
                                     accuracy: list.isEmpty ? 0 : 100 * Double(best) / Double(list.count), unparsed: 0)
        }
        // "all" is the sum of the per-category floors (one answer per category), not one answer for everything.
        let cats = out.filter { $0.key != "all" }
        if !cats.isEmpty {
            let n = cats.values.reduce(0) { $0 + $1.n }, c = cats.values.reduce(0) { $0 + $1.correct }
            out["all"] = AccuracyGroup(n: n, correct: c, accuracy: n > 0 ? 100 * c / Double(n) : 0, unparsed: 0)
        }
        return out
    }

    /// Yes/no with "yes" as the positive class.
    public static func yesNo(questions: [EvalQuestion], answers: [QuestionID: EvalAnswer]) throws -> YesNoMetrics {
        var tp = 0, fp = 0, tn = 0, fn = 0
        for q in questions {
            guard let truth = q.label else { throw EvalError("question \(q.id) has no yes/no \"label\"") }
            guard let a = answers[q.id] else { throw EvalError("no answer for question \(q.id)") }
            switch (YesNo.parse(a.text), truth) {
            case (true, true): tp += 1
            case (true, false): fp += 1
            case (false, false): tn += 1
            case (false, true): fn += 1
            }
        }
        let n = tp + fp + tn + fn
        let precision = tp + fp > 0 ? Double(tp) / Double(tp + fp) : 0
        let recall = tp + fn > 0 ? Double(tp) / Double(tp + fn) : 0
        let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        return YesNoMetrics(n: n, accuracy: n > 0 ? Double(tp + tn) / Double(n) : 0, precision: precision, recall: recall,
                            f1: f1, yesRatio: n > 0 ? Double(tp + fp) / Double(n) : 0)
    }
}
