// The judge over real HTTP on loopback against a scripted judge (unparseable and failing replies included),
// and `eval answer` with a tiny model, checked against the generator itself.
import Foundation
import LlavaCuration
import LlavaEval
import LlavaFormats
import LlavaGeneration
import LlavaModels
import LlavaTestSupport
import LlavaVision
import Testing

func tempDir() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("llava-eval-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

func writeLines(_ objects: [[String: Any]], to url: URL) throws {
    var data = Data()
    for o in objects { data.append(try JSONLines.encodeLine(o)) }
    try data.write(to: url)
}

@Suite(.serialized) struct JudgeTests {
    /// Six questions on two images: plain, needs a second try, never parses, a 500 first, and two more.
    func files() throws -> (dir: URL, questions: [EvalQuestion], context: [String: String], refs: [QuestionID: EvalAnswer], answers: [QuestionID: EvalAnswer]) {
        let dir = try tempDir()
        let texts = ["plain", "retry-me", "never-parses", "server-error", "plain-two", "plain-three"]
        let categories = ["conv", "detail", "complex", "conv", "detail", "complex"]
        try writeLines(texts.indices.map { ["question_id": $0, "image": "img\($0 % 2).jpg", "text": "Q-\(texts[$0])", "category": categories[$0]] },
                       to: dir.appendingPathComponent("q.jsonl"))
        try writeLines([["image": "img0.jpg", "captions": ["A dog."], "instances": [["category": "dog", "bbox": [0.1, 0.1, 0.5, 0.5]]]],
                        ["image": "img1.jpg", "caption": "A cat."]], to: dir.appendingPathComponent("ctx.jsonl"))
        // References and answers in another order than the questions: matching is by id.
        try writeLines(texts.indices.reversed().map { ["question_id": $0, "text": "reference \($0)"] }, to: dir.appendingPathComponent("ref.jsonl"))
        try writeLines([3, 1, 5, 0, 4, 2].map { ["question_id": $0, "text": "ours \($0)"] }, to: dir.appendingPathComponent("ans.jsonl"))
        return (dir, try EvalQuestion.load(dir.appendingPathComponent("q.jsonl")), try EvalContext.load(dir.appendingPathComponent("ctx.jsonl")),
                try EvalAnswer.load(dir.appendingPathComponent("ref.jsonl")), try EvalAnswer.load(dir.appendingPathComponent("ans.jsonl")))
    }

    @Test func scoresRetriesAndFailuresAreRecordedNeverAveraged() async throws {
        let server = try await ScriptedChatServer.start { request, earlier in
            let key = request.key
            if key.contains("Q-retry-me") { return .completion(earlier == 0 ? "Both are fine answers." : "Assistant 1: 9\nAssistant 2: 3") }
            if key.contains("Q-never-parses") { return .completion("I cannot decide.") }
            if key.contains("Q-server-error") && earlier == 0 { return .status(503) }
            // The reference gets 8; ours gets its question id + 2, read from the answer text.
            let id = key.components(separatedBy: "ours ").last?.prefix(while: \.isNumber) ?? "0"
            return .completion("8 \((Int(id) ?? 0) + 2)\nAssistant 2 is shorter.")
        }
        let (dir, questions, context, refs, answers) = try files()
        var options = ChatClientOptions()
        options.backoffBase = 0.01
        let client = try OpenAIChatClient(endpoint: server.baseURL, model: "judge-a", apiKey: nil, options: options)
        let out = dir.appendingPathComponent("reviews.jsonl")
        let outcome = try await Judge.run(questions: questions, context: context, references: refs, answers: answers,
                                          judgeName: "judge-a", client: client, settings: JudgeSettings(), output: out)
        #expect(outcome.pending == 0)
        let byID = Dictionary(uniqueKeysWithValues: outcome.reviews.map { ($0.id, $0) })
        #expect(byID[.int(0)]?.reference == 8 && byID[.int(0)]?.model == 2)
        #expect(byID[.int(1)]?.status == .ok && byID[.int(1)]?.model == 3 && byID[.int(1)]?.attempts == 2)
        #expect(byID[.int(2)]?.status == .failed && byID[.int(2)]?.attempts == 3 && byID[.int(2)]?.content == "I cannot decide.")
        #expect(byID[.int(3)]?.model == 5 && byID[.int(3)]?.attempts == 2)
        #expect(await server.log.requests.count == 1 + 2 + 3 + 2 + 1 + 1)
        // Replies came back out of order (retries, a 503 and its back-off); the finished file is in question order,
        // so a killed and resumed run ends with the same bytes as this one.
        let order = try String(contentsOf: out, encoding: .utf8).split(separator: "\n").map { line in
            (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["question_id"] as? Int
        }
        #expect(order == [0, 1, 2, 3, 4, 5])

        // The judge saw the context (captions, then boxes), the question, the reference first and ours second.
        let seen = try #require(await server.log.requests.first { $0.request.key.contains("Q-plain\n") }?.request.key)
        #expect(seen.contains("A dog.\n\ndog: [0.1, 0.1, 0.5, 0.5]"))
        let refAt = try #require(seen.range(of: "reference 0")), oursAt = try #require(seen.range(of: "ours 0"))
        #expect(refAt.lowerBound < oursAt.lowerBound)

        let report = BenchReport.scores(outcome.reviews)
        #expect(report["complex"]?.n == 1 && report["complex"]?.failed == 1 && report["complex"]?.model == 7)
        #expect(report["all"]?.n == 5 && report["all"]?.failed == 1)

        // A rerun asks nothing.
        let again = try await Judge.run(questions: questions, context: context, references: refs, answers: answers,
                                        judgeName: "judge-a", client: client, settings: JudgeSettings(), output: out)
        #expect(await server.log.requests.count == 10 && again.reviews.count == 6)
        await client.shutdown()
        await server.stop()
    }

    @Test func missingPiecesAreNamed() async throws {
        let (_, questions, context, refs, answers) = try files()
        let client = try OpenAIChatClient(endpoint: "http://127.0.0.1:9/v1", model: "j", apiKey: nil)
        var fewer = answers
        fewer[.int(4)] = nil
        await #expect(throws: EvalError("no answer for question 4 in the answers file")) {
            _ = try await Judge.run(questions: questions, context: context, references: refs, answers: fewer, judgeName: "j",
                                    client: client, settings: JudgeSettings(), output: try tempDir().appendingPathComponent("r.jsonl"))
        }
        await #expect(throws: EvalError.self) {
            _ = try await Judge.run(questions: questions, context: [:], references: refs, answers: answers, judgeName: "j",
                                    client: client, settings: JudgeSettings(), output: try tempDir().appendingPathComponent("r.jsonl"))
        }
        await client.shutdown()
    }
}

