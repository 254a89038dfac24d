// swift-llava's own judge prompts for LLaVA-Bench, one per category. The judge sees the image only as text
// (captions and boxes), the question, the reference answer as Assistant 1 and ours as Assistant 2, and must put the
// two scores alone on its first line — the form LLaVA's review scripts read.
import Foundation
import LlavaCuration

public enum JudgePrompts {
    public static let system = """
        You are an impartial judge of answers about images. You cannot see the image; instead you get a description \
        of it — captions written by people who saw it and, when available, the objects in it with their bounding \
        boxes as fractions of the image size [x1, y1, x2, y2]. Judge each answer against that description.
        """

    static func criteria(_ category: BenchCategory) -> String {
        switch category {
        case .conversation:
            return "The user asked a question while looking at the image. Judge how correct, relevant and helpful each answer is: a right, direct answer beats a long one; anything the image description contradicts counts against it."
        case .detail:
            return "The user asked for a detailed description of the image. Judge how complete and accurate each description is: what it covers of the scene, its objects, their number and placement; things it invents that the image description does not support count against it."
        case .complex:
            return "The user asked a question that needs reasoning about the image. Judge how sound, relevant and helpful each answer's reasoning is, and whether it rests on what the image really shows."
        }
    }

    public static func messages(category: BenchCategory, context: String, question: String,
                                reference: String, answer: String) -> [ChatMessage] {
        let user = """
            [Image description]
            \(context)

            [Question]
            \(question)

            [Assistant 1]
            \(reference)
            [End of Assistant 1]

            [Assistant 2]
            \(answer)
            [End of Assistant 2]

            [Task]
            \(criteria(category))
            Give each assistant an overall score from 1 to 10, where higher is better. Write the two scores alone on the \
            first line, Assistant 1's first, separated by a space, and nothing else on that line. From the second line \
            on, explain your scores briefly. Do not let the order of the answers or their length sway you.
            """
        return [ChatMessage(role: "system", content: system), ChatMessage(role: "user", content: user)]
    }
}

/// Reads the two scores from a judge's reply. The first line is expected to hold exactly two numbers; the usual
/// deviations are accepted ("8/10 7/10", "Assistant 1: 8, Assistant 2: 7", markdown, "Scores: 8 and 7"), and, failing
/// the first line, labelled scores anywhere in the reply. Scores outside 0…10 are not scores, and a first line of
/// prose that happens to hold two numbers ("The answer was 7 5", a judge echoing its instructions) is not a score line.
public enum ScoreParser {
    static func numbers(in text: String) -> [Double] {
        var result: [Double] = []
        var current = ""
        func flush() { if let v = Double(current) { result.append(v) }; current = "" }
        for ch in text {
            if ch.isASCII && (ch.isNumber || (ch == "." && !current.isEmpty && !current.contains("."))) { current.append(ch) } else { flush() }
        }
        flush()
        return result
    }

    public static func scores(_ reply: String) -> (Double, Double)? {
        let lines = reply.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        func inRange(_ v: [Double]) -> (Double, Double)? {
            guard v.count == 2, v.allSatisfy({ $0 >= 0 && $0 <= 10 }) else { return nil }
            return (v[0], v[1])
        }
        if let first = lines.first {
            let cleaned = first
                .replacingOccurrences(of: "assistant\\s*[12]", with: " ", options: [.regularExpression, .caseInsensitive])
                .replacingOccurrences(of: "/\\s*10(\\.0)?", with: " ", options: .regularExpression)
                .replacingOccurrences(of: "out of 10", with: " ", options: .caseInsensitive)
            let words = cleaned.filter(\.isLetter).count
            if words <= 10, let pair = inRange(numbers(in: cleaned)) { return pair }
        }
        // "Assistant 1: 8" … "Assistant 2: 7" on later lines.
        func labelled(_ n: Int) -> Double? {
            for line in lines {
                guard let range = line.range(of: "assistant\\s*\(n)\\b[^0-9]{0,24}", options: [.regularExpression, .caseInsensitive]) else { continue }
                if let v = numbers(in: String(line[range.upperBound...])).first, v >= 0, v <= 10 { return v }
            }
            return nil
        }
        if let a = labelled(1), let b = labelled(2) { return (a, b) }
        return nil
    }
}
