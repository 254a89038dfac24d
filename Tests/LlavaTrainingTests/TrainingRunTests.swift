// Whole runs on the tiny model: a run that crashes and resumes ends bit for bit where an uninterrupted one does;
// the batch plan; merge-lora gives what the trainer's export gives; bad data and options fail with clear errors.
import Foundation
import LlavaFormats
import LlavaTensor
import LlavaTraining
import Testing

func scratch() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("llava-train-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

struct SimulatedCrash: Error {}

@Suite("Training runs")
struct TrainingRunTests {
    func loraConfig(output: URL) -> TrainingRunConfig {
        var o = TrainingOptions(stage: .instruction)
        o.steps = 12; o.batchSize = 2; o.gradAccum = 2; o.lr = 5e-3; o.projectorLR = 1e-3; o.warmupRatio = 0.2
        o.weightDecay = 0.01; o.seed = 9; o.shuffle = true
        o.lora = LoRAOptions(rank: 4, alpha: 8, dropout: 0.1, targets: ["q", "v", "gate", "down"])
        var c = TrainingRunConfig(model: TrainingFixtures.model, data: TrainingFixtures.path("instruct.json"),
                                  images: TrainingFixtures.images, output: output.path, options: o)
        c.checkpointEvery = 5
        return c
    }

    func trained(_ output: URL) throws -> [String: [Float]] {
        let f = try SafetensorsFile(path: TrainingCheckpoint.directory(output).appendingPathComponent("trainable.safetensors").path)
        return Dictionary(uniqueKeysWithValues: try f.names.map { ($0, try f.tensor($0).scalars) })
    }

    @Test("a crashed run resumed with --resume ends with the same weights, log and export as an uninterrupted one")
    func resumeIsExact() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let whole = dir.appendingPathComponent("whole"), broken = dir.appendingPathComponent("broken")
        let a = try TrainingRun(loraConfig(output: whole))
        try a.run()
        // Dies after step 7: the checkpoint holds step 5, the log already has 7 lines.
        let b = try TrainingRun(loraConfig(output: broken))
        #expect(throws: SimulatedCrash.self) { try b.run(onStep: { if $0.step == 7 { throw SimulatedCrash() } }) }
        #expect(try TrainingCheckpoint.readState(TrainingCheckpoint.directory(broken)).step == 5)
        // Without --resume the folder is refused; with it the run continues after step 5.
        #expect(throws: TrainingError.self) { _ = try TrainingRun(loraConfig(output: broken)) }
        var again = loraConfig(output: broken)
        again.resume = true
        let c = try TrainingRun(again)
        #expect(c.resumedFrom == 5)
        #expect(c.records.map(\.step) == [1, 2, 3, 4, 5])
        try c.run()
        #expect(try trained(whole) == trained(broken))
        #expect(c.records.map(\.step) == Array(1...12))
        #expect(c.records.map(\.loss) == a.records.map(\.loss))
        let logLines = try String(contentsOf: broken.appendingPathComponent("log.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(logLines.count == 12)
        let m1 = try Data(contentsOf: whole.appendingPathComponent("model.safetensors"))
        let m2 = try Data(contentsOf: broken.appendingPathComponent("model.safetensors"))
        #expect(m1 == m2)
        // merge-lora on the adapter folder gives the tensors the run exported.
        let base = try WeightStore(folder: TrainingFixtures.model)
        let merged = try HFExport.mergedTensors(base: base, adapter: whole.appendingPathComponent("adapter"))
        let exported = try WeightStore(folder: whole.path)
        #expect(merged.count == 2 * 4 + 4)   // 2 layers × 4 targets, the projector's 4 tensors
        for (name, t) in merged { #expect(t.scalars == (try exported.tensor(name)).scalars, "\(name)") }
        let untouched = "language_model.model.layers.0.self_attn.k_proj.weight"
        #expect(try exported.tensor(untouched).scalars == base.tensor(untouched).scalars)
        // Resuming with other options is refused.
        var other = loraConfig(output: broken)
        other.resume = true; other.options.lr = 1e-3
        #expect(throws: TrainingError.self) { _ = try TrainingRun(other) }
    }

    @Test("a damaged checkpoint is refused with the reason, not trained from")
    func damagedCheckpoint() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = loraConfig(output: dir)
        config.options.steps = 5
        try TrainingRun(config).run()
        config.resume = true
        func reason() -> String { do { _ = try TrainingRun(config); return "" } catch { return "\(error)" } }
        let checkpoint = TrainingCheckpoint.directory(dir)
        let state = checkpoint.appendingPathComponent("state.json")
        let good = try Data(contentsOf: state)
        try Data("{not json".utf8).write(to: state)
        #expect(reason().contains("state.json is unreadable"))
        try good.write(to: state)
        let weights = checkpoint.appendingPathComponent("trainable.safetensors")
        let bytes = try Data(contentsOf: weights)
        try bytes.prefix(bytes.count / 2).write(to: weights)
        #expect(!reason().isEmpty, "a cut trainable.safetensors must not load")
    }

    @Test("batch plan: partial last micro-batch and step, seeded permutations")
    func batchPlan() {
        let p = BatchPlan(samples: 5, batchSize: 2, gradAccum: 2, shuffle: false, seed: 0)
        #expect(p.stepsPerEpoch == 2)
        #expect(p.microBatches(step: 0) == [[0, 1], [2, 3]])
        #expect(p.microBatches(step: 1) == [[4]])
        #expect(p.microBatches(step: 2) == [[0, 1], [2, 3]])
        let s = BatchPlan(samples: 50, batchSize: 1, gradAccum: 1, shuffle: true, seed: 3)
        #expect(s.order(epoch: 0).sorted() == Array(0..<50))
        #expect(s.order(epoch: 0) != Array(0..<50))
        #expect(s.order(epoch: 0) != s.order(epoch: 1))
        #expect(s.order(epoch: 1) == BatchPlan(samples: 50, batchSize: 1, gradAccum: 1, shuffle: true, seed: 3).order(epoch: 1))
    }

    @Test("schedules: HF's warmup then cosine or constant")
    func schedules() {
        let c = LearningRateSchedule(kind: .cosine, totalSteps: 10, warmupRatio: 0.2)
        #expect(c.warmupSteps == 2)
        #expect([0, 1, 2].map(c.factor) == [0, 0.5, 1])
        #expect(abs(c.factor(step: 6) - 0.5) < 1e-12)
        #expect(c.factor(step: 10) == 0)
        let k = LearningRateSchedule(kind: .constant, totalSteps: 10, warmupRatio: 0.25)
        #expect(k.warmupSteps == 3 && k.factor(step: 1) == 1.0 / 3 && k.factor(step: 9) == 1)
    }

    @Test("bad data and options are refused with the reason")
    func badInput() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        func config(_ data: String, stage: TrainingStage = .instruction, edit: (inout TrainingOptions) -> Void = { _ in }) -> TrainingRunConfig {
            var o = TrainingOptions(stage: stage)
            o.steps = 1
            edit(&o)
            return TrainingRunConfig(model: TrainingFixtures.model, data: data, images: TrainingFixtures.images,
                                     output: dir.appendingPathComponent(UUID().uuidString).path, options: o)
        }
        func write(_ text: String) throws -> String {
            let u = dir.appendingPathComponent(UUID().uuidString + ".json")
            try Data(text.utf8).write(to: u)
            return u.path
        }
        func reason(_ c: TrainingRunConfig) -> String {
            do { _ = try TrainingRun(c); return "" } catch { return "\(error)" }
        }
        #expect(reason(config(try write("{not json"))).contains("not LLaVA-Instruct JSON"))
        #expect(reason(config(try write("[]"))).contains("holds no samples"))
        let missing = #"[{"id": "x", "image": "nope.jpg", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}]"#
        #expect(reason(config(try write(missing))).contains("nope.jpg does not exist"))
        let textOnly = #"[{"id": "t", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}]"#
        #expect(reason(config(try write(textOnly), stage: .alignment)).contains("stage 1 learns from image-caption pairs"))
        let order = #"[{"id": "o", "conversations": [{"from": "human", "value": "a"}, {"from": "human", "value": "b"}]}]"#
        #expect(reason(config(try write(order))).contains("turn 2 should come from gpt"))
        let corrupt = try write("")
        #expect(!reason(config(corrupt)).isEmpty)
        #expect(reason(config(TrainingFixtures.path("captions.json"), stage: .alignment) { $0.lora = LoRAOptions(rank: 4, alpha: 8) })
            .contains("LoRA is for stage 2"))
        #expect(reason(config(TrainingFixtures.path("instruct.json")) { $0.lora = LoRAOptions(rank: 4, alpha: 8, targets: ["qq"]) })
            .contains("unknown LoRA target qq"))
        #expect(reason(config(TrainingFixtures.path("instruct.json")) { $0.lr = -1 }).contains("learning rates must be positive"))
        var same = config(TrainingFixtures.path("instruct.json"))
        same.output = TrainingFixtures.model
        #expect(reason(same).contains("must not be the model folder"))
    }
}
