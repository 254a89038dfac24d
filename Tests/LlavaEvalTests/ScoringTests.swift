// Score parsing, report arithmetic (checked against hand-computed values) and accuracy metrics.
import Foundation
import LlavaEval
import Testing

func review(_ id: Int, _ category: BenchCategory, _ ref: Double?, _ model: Double?, judge: String = "j") -> Review {
    Review(id: .int(id), category: category, judge: judge, status: ref == nil ? .failed : .ok, reference: ref, model: model,
           content: "", attempts: 1, reason: nil)
}

@Suite struct ScoreParserTests {
    @Test(arguments: [
        ("8 6\nAssistant 1 is better because…", 8.0, 6.0),
        ("8, 6", 8, 6), ("**8** **6**", 8, 6), ("8/10 6/10", 8, 6), ("Assistant 1: 8, Assistant 2: 6", 8, 6),
        ("Scores: 8 and 6", 8, 6), ("7.5 6.5", 7.5, 6.5), ("\n\n9 10\n", 9, 10),
        ("Here is my evaluation.\nAssistant 1: 9 points\nAssistant 2 receives 4.", 9, 4),
    ])
    func readsTheUsualForms(_ reply: String, _ a: Double, _ b: Double) throws {
        let scores = try #require(ScoreParser.scores(reply))
        #expect(scores.0 == a && scores.1 == b)
    }

    @Test(arguments: ["Both answers are good.", "8\nAssistant 2 is worse", "8 6 7", "12 6", "", "Assistant 1 is better than Assistant 2.",
                      "The user asked a question about the image. The answer was \"7 5\""])
    func rejectsWhatIsNotTwoScores(_ reply: String) {
        #expect(ScoreParser.scores(reply) == nil)
    }
}

@Suite struct ReportTests {
    @Test func relativeScoresByHand() throws {
        let reviews = [review(0, .conversation, 8, 6), review(1, .conversation, 6, 6), review(2, .conversation, nil, nil),
                       review(3, .detail, 10, 5)]
        let s = BenchReport.scores(reviews)
        let conv = try #require(s["conversation"])
        #expect(conv.n == 2 && conv.failed == 1 && conv.reference == 7 && conv.model == 6)
        #expect(abs((conv.relative ?? 0) - 600.0 / 7.0) < 1e-12)
        #expect(s["detail"] == CategoryScore(relative: 50, model: 5, reference: 10, n: 1, failed: 0))
        #expect(s["complex"] == CategoryScore(relative: nil, model: nil, reference: nil, n: 0, failed: 0))
        let all = try #require(s["all"])
        #expect(all.n == 3 && all.failed == 1 && all.reference == 8 && abs((all.model ?? 0) - 17.0 / 3) < 1e-12)
        #expect(abs((all.relative ?? 0) - 100 * (17.0 / 3) / 8) < 1e-12)

        let json = try JSONSerialization.jsonObject(with: BenchReport.json([("j", reviews)])) as? [String: [String: Any]]
        #expect(Set(json?.keys.map { $0 } ?? []) == ["conversation", "detail", "complex", "all"])
        #expect(json?["complex"]?["relative"] is NSNull && (json?["all"]?["failed"] as? Int) == 1)
        let table = BenchReport.markdown([("j", reviews)])
        #expect(table.contains("| conversation | 7.00 | 6.00 | 85.7 | 2 | 1 |"))
        #expect(table.contains("| all | 8.00 | 5.67 | 70.8 | 3 | 1 | 85.1 | 67.3 |"))
    }

    @Test func kendallTauBMatchesScipy() {
        // scipy.stats.kendalltau: 0.6667 and 0.5 (with ties).
        #expect(abs((BenchReport.kendallTauB([1, 2, 3, 4], [1, 3, 2, 4]) ?? 0) - 2.0 / 3) < 1e-12)
        #expect(abs((BenchReport.kendallTauB([1, 1, 2], [1, 2, 2]) ?? 0) - 0.5) < 1e-12)
        #expect(BenchReport.kendallTauB([3, 3, 3], [1, 2, 3]) == nil)
    }

