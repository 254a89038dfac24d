// `llava eval` as a user runs it: judge → report on LLaVA-Bench (COCO) files from the original release with the
// GPT-4 answers standing in for a model's, two scripted judges on loopback; accuracy sets; bad inputs.
import Foundation
import LlavaTestSupport
import Testing

/// The original LLaVA release's data files: LLAVA_SHARED_DATA, else `../shared/data` beside the repository, else the
/// workplace's `/work/shared/data`.
let sharedData: URL? = {
    let candidates = [ProcessInfo.processInfo.environment["LLAVA_SHARED_DATA"].map { URL(fileURLWithPath: $0) },
                      cliRoot.deletingLastPathComponent().appendingPathComponent("shared/data"),
                      URL(fileURLWithPath: "/work/shared/data")].compactMap { $0 }
    return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("playground/data/coco2014_val_qa_eval/qa90_questions.jsonl").path) }
}()

@Suite(.serialized) struct EvalCLITests {
    @Test(.enabled(if: sharedData != nil, "needs ../shared/data (the original LLaVA release's files)"))
    func judgeAndReportOnLLaVABenchCOCO() async throws {
        let data = try #require(sharedData)
        let qa = data.appendingPathComponent("playground/data/coco2014_val_qa_eval")
        // Judge A scores from the question text's length and fails to give scores for every 15th question;
        // judge B is harsher on long answers.
        let server = try await ScriptedChatServer.start { request, _ in
            let question = request.key.components(separatedBy: "[Question]\n").last?.components(separatedBy: "\n").first ?? ""
            let n = question.count
            if request.model == "judge-a" {
                return .completion(n % 15 == 0 ? "Both answers are detailed." : "8 \(5 + n % 4)\nreasons")
            }
            return .completion("Assistant 1: 9\nAssistant 2: \(4 + n % 5)")
        }
        let out = try tempDir()
        let r = await (try RunningLlava(["eval", "judge", "--questions", qa.appendingPathComponent("qa90_questions.jsonl").path,
            "--context", data.appendingPathComponent("llava/eval/table/caps_boxes_coco2014_val_80.jsonl").path,
            "--reference", qa.appendingPathComponent("qa90_gpt4_answer.jsonl").path,
            "--answers", qa.appendingPathComponent("qa90_gpt4_answer.jsonl").path,
            "--endpoint", server.baseURL, "--model", "judge-a", "--model", "judge-b", "--parse-retries", "1",
            "--output", out.appendingPathComponent("reviews.jsonl").path])).wait()
        #expect(r.status == 0, "\(r.stderr)")
        let a = out.appendingPathComponent("reviews.judge-a.jsonl").path, b = out.appendingPathComponent("reviews.judge-b.jsonl").path
        let expectedFailed = try String(contentsOf: qa.appendingPathComponent("qa90_questions.jsonl"), encoding: .utf8)
            .split(separator: "\n").filter { line in
                let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return ((o?["text"] as? String)?.count ?? 1) % 15 == 0
            }.count
        #expect(await server.log.requests.count == 90 + 90 + expectedFailed)   // one retry per unparseable reply

        let report = try llava(["eval", "report", a, "--json"])
        #expect(report.status == 0, "\(report.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: [String: Any]])
        #expect((json["all"]?["n"] as? Int) == 90 - expectedFailed && (json["all"]?["failed"] as? Int) == expectedFailed)
        #expect((json["conversation"]?["n"] as? Int).map { $0 + ((json["conversation"]?["failed"] as? Int) ?? 0) } == 30)
        #expect((json["all"]?["reference"] as? Double) == 8)
        let table = try llava(["eval", "report", a, b])
        // Judge B's relative score, from its scripted replies (reference 9, ours 4 + n % 5), as the run must compute it
        // (not the paper's 85.1, which every report prints for scale).
        let lengths = try String(contentsOf: qa.appendingPathComponent("qa90_questions.jsonl"), encoding: .utf8)
            .split(separator: "\n").compactMap { line in
                ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["text"] as? String
            }.map(\.count)
        let relativeB = 100 * (lengths.map { Double(4 + $0 % 5) }.reduce(0, +) / Double(lengths.count)) / 9
        let allRow = table.stdout.split(separator: "\n").first { $0.hasPrefix("| all |") } ?? ""
        #expect(table.status == 0 && table.stdout.contains("judge-a vs judge-b") && lengths.count == 90)
        #expect(allRow.contains(String(format: "%.1f (90/0)", relativeB)), "\(allRow)")
        let single = try llava(["eval", "report", a])
        #expect(single.stdout.contains("| all | 8.00 |") && single.stdout.contains("| \(expectedFailed) |"))
        await server.stop()
    }

