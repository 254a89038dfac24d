// `llava scenes`: the synthetic world. `generate` draws seeded scenes (images + ground truth + LLaVA's caps/boxes
// and caption pairs), `questions` writes a held-out question file with references, `qa` writes template Q&A
// conversations from the ground truth (one training arm), `check` fact-checks curated data against the scenes.
import ArgumentParser
import Foundation
import LlavaFormats
import LlavaScenes
import LlavaTensor
import LlavaVision

struct ScenesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenes",
        abstract: "Synthetic scenes with ground truth: images, captions, questions, fact checks.",
        subcommands: [ScenesGenerateCommand.self, ScenesQuestionsCommand.self, ScenesQACommand.self,
                      ScenesCheckCommand.self])
}

struct ScenesGenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Draw N seeded scenes: images/, scenes.jsonl, caps_boxes.jsonl, captions.jsonl (resumable).")

    @Option(help: "How many scenes.") var count: Int
    @Option(help: "Run seed: train and held-out splits use different seeds.") var seed: UInt64 = 1
    @Option(help: "Scene id prefix.") var prefix: String = "scene"
    @Option(help: "Fewest shapes in a scene.") var minObjects: Int = 1
    @Option(help: "Most shapes in a scene.") var maxObjects: Int = 6
    @Option(help: "Output folder.") var output: String

    func run() throws {
        try runReportingErrors {
            guard count > 0, count <= 1_000_000 else { throw ValidationError("--count must be 1...1000000") }
            guard minObjects >= 1, maxObjects >= minObjects, maxObjects <= 9 else {
                throw ValidationError("--min-objects/--max-objects must satisfy 1 <= min <= max <= 9")
            }
            var sampler = SceneSampler()
            sampler.minObjects = minObjects; sampler.maxObjects = maxObjects
            let out = URL(fileURLWithPath: output)
            let images = out.appendingPathComponent("images")
            try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var sceneLines = "", capsBoxes: [[String: Any]] = [], captions: [[String: Any]] = []
            let bar = ProgressBar(label: "scenes", unit: "scenes")
            for i in 0..<count {
                let scene = sampler.scene(runSeed: seed, index: i, prefix: prefix)
                let file = images.appendingPathComponent(scene.image)
                // Resumable: an image is written whole under a temporary name, so one that exists is complete.
                if !FileManager.default.fileExists(atPath: file.path) {
                    let format: ImageFileFormat = scene.rendering.format == "jpeg" ? .jpeg : .png
                    try ImageEncoder.write(SceneRasterizer.render(scene), to: file, format: format,
                                           quality: scene.rendering.quality)
                }
                sceneLines += String(decoding: try encoder.encode(scene), as: UTF8.self) + "\n"
                capsBoxes.append(SceneLanguage.capsBoxes(scene))
                for (k, caption) in SceneLanguage.captions(scene).enumerated() {
                    captions.append(["id": "\(scene.id)-c\(k)", "image": scene.image, "caption": caption])
                }
                bar.update(done: i + 1, total: count)
            }
            bar.update(done: count, total: count, final: true)
            try Data(sceneLines.utf8).write(to: out.appendingPathComponent("scenes.jsonl"), options: .atomic)
            try JSONLines.write(capsBoxes, to: out.appendingPathComponent("caps_boxes.jsonl"))
            try JSONLines.write(captions, to: out.appendingPathComponent("captions.jsonl"))
            writeOut("wrote \(count) scenes to \(output)\n")
        }
    }
}