@Suite struct AnswerRunnerTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/llava-hf")

    @Test func answersEqualTheGeneratorsAndResume() throws {
        let model = try CheckpointLoader.loadLlavaHF(folder: Self.fixtures.appendingPathComponent("tiny-gqa-crop").path)
        let dir = try tempDir()
        let qfile = dir.appendingPathComponent("q.jsonl")
        try writeLines([["question_id": 0, "image": "chelsea.jpg", "text": "What is this?", "category": "conv"],
                        ["question_id": "b", "text": "Say hi."],
                        ["question_id": 2, "image": "rocket-444.jpg", "question": "Colour?", "choices": ["red", "white"], "answer": 1]],
                       to: qfile)
        let questions = try EvalQuestion.load(qfile)
        var settings = AnswerSettings()
        settings.generation = GenerationOptions(maxTokens: 8)
        settings.modelID = "tiny"
        let out = dir.appendingPathComponent("answers.jsonl")
        let images = Self.fixtures.appendingPathComponent("images")
        #expect(try AnswerRunner.run(questions: Array(questions.prefix(2)), imagesDir: images, model: model, settings: settings, output: out) == 2)
        #expect(try AnswerRunner.run(questions: questions, imagesDir: images, model: model, settings: settings, output: out) == 1)

        let lines = try JSONLines.read(out).map(\.object)
        #expect(lines.map { "\($0["question_id"] ?? "")" } == ["0", "b", "2"])
        #expect(lines.allSatisfy { $0["model_id"] as? String == "tiny" && $0["answer_id"] is String && $0["metadata"] is [String: Any] })
        #expect(lines[2]["prompt"] as? String == "Colour?\nA. red\nB. white\n" + EvalQuestion.choiceInstruction)

        // The same greedy text `llava generate` would give.
        let generator = Generator(model: model)
        let image = try ImageDecoder.decode(path: images.appendingPathComponent("chelsea.jpg").path)
        let expected = try generator.generate(prompt: model.prompt(user: "What is this?", system: nil, images: 1, raw: false),
                                              images: [image], options: GenerationOptions(maxTokens: 8))
        #expect(lines[0]["text"] as? String == expected.text.trimmingCharacters(in: .whitespacesAndNewlines))

        #expect(throws: EvalError.self) {
            try AnswerRunner.run(questions: questions, imagesDir: nil, model: model, settings: settings, output: dir.appendingPathComponent("x.jsonl"))
        }
    }
}
