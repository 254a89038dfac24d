// The files evaluation reads and writes, in LLaVA's formats: question files (LLaVA-Bench `question_id`, `image`,
// `text`, `category`; multiple-choice, short-answer and yes/no sets), reference and model answer files
// (`question_id`, `text`, … as LLaVA's model_vqa writes them), and context files (captions and boxes per image).
import Foundation
import LlavaCuration
import LlavaFormats

public struct EvalError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A question id as the file spells it: LLaVA-Bench uses integers, other sets strings. Written back the same way.
public enum QuestionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    case int(Int)
    case string(String)

    public init?(json: Any?) {
        if let n = json as? NSNumber, n.doubleValue == n.doubleValue.rounded() {
            self = .int(n.intValue)
        } else if let s = json as? String { self = .string(s) } else { return nil }
    }
    public var jsonValue: Any { switch self { case .int(let n): return n; case .string(let s): return s } }
    public var description: String { switch self { case .int(let n): return String(n); case .string(let s): return s } }
    public static func < (a: QuestionID, b: QuestionID) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y
        case (.int, .string): return true
        case (.string, .int): return false
        case (.string(let x), .string(let y)): return x < y
        }
    }
}

/// LLaVA-Bench's three categories, under the names its files use.
public enum BenchCategory: String, CaseIterable, Sendable, Codable {
    case conversation, detail, complex
    public init?(fileName: String) {
        switch fileName.lowercased() {
        case "conv", "conversation", "llava_bench_conv": self = .conversation
        case "detail", "llava_bench_detail": self = .detail
        case "complex", "llava_bench_complex": self = .complex
        default: return nil
        }
    }
}

/// One question of any supported set. `prompt` is what the model is asked.
public struct EvalQuestion: Sendable {
    public enum Kind: String, Sendable { case open, multipleChoice = "mc", shortAnswer = "vqa", yesNo = "pope" }
    public var id: QuestionID
    public var image: String?
    public var kind: Kind
    public var question: String
    public var category: String?        // LLaVA-Bench category, or a subject for multiple choice
    public var choices: [String] = []
    public var answerIndex: Int?        // multiple choice
    public var answers: [String] = []   // short answer ground truths
    public var label: Bool?             // yes/no ground truth

    public init(id: QuestionID, image: String?, kind: Kind, question: String, category: String? = nil, choices: [String] = [],
                answerIndex: Int? = nil, answers: [String] = [], label: Bool? = nil) {
        self.id = id; self.image = image; self.kind = kind; self.question = question; self.category = category
        self.choices = choices; self.answerIndex = answerIndex; self.answers = answers; self.label = label
    }

    public static let choiceInstruction = "Reply with the letter of the correct option only."
    public static let shortAnswerInstruction = "Answer in a single word or a short phrase."

    public var prompt: String {
        switch kind {
        case .open, .yesNo: return question
        case .shortAnswer: return "\(question)\n\(Self.shortAnswerInstruction)"
        case .multipleChoice:
            let options = choices.enumerated().map { "\(MultipleChoice.letter($0.offset)). \($0.element)" }
            return ([question] + options + [Self.choiceInstruction]).joined(separator: "\n")
        }
    }

    /// Reads any of the formats; the kind of each line follows from its fields: `choices` (multiple choice),
    /// `answers` (short answer), `label` (yes/no), otherwise an open question (`text`).
    public static func load(_ url: URL) throws -> [EvalQuestion] {
        var seen = Set<QuestionID>()
        return try JSONLines.read(url).map { line, o in
            func fail(_ why: String) -> JSONLinesError { JSONLinesError(path: url.path, line: line, reason: why) }
            guard let id = QuestionID(json: o["question_id"]) else { throw fail("missing \"question_id\"") }
            guard seen.insert(id).inserted else { throw fail("question_id \(id) appears twice") }
            guard let text = (o["text"] as? String) ?? (o["question"] as? String) else { throw fail("missing \"text\" or \"question\"") }
            var q = EvalQuestion(id: id, image: o["image"] as? String, kind: .open, question: text,
                                 category: (o["category"] as? String) ?? (o["subject"] as? String))
            if let choices = o["choices"] {
                guard let list = choices as? [String], list.count >= 2, list.count <= 26 else { throw fail("\"choices\" must be 2 to 26 strings") }
                q.kind = .multipleChoice
                q.choices = list
                if let a = o["answer"] {
                    guard let index = (a as? NSNumber)?.intValue, list.indices.contains(index) else {
                        throw fail("\"answer\" must be the index of a choice")
                    }
                    q.answerIndex = index
                }
            } else if let answers = o["answers"] {
                guard let list = answers as? [String], !list.isEmpty else { throw fail("\"answers\" must be a list of strings") }
                q.kind = .shortAnswer
                q.answers = list
            } else if let label = o["label"] {
                guard let s = (label as? String)?.lowercased(), s == "yes" || s == "no" else { throw fail("\"label\" must be \"yes\" or \"no\"") }
                q.kind = .yesNo
                q.label = s == "yes"
            }
            return q
        }
    }
}

/// A line of an answer file: ours (`eval answer` writes them) or a reference set such as GPT-4's.
public struct EvalAnswer: Sendable {
    public var id: QuestionID
    public var text: String
    public var category: String?

    public init(id: QuestionID, text: String, category: String? = nil) { self.id = id; self.text = text; self.category = category }

    /// Answers by question id; a question answered twice is an error (it would make the match ambiguous).
    public static func load(_ url: URL) throws -> [QuestionID: EvalAnswer] {
        var result: [QuestionID: EvalAnswer] = [:]
        for (line, o) in try JSONLines.read(url) {
            guard let id = QuestionID(json: o["question_id"]) else {
                throw JSONLinesError(path: url.path, line: line, reason: "missing \"question_id\"")
            }
            guard let text = o["text"] as? String else { throw JSONLinesError(path: url.path, line: line, reason: "missing \"text\"") }
            guard result[id] == nil else { throw JSONLinesError(path: url.path, line: line, reason: "question_id \(id) answered twice") }
            result[id] = EvalAnswer(id: id, text: text, category: o["category"] as? String)
        }
        return result
    }
}

/// What the judge knows of each image: captions and boxes (LLaVA-Bench COCO's caps/boxes file) or a caption
/// (In-the-Wild's context file, `caption`), keyed by image file name.
public enum EvalContext {
    public static func load(_ url: URL) throws -> [String: String] {
        var result: [String: String] = [:]
        for (line, o) in try JSONLines.read(url) {
            guard let image = o["image"] as? String else { throw JSONLinesError(path: url.path, line: line, reason: "missing \"image\"") }
            var captions = (o["captions"] as? [String]) ?? []
            if let caption = o["caption"] as? String { captions.append(caption) }
            var instances: [ImageAnnotations.Instance] = []
            for item in (o["instances"] as? [[String: Any]]) ?? [] {
                guard let category = item["category"] as? String,
                      let box = (item["bbox"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.doubleValue }), box.count == 4 else {
                    throw JSONLinesError(path: url.path, line: line, reason: "an instance needs \"category\" and a four-number \"bbox\"")
                }
                instances.append(.init(category: category, bbox: box))
            }
            let annotations = ImageAnnotations(id: image, image: image, captions: captions, instances: instances)
            result[image] = SymbolicContext.text(for: annotations, includeBoxes: true)
        }
        return result
    }
}
