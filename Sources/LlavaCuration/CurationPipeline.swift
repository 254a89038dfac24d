// The curation run: every image × kind becomes one chat request to the teacher, at most `concurrency` in flight;
// each reply is parsed into a LLaVA-Instruct sample (or rejected whole) and journaled; at the end the three output
// files, the rejects and stats.json are written from the journal, atomically, in input order — so a run killed at
// any point and rerun gives the same samples as one that never stopped.
import Foundation
import LlavaFormats
import LlavaGeneration

public struct CurationSettings: Sendable {
    public var kinds: [CurationKind] = CurationKind.allCases
    public var prompts: [CurationKind: PromptSet] = [:]   // missing kinds use the built-in prompts
    public var seed: UInt64 = 0
    public var concurrency: Int = 4
    public var temperature: Double?
    public var maxTokens: Int? = 1024
    public init() {}
}

public struct CurationProgress: Sendable {
    public var done: Int          // final replies, this run and before
    public var total: Int
    public var rejected: Int
    public var failed: Int        // requests that failed this run (retried on the next)
    public var completionTokens: Int
}

public struct CurationSummary: Codable, Sendable, Equatable {
    public var samples: [String: Int]
    public var rejected: [String: Int]
    public var pending: Int             // image × kind pairs still without a final reply
    public var requests: Int
    public var retries: Int
    public var parseFailures: Int
    public var failedRequests: Int
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int
    public var thisRun: ThisRun

    public struct ThisRun: Codable, Sendable, Equatable {
        public var requests: Int
        public var retries: Int
        public var failedRequests: Int
        public var promptTokens: Int
        public var completionTokens: Int
    }

    enum CodingKeys: String, CodingKey {
        case samples, rejected, pending, requests, retries
        case parseFailures = "parse_failures", failedRequests = "failed_requests"
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
        case thisRun = "this_run"
    }
}

extension CurationSummary.ThisRun {
    enum CodingKeys: String, CodingKey {
        case requests, retries
        case failedRequests = "failed_requests", promptTokens = "prompt_tokens", completionTokens = "completion_tokens"
    }
}

public enum CurationPipeline {
    public static let journalName = "journal.jsonl"
    public static let settingsName = "settings.json"

    /// Instructions that ask for a detailed description (swift-llava's own phrasings).
    public static let detailInstructions = [
        "Describe this image in detail.",
        "Tell me everything you can see in this picture.",
        "Give a thorough description of the photo.",
        "What is happening in this image? Describe it fully.",
        "Walk me through the contents of this picture in detail.",
        "Write a detailed account of what the image shows.",
        "Explain in detail what this photo depicts.",
        "Describe the scene in the image as fully as you can.",
        "Give an elaborate description of what you see here.",
        "Paint a picture in words of this image, leaving nothing important out.",
    ]

    /// A per-sample generator: the same seed, kind and image give the same draws whatever order requests finish in.
    static func generator(seed: UInt64, key: String) -> SeededGenerator {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325   // FNV-1a
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return SeededGenerator(seed: seed ^ hash)
    }

    /// The sample a parsed reply makes; `<image>` goes before or after the first human turn at random, as in LLaVA.
    public static func sample(kind: CurationKind, image: ImageAnnotations, reply: ChatCompletion, seed: UInt64) throws -> InstructSample {
        if reply.finishReason == "length" { throw ReplyParseError.truncated }
        var rng = generator(seed: seed, key: "\(kind.rawValue)/\(image.id)")
        var turns: [InstructSample.Turn] = []
        switch kind {
        case .conversation, .complex:
            for pair in try ReplyParser.qaPairs(reply.text) {
                turns.append(.init(from: "human", value: pair.question))
                turns.append(.init(from: "gpt", value: pair.answer))
            }
        case .detail:
            let description = try ReplyParser.description(reply.text)
            let instruction = detailInstructions[Int(rng.next() % UInt64(detailInstructions.count))]
            turns = [.init(from: "human", value: instruction), .init(from: "gpt", value: description)]
        }
        let marker = InstructSample.imageMarker
        turns[0].value = rng.next() & 1 == 0 ? "\(marker)\n\(turns[0].value)" : "\(turns[0].value)\n\(marker)"
        return InstructSample(id: image.id, image: image.image, conversations: turns)
    }

