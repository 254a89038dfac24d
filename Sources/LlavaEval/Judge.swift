// LLaVA-Bench judging: for each question, the judge scores the reference answer (Assistant 1) and ours (Assistant 2).
// Questions, references and answers are matched by question_id, never by line order. A reply whose scores cannot be
// read is asked again; if it never parses the review is written as failed, and failed reviews are never averaged in.
// The reviews file is also the journal: a rerun skips every question already reviewed by that judge.
import Foundation
import LlavaCuration
import LlavaFormats

public struct Review: Sendable, Equatable {
    public enum Status: String, Sendable { case ok, failed }
    public var id: QuestionID
    public var category: BenchCategory
    public var judge: String
    public var status: Status
    public var reference: Double?   // Assistant 1's score
    public var model: Double?       // Assistant 2's score
    public var content: String
    public var attempts: Int
    public var reason: String?

    public init(id: QuestionID, category: BenchCategory, judge: String, status: Status, reference: Double?, model: Double?,
                content: String, attempts: Int, reason: String?) {
        self.id = id; self.category = category; self.judge = judge; self.status = status
        self.reference = reference; self.model = model; self.content = content; self.attempts = attempts; self.reason = reason
    }

    public var json: [String: Any] {
        var o: [String: Any] = ["question_id": id.jsonValue, "category": category.rawValue, "judge": judge,
                                "status": status.rawValue, "content": content, "attempts": attempts]
        if let reference, let model { o["scores"] = [reference, model] }
        if let reason { o["reason"] = reason }
        return o
    }

    /// Our review lines, and LLaVA's own review files (`tuple`, with `category` spelled as LLaVA spells it).
    public static func load(_ url: URL) throws -> [Review] {
        try JSONLines.read(url).map { line, o in
            func fail(_ why: String) -> JSONLinesError { JSONLinesError(path: url.path, line: line, reason: why) }
            guard let id = QuestionID(json: o["question_id"]) else { throw fail("missing \"question_id\"") }
            guard let name = o["category"] as? String, let category = BenchCategory(fileName: name) else {
                throw fail("\"category\" must be conversation (conv), detail or complex")
            }
            let pair = ((o["scores"] ?? o["tuple"]) as? [Any])?.compactMap { ($0 as? NSNumber)?.doubleValue }
            let status: Status = (o["status"] as? String) == "failed" || pair?.count != 2 || pair?.contains(-1) == true ? .failed : .ok
            return Review(id: id, category: category, judge: (o["judge"] as? String) ?? url.deletingPathExtension().lastPathComponent,
                          status: status, reference: status == .ok ? pair?[0] : nil, model: status == .ok ? pair?[1] : nil,
                          content: (o["content"] as? String) ?? "", attempts: (o["attempts"] as? Int) ?? 1,
                          reason: o["reason"] as? String)
        }
    }
}

public struct JudgeSettings: Sendable {
    public var concurrency = 2
    public var parseRetries = 2        // extra judge calls when the scores cannot be read
    public var temperature: Double? = 0.2
    public var maxTokens: Int? = 1024
    public init() {}
}

public struct JudgeProgress: Sendable {
    public var done: Int, total: Int, failed: Int
}

public struct JudgeOutcome: Sendable {
    /// Every review in the file (earlier runs' included), in question order.
    public var reviews: [Review]
    /// Questions whose requests failed for good this run (not written; the next run asks again).
    public var pending: Int
}

