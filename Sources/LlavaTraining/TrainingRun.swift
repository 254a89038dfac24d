// A whole `llava train` run in an output folder: start or resume, train step by step with a JSONL log line per step,
// checkpoint every N steps and at the end, draw the loss curve (loss.svg, with the previous stage's curve when the
// model folder came from one), and export the result as a llava-hf folder (plus PEFT adapters for LoRA runs).
import Foundation
import LlavaFormats
import LlavaTensor

public struct TrainingRunConfig: Sendable {
    public var model: String
    public var data: String
    public var images: String?
    public var output: String
    public var options: TrainingOptions
    public var checkpointEvery = 0     // 0: only at the end
    public var resume = false
    public init(model: String, data: String, images: String?, output: String, options: TrainingOptions) {
        self.model = model; self.data = data; self.images = images; self.output = output; self.options = options
    }
}

public final class TrainingRun: @unchecked Sendable {
    public let config: TrainingRunConfig
    public let model: TrainingModel
    public let data: TrainingSet
    public let trainer: Trainer
    public let resumedFrom: Int
    /// The data's fingerprint, hashed once: every checkpoint records it.
    let fingerprint: String
    let output: URL
    let log: AppendLog
    public private(set) var records: [StepRecord] = []

    public init(_ config: TrainingRunConfig) throws {
        self.config = config
        let o = config.options
        try o.check()
        output = URL(fileURLWithPath: config.output)
        if URL(fileURLWithPath: config.model).standardizedFileURL == output.standardizedFileURL {
            throw TrainingError.badOption("--output must not be the model folder")
        }
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let existing = TrainingCheckpoint.existing(output)
        if existing != nil && !config.resume {
            throw TrainingError.badOption("\(config.output) already holds a checkpoint; pass --resume to continue it, or choose another --output")
        }
        let state = try existing.map(TrainingCheckpoint.readState)
        model = try TrainingModel(folder: config.model, stage: o.stage, lora: o.lora, seed: o.seed)
        data = try TrainingSet(data: config.data, images: config.images, model: model.inference, stage: o.stage,
                               maxLength: o.maxLength, legacy: model.legacyTokenizer)
        trainer = try Trainer(model: model.trainable, data: data, features: model.featureCache(), options: o)
        fingerprint = Self.fingerprint(data)
        if let state, let dir = existing {
            guard state.options == o else {
                throw TrainingError.badCheckpoint("the checkpoint in \(config.output) was made with other options; resume with the same ones")
            }
            guard state.dataFingerprint == fingerprint, state.samples == data.count else {
                throw TrainingError.badCheckpoint("the checkpoint in \(config.output) was made on other data (\(state.samples) samples)")
            }
            try TrainingCheckpoint.load(dir, into: trainer, step: state.step)
            resumedFrom = state.step
        } else {
            resumedFrom = 0
        }
        // The log keeps the steps the checkpoint holds; later lines belong to steps that run again.
        let logURL = output.appendingPathComponent("log.jsonl")
        let decoder = JSONDecoder()
        let opened = try AppendLog(url: logURL)   // a line cut by a crash is dropped here
        let done = resumedFrom
        let kept = opened.lines.filter { ((try? decoder.decode(StepRecord.self, from: $0))?.step ?? Int.max) <= done }
        if kept.count != opened.lines.count {
            try AtomicFile.write(kept.reduce(Data()) { $0 + $1 + Data([0x0A]) }, to: logURL)
        }
        log = kept.count != opened.lines.count ? try AppendLog(url: logURL) : opened
        records = log.lines.compactMap { try? decoder.decode(StepRecord.self, from: $0) }
    }

