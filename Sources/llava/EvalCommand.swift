// `llava eval`: answer a question file with a model, judge answers against references LLaVA-Bench style, report
// relative scores (several judges side by side), and score plain accuracy sets.
import ArgumentParser
import Foundation
import LlavaCuration
import LlavaEval
import LlavaFormats
import LlavaGeneration

struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Evaluate: answer questions, judge answers, report scores, accuracy.",
        subcommands: [EvalAnswerCommand.self, EvalJudgeCommand.self, EvalReportCommand.self, EvalAccuracyCommand.self])
}

struct EvalAnswerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "answer", abstract: "Answer every question of a file (resumable).")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Question file (JSONL: question_id, image, text, category; or a multiple-choice / short-answer / yes-no set).") var questions: String
    @Option(help: "Folder the questions' images are in.") var images: String?
    @Option(help: "Answers file to write (JSONL); answers already in it are kept.") var output: String
    @Option(help: "Most tokens per answer.") var maxTokens: Int = 1024
    @Option(help: "Sampling temperature; 0 (the default) is greedy.") var temperature: Float = 0
    @Option(help: "Random seed when sampling.") var seed: UInt64 = 0
    @Option(help: "model_id written on each answer (the model path's name if unset).") var modelId: String?
    @Option(help: "A system line before each question.") var system: String?

    func run() throws {
        try runReportingErrors {
            guard maxTokens > 0, temperature >= 0 else { throw ValidationError("--max-tokens must be positive, --temperature >= 0") }
            let list = try EvalQuestion.load(URL(fileURLWithPath: questions))
            let model = try modelOptions.load()
            var settings = AnswerSettings()
            settings.generation = GenerationOptions(maxTokens: maxTokens, sampling: SamplingOptions(temperature: temperature, seed: seed))
            settings.modelID = modelId ?? URL(fileURLWithPath: modelOptions.model).deletingPathExtension().lastPathComponent
            settings.system = system
            let bar = ProgressBar(label: "answer", unit: "q")
            let answered = try AnswerRunner.run(questions: list, imagesDir: images.map { URL(fileURLWithPath: $0) }, model: model,
                                                settings: settings, output: URL(fileURLWithPath: output)) { done, total in
                bar.update(done: done, total: total)
            }
            bar.update(done: list.count, total: list.count, final: true)
            FileHandle.standardError.write(Data("answered \(answered) questions (\(list.count - answered) were already answered) → \(output)\n".utf8))
        }
    }
}

struct EvalJudgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judge", abstract: "Score answers against references with one or more judge models (resumable).")

    @Option(help: "Question file (question_id, image, text, category).") var questions: String
    @Option(help: "Captions (and boxes) per image, JSONL keyed by image.") var context: String
    @Option(help: "Reference answers (JSONL: question_id, text), Assistant 1.") var reference: String
    @Option(help: "The model's answers (JSONL: question_id, text), Assistant 2.") var answers: String
    @Option(help: "Judge API base URL; repeat to pair with each --model.") var endpoint: [String]
    @Option(help: "Judge model name; repeat for several judges.") var model: [String]
    @Option(help: "Reviews file (JSONL); with several judges, one file each: NAME.<judge>.jsonl.") var output: String
    @Option(help: "Requests in flight at once, per judge.") var concurrency: Int = 2
    @Option(help: "Extra judge calls when a reply's scores cannot be read.") var parseRetries: Int = 2
    @Option(help: "max_tokens for each judgement (the scores come on the first line).") var maxTokens: Int = 1024
    @Option(help: "Judge temperature.") var temperature: Double = 0.2
    @OptionGroup var client: ChatClientArguments

    /// Several judges write next to each other: reviews.jsonl → reviews.<judge>.jsonl.
    static func outputPath(_ output: String, judge: String, many: Bool) -> URL {
        let url = URL(fileURLWithPath: output)
        guard many else { return url }
        let safe = String(judge.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
        return url.deletingPathExtension().appendingPathExtension(safe).appendingPathExtension(url.pathExtension.isEmpty ? "jsonl" : url.pathExtension)
    }

    func run() async throws {
        try await runReportingErrorsAsync {
            guard concurrency > 0, parseRetries >= 0, maxTokens > 0, temperature >= 0 else {
                throw ValidationError("--concurrency and --max-tokens must be positive")
            }
            try client.check()
            guard !model.isEmpty, endpoint.count == model.count || endpoint.count == 1 else {
                throw ValidationError("give one --endpoint, or one --endpoint per --model")
            }
            let qs = try EvalQuestion.load(URL(fileURLWithPath: questions))
            let ctx = try EvalContext.load(URL(fileURLWithPath: context))
            let refs = try EvalAnswer.load(URL(fileURLWithPath: reference))
            let ans = try EvalAnswer.load(URL(fileURLWithPath: answers))
            let apiKey = try client.apiKey()
            var settings = JudgeSettings()
            settings.concurrency = concurrency
            settings.parseRetries = parseRetries
            settings.maxTokens = maxTokens
            settings.temperature = temperature
            var pending = 0
            for (i, name) in model.enumerated() {
                let chat = try OpenAIChatClient(endpoint: endpoint.count == 1 ? endpoint[0] : endpoint[i], model: name,
                                                apiKey: apiKey, options: client.options(connections: concurrency))
                let path = Self.outputPath(output, judge: name, many: model.count > 1)
                let bar = ProgressBar(label: "judge \(name)", unit: "q")
                let outcome: JudgeOutcome
                do {
                    outcome = try await Judge.run(questions: qs, context: ctx, references: refs, answers: ans, judgeName: name,
                                                  client: chat, settings: settings, output: path) { p in
                        bar.update(done: p.done, total: p.total, extra: "failed \(p.failed)")
                    }
                } catch {
                    await chat.shutdown()
                    throw error
                }
                await chat.shutdown()
                let failed = outcome.reviews.filter { $0.status == .failed }.count
                bar.update(done: outcome.reviews.count, total: qs.count, extra: "failed \(failed)", final: true)
                FileHandle.standardError.write(Data("judge \(name): \(outcome.reviews.count - failed) scored, \(failed) failed → \(path.path)\n".utf8))
                pending += outcome.pending
            }
            if pending > 0 { throw EvalError("\(pending) judge requests failed for good; rerun the same command to retry them") }
        }
    }
}