    public static func run(images: [ImageAnnotations], settings: CurationSettings, client: any ChatCompleting,
                           meter: UsageMeter?, output: URL,
                           progress: @escaping @Sendable (CurationProgress) -> Void = { _ in }) async throws -> CurationSummary {
        let fm = FileManager.default
        do { try fm.createDirectory(at: output, withIntermediateDirectories: true) } catch {
            throw CurationError.unreadable(path: output.path, reason: "cannot create the output folder: \(error.localizedDescription)")
        }
        try checkSettings(output: output, seed: settings.seed)
        let journal = try CurationJournal(url: output.appendingPathComponent(journalName))
        let done = await journal.finalEntries()

        var jobs: [(ImageAnnotations, CurationKind)] = []
        for image in images { for kind in settings.kinds where done["\(kind.rawValue)/\(image.id)"] == nil { jobs.append((image, kind)) } }
        let total = images.count * settings.kinds.count
        let keys = Set(images.flatMap { image in settings.kinds.map { "\($0.rawValue)/\(image.id)" } })
        var state = CurationProgress(done: done.keys.filter { keys.contains($0) }.count, total: total,
                                     rejected: done.values.filter { $0.status == .rejected && keys.contains($0.key) }.count,
                                     failed: 0, completionTokens: 0)
        progress(state)

        var fatal: Error?
        await withThrowingTaskGroup(of: JournalEntry.self) { group in
            var next = 0
            func launch() {
                guard next < jobs.count else { return }
                let (image, kind) = jobs[next]
                next += 1
                let prompts = settings.prompts[kind] ?? PromptSet.builtIn(kind)
                group.addTask {
                    let messages = prompts.messages(context: SymbolicContext.text(for: image, includeBoxes: kind.usesBoxes))
                    do {
                        let reply = try await client.complete(messages, temperature: settings.temperature, maxTokens: settings.maxTokens)
                        do {
                            let sample = try sample(kind: kind, image: image, reply: reply, seed: settings.seed)
                            return JournalEntry(kind: kind, id: image.id, status: .ok, sample: sample, reason: nil, reply: nil,
                                                attempts: reply.attempts, promptTokens: reply.promptTokens,
                                                completionTokens: reply.completionTokens)
                        } catch let error as ReplyParseError {
                            return JournalEntry(kind: kind, id: image.id, status: .rejected, sample: nil,
                                                reason: error.description, reply: reply.text, attempts: reply.attempts,
                                                promptTokens: reply.promptTokens, completionTokens: reply.completionTokens)
                        }
                    } catch let failure as ChatRequestError {
                        if failure.isFatal { throw failure }
                        return JournalEntry(kind: kind, id: image.id, status: .failed, sample: nil, reason: failure.description,
                                            reply: nil, attempts: failure.attempts, promptTokens: 0, completionTokens: 0)
                    }
                }
            }
            for _ in 0..<max(1, settings.concurrency) { launch() }
            do {
                while let entry = try await group.next() {
                    try await journal.append(entry)
                    switch entry.status {
                    case .ok: state.done += 1
                    case .rejected: state.done += 1; state.rejected += 1
                    case .failed: state.failed += 1
                    }
                    state.completionTokens += entry.completionTokens
                    progress(state)
                    launch()
                }
            } catch {
                // A wrong key or model fails every request alike: stop, keep what was journaled.
                group.cancelAll()
                fatal = error
            }
        }
        let summary = try await writeOutputs(images: images, settings: settings, journal: journal, meter: meter, output: output)
        if let fatal { throw fatal }
        return summary
    }

    static func checkSettings(output: URL, seed: UInt64) throws {
        let url = output.appendingPathComponent(settingsName)
        if let data = try? Data(contentsOf: url) {
            let stored = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["seed"] as? NSNumber
            guard stored?.uint64Value == seed else {
                throw CurationError.badArgument(
                    "\(output.path) holds a run made with --seed \(stored.map { "\($0)" } ?? "?"); resume with that seed or use another --output")
            }
        } else {
            try AtomicFile.write(Data("{\"seed\": \(seed)}\n".utf8), to: url)
        }
    }

    /// The three sample files, the rejects and the stats, from the journal, in input order.
    static func writeOutputs(images: [ImageAnnotations], settings: CurationSettings, journal: CurationJournal,
                             meter: UsageMeter?, output: URL) async throws -> CurationSummary {
        let final = await journal.finalEntries()
        let all = await journal.entries
        var samples: [String: Int] = [:]
        var rejectedCounts: [String: Int] = [:]
        var pending = 0
        var rejects: [[String: String]] = []
        for kind in settings.kinds {
            var list: [InstructSample] = []
            for image in images {
                guard let entry = final["\(kind.rawValue)/\(image.id)"] else { pending += 1; continue }
                if let sample = entry.sample { list.append(sample) } else {
                    rejects.append(["kind": kind.rawValue, "id": image.id, "reason": entry.reason ?? "", "reply": entry.reply ?? ""])
                }
            }
            samples[kind.rawValue] = list.count
            rejectedCounts[kind.rawValue] = rejects.filter { $0["kind"] == kind.rawValue }.count
            try AtomicFile.write(try InstructSample.encode(list), to: output.appendingPathComponent(kind.outputFileName))
        }
        let rejectData = try JSONSerialization.data(withJSONObject: rejects, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try AtomicFile.write(rejectData, to: output.appendingPathComponent("rejected.json"))

        let thisRun = CurationSummary.ThisRun(requests: await meter?.requests ?? 0, retries: await meter?.retries ?? 0,
                                              failedRequests: await meter?.failedRequests ?? 0,
                                              promptTokens: await meter?.promptTokens ?? 0,
                                              completionTokens: await meter?.completionTokens ?? 0)
        // Over the whole job (every run the journal remembers); `this_run` holds this process's own counts.
        let prompt = all.reduce(0) { $0 + $1.promptTokens }
        let completion = all.reduce(0) { $0 + $1.completionTokens }
        let summary = CurationSummary(
            samples: samples, rejected: rejectedCounts, pending: pending,
            requests: all.reduce(0) { $0 + $1.attempts }, retries: all.reduce(0) { $0 + max(0, $1.attempts - 1) },
            parseFailures: all.filter { $0.status == .rejected }.count,
            failedRequests: all.filter { $0.status == .failed }.count,
            promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion, thisRun: thisRun)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(summary), to: output.appendingPathComponent("stats.json"))
        return summary
    }
}