    @Test func accuracySetsAndBadInputs() throws {
        let dir = try tempDir()
        func write(_ name: String, _ lines: [String]) throws -> String {
            let url = dir.appendingPathComponent(name)
            try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }
        let mcq = try write("mc.jsonl", ["{\"question_id\": 1, \"question\": \"?\", \"choices\": [\"a\", \"b\"], \"answer\": 0, \"subject\": \"bio\"}",
                                         "{\"question_id\": 2, \"question\": \"?\", \"choices\": [\"a\", \"b\"], \"answer\": 1, \"subject\": \"phys\"}"])
        let mca = try write("mca.jsonl", ["{\"question_id\": 2, \"text\": \"(B)\"}", "{\"question_id\": 1, \"text\": \"B\"}"])
        let mc = try llava(["eval", "accuracy", "--questions", mcq, "--answers", mca, "--json"])
        #expect(mc.status == 0, "\(mc.stderr)")
        let groups = try JSONSerialization.jsonObject(with: Data(mc.stdout.utf8)) as? [String: [String: Any]]
        #expect((groups?["all"]?["accuracy"] as? Double) == 50 && (groups?["phys"]?["accuracy"] as? Double) == 100)

        let popeq = try write("pope.jsonl", ["{\"question_id\": \"a\", \"image\": \"x.jpg\", \"text\": \"Is there a dog?\", \"label\": \"yes\"}",
                                             "{\"question_id\": \"b\", \"image\": \"x.jpg\", \"text\": \"Is there a cat?\", \"label\": \"no\"}"])
        let popea = try write("popea.jsonl", ["{\"question_id\": \"a\", \"text\": \"Yes.\"}", "{\"question_id\": \"b\", \"text\": \"Yes, there is.\"}"])
        let pope = try llava(["eval", "accuracy", "--questions", popeq, "--answers", popea])
        #expect(pope.status == 0 && pope.stdout.contains("| 2 | 50.00 | 50.00 | 100.00 | 66.67 | 100.00 |"), "\(pope.stdout)")

        let vqaq = try write("vqa.jsonl", ["{\"question_id\": 1, \"image\": \"x.jpg\", \"question\": \"What?\", \"answers\": [\"dog\", \"dog\", \"puppy\"]}"])
        let vqaa = try write("vqaa.jsonl", ["{\"question_id\": 1, \"text\": \"Puppy.\"}"])
        let vqa = try llava(["eval", "accuracy", "--questions", vqaq, "--answers", vqaa])
        #expect(vqa.status == 0 && vqa.stdout.contains("| all | 1 | 33.33 | 0 |"), "\(vqa.stdout)")

        expectCleanError(try llava(["eval", "accuracy", "--questions", mcq, "--answers", try write("dup.jsonl", ["{\"question_id\": 1, \"text\": \"A\"}", "{\"question_id\": 1, \"text\": \"B\"}"])]),
                         mentioning: "answered twice")
        expectCleanError(try llava(["eval", "accuracy", "--questions", try write("mixed.jsonl", [
            "{\"question_id\": 1, \"question\": \"?\", \"choices\": [\"a\", \"b\"], \"answer\": 0}",
            "{\"question_id\": 2, \"text\": \"Is it?\", \"label\": \"yes\"}"]), "--answers", mca]), mentioning: "one kind")
        expectCleanError(try llava(["eval", "accuracy", "--questions", try write("badmc.jsonl", [
            "{\"question_id\": 1, \"question\": \"?\", \"choices\": [\"a\", \"b\"], \"answer\": 5}"]), "--answers", mca]), mentioning: "badmc.jsonl:1")
        expectCleanError(try llava(["eval", "report", try write("garbage.jsonl", ["{\"question_id\": 1, \"category\": \"poetry\"}"])]),
                         mentioning: "garbage.jsonl:1")
        expectCleanError(try llava(["eval", "report", dir.appendingPathComponent("none.jsonl").path]), mentioning: "none.jsonl")
        expectCleanError(try llava(["eval", "judge", "--questions", mcq, "--context", popeq, "--reference", mca, "--answers", mca,
                                    "--endpoint", "http://127.0.0.1:9/v1", "--model", "j", "--output", dir.appendingPathComponent("r.jsonl").path]),
                         mentioning: "category")
        expectCleanError(try llava(["eval", "judge", "--questions", mcq, "--context", mcq, "--reference", mca, "--answers", mca,
                                    "--endpoint", "http://127.0.0.1:9/v1", "--model", "j", "--output", dir.appendingPathComponent("r.jsonl").path]),
                         mentioning: "mc.jsonl:1: missing \"image\"")
        expectCleanError(try llava(["eval", "answer", "--model", fx("tiny-gqa-crop"), "--questions", popeq,
                                    "--output", dir.appendingPathComponent("ans.jsonl").path]), mentioning: "--images")
    }
}