public enum Judge {
    /// Reviews every question that is not yet in `output`; each needs a reference, an answer and a context.
    public static func run(questions: [EvalQuestion], context: [String: String], references: [QuestionID: EvalAnswer],
                           answers: [QuestionID: EvalAnswer], judgeName: String, client: any ChatCompleting,
                           settings: JudgeSettings, output: URL,
                           progress: @escaping @Sendable (JudgeProgress) -> Void = { _ in }) async throws -> JudgeOutcome {
        var jobs: [(EvalQuestion, BenchCategory, String, EvalAnswer, EvalAnswer)] = []
        for q in questions {
            guard let name = q.category, let category = BenchCategory(fileName: name) else {
                throw EvalError("question \(q.id) has no LLaVA-Bench category (conv, detail or complex)")
            }
            guard let reference = references[q.id] else { throw EvalError("no reference answer for question \(q.id)") }
            guard let answer = answers[q.id] else { throw EvalError("no answer for question \(q.id) in the answers file") }
            guard let image = q.image, let ctx = context[image] else {
                throw EvalError("no context (captions) for question \(q.id)'s image \(q.image ?? "(none)")")
            }
            jobs.append((q, category, ctx, reference, answer))
        }
        let log = try AppendLog(url: output)
        let previous = try log.lines.enumerated().map { index, line -> QuestionID in
            guard let o = try? JSONSerialization.jsonObject(with: line) as? [String: Any], let id = QuestionID(json: o["question_id"]) else {
                throw JSONLinesError(path: output.path, line: index + 1, reason: "not a review line; move the file aside to start over")
            }
            return id
        }
        let done = Set(previous)
        let todo = jobs.filter { !done.contains($0.0.id) }
        var state = JudgeProgress(done: jobs.count - todo.count, total: jobs.count, failed: 0)
        progress(state)

        var pending = 0
        try await withThrowingTaskGroup(of: Review?.self) { group in
            var next = 0
            func launch() {
                guard next < todo.count else { return }
                let (q, category, ctx, reference, answer) = todo[next]
                next += 1
                group.addTask {
                    let messages = JudgePrompts.messages(category: category, context: ctx, question: q.question,
                                                         reference: reference.text, answer: answer.text)
                    var attempts = 0
                    var last = ""
                    for _ in 0...settings.parseRetries {
                        let reply: ChatCompletion
                        do {
                            reply = try await client.complete(messages, temperature: settings.temperature, maxTokens: settings.maxTokens)
                        } catch let failure as ChatRequestError {
                            if failure.isFatal { throw failure }
                            return nil   // not a judgement: asked again on the next run

                        }
                        attempts += reply.attempts
                        last = reply.text
                        if let (a, b) = ScoreParser.scores(reply.text) {
                            return Review(id: q.id, category: category, judge: judgeName, status: .ok, reference: a, model: b,
                                          content: reply.text, attempts: attempts, reason: nil)
                        }
                    }
                    return Review(id: q.id, category: category, judge: judgeName, status: .failed, reference: nil, model: nil,
                                  content: last, attempts: attempts, reason: "no scores could be read from the judge's reply")
                }
            }
            for _ in 0..<max(1, settings.concurrency) { launch() }
            while let result = try await group.next() {
                defer { launch() }
                guard let review = result else { pending += 1; continue }
                try log.append(try JSONLines.encodeLine(review.json))
                state.done += 1
                if review.status == .failed { state.failed += 1 }
                progress(state)
            }
        }
        if pending == 0 { try putInQuestionOrder(log, questions: jobs.map { $0.0.id }) }
        return JudgeOutcome(reviews: try Review.load(output).sorted { $0.id < $1.id }, pending: pending)
    }

    /// Reviews are appended as replies arrive, in an order that depends on timing; once every question is reviewed
    /// the file is rewritten in question order (under a temporary name, then renamed), so a run that was killed and
    /// resumed ends with the same bytes as one that was not. Lines of questions not in this run keep their place
    /// after the others. The log is not appended to afterwards.
    static func putInQuestionOrder(_ log: AppendLog, questions: [QuestionID]) throws {
        var rank: [QuestionID: Int] = [:]
        for (i, id) in questions.enumerated() where rank[id] == nil { rank[id] = i }
        let ranked = log.lines.enumerated().map { index, line -> (Int, Int, Data) in
            let o = try? JSONSerialization.jsonObject(with: line) as? [String: Any]
            let id = o.flatMap { QuestionID(json: $0["question_id"]) }
            return (id.flatMap { rank[$0] } ?? questions.count, index, line)
        }
        let sorted = ranked.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
        guard sorted.map({ $0.1 }) != Array(0..<ranked.count) else { return }
        var data = Data()
        for (_, _, line) in sorted { data.append(line); data.append(UInt8(ascii: "\n")) }
        try data.write(to: log.url, options: .atomic)
    }
}