    /// FNV-1a over every sample's ids, labels and image path.
    static func fingerprint(_ data: TrainingSet) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ v: Int) { h = (h ^ UInt64(bitPattern: Int64(v))) &* 0x100_0000_01b3 }
        for ex in data.examples {
            ex.tokens.ids.forEach(mix); mix(-1)
            ex.tokens.labels.forEach(mix); mix(-2)
            (ex.image ?? "").utf8.forEach { mix(Int($0)) }; mix(-3)
        }
        return String(h, radix: 16)
    }

    var state: TrainingState {
        TrainingState(step: trainer.step, totalSteps: trainer.totalSteps, options: config.options,
                      dataFingerprint: fingerprint, samples: data.count, model: config.model)
    }

    /// Trains to the end (or until `shouldStop` says so, after a checkpoint), then exports.
    public func run(onStep: (StepRecord) throws -> Void = { _ in }, shouldStop: () -> Bool = { false }) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        while !trainer.finished {
            let r = try trainer.trainStep()
            guard r.loss.isFinite else {
                throw TrainingError.badData("the loss is \(r.loss) at step \(r.step); lower --lr (the last checkpoint is kept)")
            }
            try log.append(try encoder.encode(r))
            records.append(r)
            try onStep(r)
            let every = config.checkpointEvery
            if (every > 0 && r.step % every == 0) || trainer.finished {
                try checkpoint()
            }
            if shouldStop() && !trainer.finished { try checkpoint(); return }
        }
        try export()
    }

    public func checkpoint() throws {
        try TrainingCheckpoint.save(trainer, state: state, output: output)
        try writeLossCurve()
    }

    func writeLossCurve() throws {
        var series: [LossCurve.Series] = []
        let previous = URL(fileURLWithPath: config.model).appendingPathComponent("log.jsonl")
        if FileManager.default.fileExists(atPath: previous.path),
           let lines = try? JSONLines.read(previous) {
            let pts = lines.compactMap { l -> (step: Int, loss: Double)? in
                guard let s = l.object["step"] as? Int, let v = l.object["loss"] as? Double else { return nil }
                return (s, v)
            }
            // The previous run's stage, from the checkpoint it left.
            let dir = URL(fileURLWithPath: config.model)
            let earlier = TrainingCheckpoint.existing(dir).flatMap { try? TrainingCheckpoint.readState($0) }
            let name = earlier.map { "stage \($0.options.stage.rawValue)" } ?? "previous run"
            if !pts.isEmpty { series.append(.init(label: "\(name) (\(dir.lastPathComponent))", points: pts)) }
        }
        let stage = config.options.stage.rawValue
        let kind = config.options.lora != nil ? " (LoRA)" : ""
        series.append(.init(label: "stage \(stage)\(kind)", points: records.map { ($0.step, $0.loss) }))
        let svg = LossCurve.svg(series, title: "llava train — loss per step")
        try AtomicFile.write(Data(svg.utf8), to: output.appendingPathComponent("loss.svg"))
    }

    /// The llava-hf folder (LoRA merged into the weights), and for LoRA the adapters in OUTPUT/adapter/.
    public func export() throws {
        var replaced: [String: Tensor] = [:]
        for p in model.trainable.parameters.trained where !p.name.contains(".lora_") { replaced[p.name] = p.value }
        if let lora = config.options.lora {
            var adapters: [String: Tensor] = [:], projector: [String: Tensor] = [:]
            for (weightName, adapter) in model.trainable.adapters {
                let w = try model.weights.tensor(weightName)
                replaced[weightName] = HFExport.merge(weight: w, a: adapter.a.value, b: adapter.b.value, scale: adapter.scale)
                adapters[adapter.a.name] = adapter.a.value
                adapters[adapter.b.name] = adapter.b.value
            }
            for p in model.trainable.parameters.trained where p.group == .projector { projector[p.name] = p.value }
            let base = URL(fileURLWithPath: config.model).standardizedFileURL.path
            try HFExport.writeAdapter(adapters: adapters, projector: projector, lora: lora, baseModel: base,
                                      to: output.appendingPathComponent("adapter"))
        }
        try HFExport.write(source: model.weights, replaced: replaced, to: output)
    }
}