    @Test func twoJudgesSideBySide() throws {
        let a = [review(0, .conversation, 8, 2), review(1, .detail, 8, 4), review(2, .complex, 8, 6), review(3, .complex, nil, nil)]
        let b = [review(0, .conversation, 9, 3, judge: "k"), review(1, .detail, 9, 6, judge: "k"), review(2, .complex, 9, 5, judge: "k"),
                 review(3, .complex, 9, 9, judge: "k")]
        let g = BenchReport.agreement(("j", a), ("k", b))
        #expect(g.n == 3)                                            // question 3 failed for judge j
        #expect(abs((g.meanAbsDiff ?? 0) - 4.0 / 3) < 1e-12)         // |2-3| + |4-6| + |6-5| = 4
        #expect(abs((g.kendallTau ?? 0) - 1.0 / 3) < 1e-12)          // C = 2, D = 1
        let table = BenchReport.markdown([("j", a), ("k", b)])
        #expect(table.contains("| j vs k | 3 | 0.333 | 1.33 |"))
        let json = try JSONSerialization.jsonObject(with: BenchReport.json([("j", a), ("k", b)])) as? [String: Any]
        #expect((json?["judges"] as? [String: Any])?.keys.sorted() == ["j", "k"])
    }
}

@Suite struct AccuracyTests {
    @Test func multipleChoiceLetters() {
        let choices = ["red", "green", "blue"]
        let cases: [(String, Int?)] = [("B", 1), ("B.", 1), ("(C)", 2), ("A) red", 0), ("The answer is C.", 2), ("Answer: b", 1),
                                       ("green", 1), ("It is blue.", 2), ("D", nil), ("I don't know", nil), ("red or green", nil)]
        for (text, expected) in cases { #expect(MultipleChoice.parse(text, choices: choices) == expected, "\(text)") }
    }

    @Test func shortAnswerNormalisation() {
        #expect(VQAScore.normalise("Two dogs.") == "2 dogs")
        #expect(VQAScore.normalise("The 3.5 inch  screen!") == "3.5 inch screen")
        #expect(VQAScore.normalise("Don't") == VQAScore.normalise("dont"))
        #expect(VQAScore.score(answer: "a Dog", truths: ["dog"]) == 1)
        #expect(VQAScore.score(answer: "cat", truths: ["dog"]) == 0)
        let ten = ["dog", "dog", "puppy", "dog", "puppy", "dog", "dog", "dog", "dog", "hound"]
        #expect(VQAScore.score(answer: "dog", truths: ten) == 1)
        #expect(abs(VQAScore.score(answer: "puppy", truths: ten) - 2.0 / 3) < 1e-12)
        #expect(abs(VQAScore.score(answer: "hound", truths: ten) - 1.0 / 3) < 1e-12)
    }

    @Test func yesNoAsPOPEReadsIt() {
        #expect(YesNo.parse("Yes, there is a dog."))
        #expect(!YesNo.parse("No. There is no dog."))
        #expect(!YesNo.parse("There is not a dog in the image"))
        #expect(YesNo.parse("There is a dog. No cat though."))   // only the first sentence counts
    }

    @Test func groupedAndYesNoMetricsByHand() throws {
        let mc = [EvalQuestion(id: .int(1), image: nil, kind: .multipleChoice, question: "q", category: "bio", choices: ["x", "y"], answerIndex: 0),
                  EvalQuestion(id: .int(2), image: nil, kind: .multipleChoice, question: "q", category: "bio", choices: ["x", "y"], answerIndex: 1),
                  EvalQuestion(id: .int(3), image: nil, kind: .multipleChoice, question: "q", category: "phys", choices: ["x", "y"], answerIndex: 1)]
        let answers: [QuestionID: EvalAnswer] = [.int(1): .init(id: .int(1), text: "A"), .int(2): .init(id: .int(2), text: "A"),
                                                 .int(3): .init(id: .int(3), text: "no idea")]
        let g = try AccuracyReport.grouped(questions: mc, answers: answers)
        #expect(g["bio"] == AccuracyGroup(n: 2, correct: 1, accuracy: 50, unparsed: 0))
        #expect(g["phys"] == AccuracyGroup(n: 1, correct: 0, accuracy: 0, unparsed: 1))
        #expect(g["all"]?.n == 3 && g["all"]?.correct == 1)

        let labels = [true, true, false, false, true]
        let said = ["Yes", "No", "Yes", "No", "Yes"]   // TP, FN, FP, TN, TP
        let pope = labels.enumerated().map { EvalQuestion(id: .int($0.offset), image: nil, kind: .yesNo, question: "q", label: $0.element) }
        let popeAnswers = Dictionary(uniqueKeysWithValues: said.enumerated().map { (QuestionID.int($0.offset), EvalAnswer(id: .int($0.offset), text: $0.element)) })
        let m = try AccuracyReport.yesNo(questions: pope, answers: popeAnswers)
        #expect(m.n == 5 && m.accuracy == 0.6 && abs(m.precision - 2.0 / 3) < 1e-12 && abs(m.recall - 2.0 / 3) < 1e-12)
        #expect(abs(m.f1 - 2.0 / 3) < 1e-12 && m.yesRatio == 0.6)
        #expect(throws: EvalError.self) { try AccuracyReport.yesNo(questions: pope, answers: [:]) }
    }
}
