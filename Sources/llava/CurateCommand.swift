// `llava curate`: LLaVA's instruction data from captions and boxes through any OpenAI-compatible chat endpoint,
// resumable; `llava curate captions`: stage-1 samples from image–caption pairs with LLaVA's noun-phrase filter.
import ArgumentParser
import Foundation
import LlavaCuration
import LlavaFormats

struct CurateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "curate", abstract: "Build LLaVA instruction data with a text-only teacher model.",
        subcommands: [CurateRunCommand.self, CurateCaptionsCommand.self], defaultSubcommand: CurateRunCommand.self)
}

/// Async twin of `runReportingErrors`.
func runReportingErrorsAsync(_ body: () async throws -> Void) async throws {
    do { try await body() } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch {
        let hint = cliHint(error).map { " (\($0))" } ?? ""
        FileHandle.standardError.write(Data("error: \(error)\(hint)\n".utf8))
        throw ExitCode(1)
    }
}

struct CurateRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Conversations, detailed descriptions and complex reasoning from captions and boxes.")

    @Option(help: "LLaVA caps/boxes JSONL (id, image, captions, instances).") var input: String?
    @Option(help: "COCO captions_*.json (instead of --input).") var cocoCaptions: String?
    @Option(help: "COCO instances_*.json, for boxes (with --coco-captions).") var cocoInstances: String?
    @Option(help: "Comma-separated: conversation,detail,complex.") var kinds: String = "conversation,detail,complex"
    @Option(help: "OpenAI-compatible API base URL, e.g. http://127.0.0.1:8080/v1.") var endpoint: String
    @Option(help: "Model name sent to the endpoint.") var model: String
    @Option(help: "Prompt folder in the original LLaVA layout (conversation/, detail_description/, complex_reasoning/).") var prompts: String?
    @Option(help: "Requests in flight at once.") var concurrency: Int = 4
    @Option(help: "Only the first N images.") var limit: Int?
    @Option(help: "Seed for <image> placement and instruction choice.") var seed: UInt64 = 0
    @Option(help: "Sampling temperature sent to the teacher (its default if unset).") var temperature: Double?
    @Option(help: "max_tokens sent to the teacher.") var maxTokens: Int = 1024
    @OptionGroup var client: ChatClientArguments
    @Option(help: "Output folder: conversation.json, detail.json, complex.json, stats.json, journal.jsonl.") var output: String
    @Flag(help: "Print the run's stats as JSON on stdout at the end.") var json = false

    func run() async throws {
        try await runReportingErrorsAsync {
            guard concurrency > 0, maxTokens > 0 else {
                throw ValidationError("--concurrency and --max-tokens must be positive")
            }
            try client.check()
            var kindList: [CurationKind] = []
            for name in kinds.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
                guard let kind = CurationKind(rawValue: name) else {
                    throw CurationError.badArgument("unknown kind \"\(name)\"; use conversation, detail, complex")
                }
                if !kindList.contains(kind) { kindList.append(kind) }
            }
            guard !kindList.isEmpty else { throw CurationError.badArgument("--kinds names no kind") }

            var images: [ImageAnnotations]
            switch (input, cocoCaptions) {
            case (let path?, nil): images = try ImageAnnotations.loadJSONL(URL(fileURLWithPath: path))
            case (nil, let caps?):
                images = try ImageAnnotations.loadCOCO(captions: URL(fileURLWithPath: caps),
                                                       instances: cocoInstances.map { URL(fileURLWithPath: $0) })
            default: throw CurationError.badArgument("give either --input or --coco-captions")
            }
            if let limit { images = Array(images.prefix(max(0, limit))) }

            var settings = CurationSettings()
            settings.kinds = kindList
            settings.seed = seed
            settings.concurrency = concurrency
            settings.temperature = temperature
            settings.maxTokens = maxTokens
            if let prompts { settings.prompts = try PromptSet.load(root: URL(fileURLWithPath: prompts), kinds: kindList) }

            let chat = try OpenAIChatClient(endpoint: endpoint, model: model, apiKey: try client.apiKey(),
                                            options: client.options(connections: concurrency))

            let bar = ProgressBar(label: "curate", unit: "req")
            let summary: CurationSummary
            do {
                summary = try await CurationPipeline.run(
                    images: images, settings: settings, client: chat, meter: chat.meter,
                    output: URL(fileURLWithPath: output)) { p in
                        bar.update(done: p.done, total: p.total,
                                   extra: "rejected \(p.rejected) · failed \(p.failed) · \(p.completionTokens) tokens out")
                    }
            } catch {
                await chat.shutdown()
                throw error
            }
            await chat.shutdown()
            let done = summary.samples.values.reduce(0, +) + summary.rejected.values.reduce(0, +)
            bar.update(done: done, total: done + summary.pending, extra: "rejected \(summary.rejected.values.reduce(0, +))", final: true)
            let counts = kindList.map { "\($0.rawValue) \(summary.samples[$0.rawValue] ?? 0)" }.joined(separator: ", ")
            FileHandle.standardError.write(Data("samples: \(counts); requests \(summary.thisRun.requests) this run, retries \(summary.thisRun.retries), tokens \(summary.thisRun.promptTokens) in / \(summary.thisRun.completionTokens) out → \(output)\n".utf8))
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                writeOut(String(decoding: try encoder.encode(summary), as: UTF8.self) + "\n")
            }
            if summary.pending > 0 {
                throw CurationError.badArgument("\(summary.pending) image × kind requests failed (see stats.json); rerun the same command to retry them")
            }
        }
    }
}

struct CurateCaptionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "captions", abstract: "Stage-1 samples from image–caption pairs, filtered by noun-phrase frequency as LLaVA filtered CC3M.")

    @Option(help: "JSONL with image and caption (or captions) per line, optional id.") var input: String
    @Option(help: "Output LLaVA-Instruct JSON file.") var output: String
    @Option(help: "Noun phrases seen fewer times than this are rare and keep no caption.") var minFrequency: Int = 3
    @Option(help: "A noun phrase keeps at most this many of its captions (chosen at random).") var maxPerPhrase: Int = 100
    @Flag(help: "Keep every pair (no noun-phrase filter).") var noFilter = false
    @Option(help: "Seed for sampling and instruction choice.") var seed: UInt64 = 0

    func run() throws {
        try runReportingErrors {
            guard minFrequency > 0, maxPerPhrase > 0 else { throw ValidationError("--min-frequency and --max-per-phrase must be positive") }
            let pairs = try CaptionPair.loadJSONL(URL(fileURLWithPath: input))
            let kept = noFilter ? Array(pairs.indices)
                : NounPhrases.filter(pairs.map(\.caption), minFrequency: minFrequency, maxPerPhrase: maxPerPhrase, seed: seed)
            let samples = CaptionData.samples(kept.map { pairs[$0] }, seed: seed)
            try AtomicFile.write(try InstructSample.encode(samples), to: URL(fileURLWithPath: output))
            FileHandle.standardError.write(Data("kept \(samples.count) of \(pairs.count) pairs → \(output)\n".utf8))
        }
    }
}