struct EvalReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Relative scores per category from review files.")

    @Argument(help: "Review files (one per judge).") var reviews: [String]
    @Flag(help: "Print JSON instead of a markdown table.") var json = false

    func run() throws {
        try runReportingErrors {
            guard !reviews.isEmpty else { throw ValidationError("give at least one reviews file") }
            var judges = try reviews.map { path -> (name: String, reviews: [Review]) in
                let list = try Review.load(URL(fileURLWithPath: path))
                return (list.first?.judge ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, list)
            }
            // Two files from the same judge (say, two models' answers) are told apart by file name.
            if Set(judges.map(\.name)).count < judges.count {
                for i in judges.indices { judges[i].name += " (\(URL(fileURLWithPath: reviews[i]).lastPathComponent))" }
            }
            if json { writeOut(String(decoding: try BenchReport.json(judges), as: UTF8.self) + "\n") } else { writeOut(BenchReport.markdown(judges)) }
        }
    }
}

struct EvalAccuracyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accuracy", abstract: "Accuracy of answers on a multiple-choice, short-answer or yes/no set.")

    @Option(help: "Question file with ground truths (choices + answer, answers, or label).") var questions: String
    @Option(help: "Answers file (JSONL: question_id, text).") var answers: String
    @Flag(help: "Print JSON instead of a table.") var json = false
    @Flag(help: "Also give each category's majority-answer score (short answer and yes/no sets).") var baseline = false

    func run() throws {
        try runReportingErrors {
            let qs = try EvalQuestion.load(URL(fileURLWithPath: questions))
            let ans = try EvalAnswer.load(URL(fileURLWithPath: answers))
            var kinds = Set(qs.map(\.kind))
            // Short answers and yes/no may share a file (scored together, by category).
            if kinds == [.shortAnswer, .yesNo] { kinds = [.shortAnswer] }
            guard kinds.count == 1, let kind = kinds.first, kind != .open else {
                throw EvalError("\(questions): every question must be of one kind — choices + answer, answers, or label")
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            if kind == .yesNo {
                let m = try AccuracyReport.yesNo(questions: qs, answers: ans)
                if json { writeOut(String(decoding: try encoder.encode(m), as: UTF8.self) + "\n"); return }
                writeOut("| n | accuracy | precision | recall | F1 | yes-ratio |\n|---:|---:|---:|---:|---:|---:|\n")
                writeOut(String(format: "| %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", m.n, 100 * m.accuracy, 100 * m.precision,
                                100 * m.recall, 100 * m.f1, 100 * m.yesRatio))
                return
            }
            let groups = try AccuracyReport.grouped(questions: qs, answers: ans)
            let floor = AccuracyReport.majorityBaseline(questions: qs)
            if json {
                let out = baseline ? try encoder.encode(["accuracy": groups, "majority_baseline": floor])
                                   : try encoder.encode(groups)
                writeOut(String(decoding: out, as: UTF8.self) + "\n")
                return
            }
            writeOut(baseline ? "| subject | n | accuracy | majority answer | unparsed |\n|---|---:|---:|---:|---:|\n"
                              : "| subject | n | accuracy | unparsed |\n|---|---:|---:|---:|\n")
            for key in groups.keys.sorted(by: { ($0 == "all" ? 1 : 0, $0) < ($1 == "all" ? 1 : 0, $1) }) {
                guard let g = groups[key] else { continue }
                let f = baseline ? " \(String(format: "%.2f", floor[key]?.accuracy ?? 0)) |" : ""
                writeOut("| \(key) | \(g.n) | \(String(format: "%.2f", g.accuracy)) |\(f) \(g.unparsed) |\n")
            }
        }
    }
}