struct ScenesQuestionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "questions",
        abstract: "A question file for `llava eval` (short answer, yes/no, detail, complex) with reference answers.")

    @Option(help: "scenes.jsonl from `llava scenes generate`.") var scenes: String
    @Option(help: "Question file to write (JSONL).") var output: String
    @Option(help: "Reference answers to write (JSONL, for `llava eval judge`).") var references: String?
    @Option(help: "Questions seed.") var seed: UInt64 = 7
    @Flag(help: "Leave out the open detail and reasoning prompts.") var factualOnly = false

    func run() throws {
        try runReportingErrors {
            let list = try Scene.loadJSONL(URL(fileURLWithPath: scenes))
            var questions: [[String: Any]] = [], refs: [[String: Any]] = []
            var id = 0
            for scene in list {
                var g = SplitMix64(seed: SceneSampler.sceneSeed(runSeed: seed, index: id))
                for q in SceneQuestions.questions(for: scene, using: &g) {
                    if factualOnly && q.kind == .open { continue }
                    var line: [String: Any] = ["question_id": id, "image": scene.image, "text": q.question,
                                               "category": q.category]
                    switch q.kind {
                    case .short: line["answers"] = [q.answer]
                    case .yesNo: line["label"] = q.answer
                    case .open: break
                    }
                    questions.append(line)
                    refs.append(["question_id": id, "text": q.sentence, "category": q.category])
                    id += 1
                }
            }
            try JSONLines.write(questions, to: URL(fileURLWithPath: output))
            if let references { try JSONLines.write(refs, to: URL(fileURLWithPath: references)) }
            writeOut("wrote \(questions.count) questions over \(list.count) scenes to \(output)\n")
        }
    }
}

struct ScenesQACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qa", abstract: "Template Q&A conversations written from the ground truth (LLaVA-Instruct JSON).")

    @Option(help: "scenes.jsonl from `llava scenes generate`.") var scenes: String
    @Option(help: "LLaVA-Instruct JSON to write.") var output: String
    @Option(help: "Seed.") var seed: UInt64 = 11
    @Flag(help: "Factual questions only (no detail or reasoning turns).") var factualOnly = false
    @Option(help: "Draws of the factual question set per scene, each distinct question kept once.") var rounds = 1
    @Option(help: "Percent of short questions asked with the short-answer instruction.") var shortPercent = 50

    func run() throws {
        try runReportingErrors {
            guard (1...16).contains(rounds) else { throw ValidationError("--rounds must be 1...16, got \(rounds)") }
            guard (0...100).contains(shortPercent) else {
                throw ValidationError("--short-percent must be 0...100, got \(shortPercent)")
            }
            let list = try Scene.loadJSONL(URL(fileURLWithPath: scenes))
            var samples: [InstructSample] = []
            for (i, scene) in list.enumerated() {
                var g = SplitMix64(seed: SceneSampler.sceneSeed(runSeed: seed, index: i))
                samples.append(SceneConversation.template(scene, using: &g, factualOnly: factualOnly,
                                                          rounds: rounds, shortPercent: shortPercent))
            }
            try InstructSample.encode(samples).write(to: URL(fileURLWithPath: output), options: .atomic)
            writeOut("wrote \(samples.count) conversations to \(output)\n")
        }
    }
}

struct ScenesCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Fact-check curated samples against the scenes; write the true ones and a report.")

    @Option(help: "scenes.jsonl the data was curated from.") var scenes: String
    @Option(parsing: .upToNextOption, help: "Curated LLaVA-Instruct JSON files.") var data: [String]
    @Option(help: "Where the samples that pass go (LLaVA-Instruct JSON).") var output: String
    @Option(help: "Report (JSON): claims checked and wrong, per kind.") var report: String?

    func run() throws {
        try runReportingErrors {
            let list = try Scene.loadJSONL(URL(fileURLWithPath: scenes))
            var byImage: [String: Scene] = [:]
            for s in list { byImage[s.image] = s }
            var kept: [InstructSample] = []
            var stats = FactCheckStats()
            for path in data {
                guard let bytes = FileManager.default.contents(atPath: path) else {
                    throw SceneError.unreadable(path, "no such file")
                }
                let kind = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
                for sample in try InstructSample.decode(bytes, path: path) {
                    guard let image = sample.image, let scene = byImage[image] else {
                        let what = sample.image.map { "image \($0), which is not" } ?? "no image, so not"
                        throw SceneError.badOption("\(path): sample \(sample.id) has \(what) a scene of \(scenes)")
                    }
                    let verdict = FactChecker.check(sample, against: scene)
                    stats.add(verdict, kind: kind)
                    if verdict.errors.isEmpty { kept.append(sample) }
                }
            }
            try InstructSample.encode(kept).write(to: URL(fileURLWithPath: output), options: .atomic)
            let json = try stats.json()
            if let report { try json.write(to: URL(fileURLWithPath: report), options: .atomic) }
            writeOut(String(decoding: json, as: UTF8.self) + "\n")
        }
    }
}
