// Training against PyTorch (Tests/Fixtures/training, written by Tools/make_training_fixtures.py): LLaVA's masked
// labels, the loss, the gradient of every trained tensor at step 1, the learning rates, and every trained tensor
// after 3 AdamW steps — for stage 1, stage 2 full and stage 2 LoRA on the tiny GQA llava-hf model.
import Foundation
import LlavaFormats
import LlavaTensor
import LlavaTraining
import Testing

enum TrainingFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let model = root.appendingPathComponent("llava-hf/tiny-gqa-crop").path
    static let images = root.appendingPathComponent("llava-hf/images").path
    static func path(_ name: String) -> String { root.appendingPathComponent("training/" + name).path }

    /// The options each case was made with (the same as the Python script's CASES).
    static func options(_ name: String) -> TrainingOptions {
        var o: TrainingOptions
        switch name {
        case "stage1":
            o = TrainingOptions(stage: .alignment)
            o.batchSize = 2; o.gradAccum = 1; o.lr = 1e-2; o.schedule = .cosine; o.warmupRatio = 0.34
            o.weightDecay = 0.1; o.maxGradNorm = 1; o.maxLength = 64
        case "stage2-full":
            o = TrainingOptions(stage: .instruction)
            o.batchSize = 2; o.gradAccum = 2; o.lr = 5e-3; o.schedule = .cosine; o.warmupRatio = 0
            o.weightDecay = 0.05; o.maxGradNorm = 1; o.maxLength = 160
            // Weights whose gradient is near float32's summation noise (1e-7 here) move by ~lr under Adam whichever way
            // the noise falls; a larger eps keeps those updates proportional, so 1e-4 measures us, not the noise.
            o.adamEpsilon = 1e-5
        default:
            o = TrainingOptions(stage: .instruction)
            o.batchSize = 2; o.gradAccum = 1; o.lr = 1e-2; o.schedule = .constant; o.warmupRatio = 0.34
            o.weightDecay = 0; o.maxGradNorm = 0.5; o.maxLength = 160
            o.lora = LoRAOptions(rank: 4, alpha: 8, dropout: 0)
            o.projectorLR = 2e-3
        }
        o.steps = 3; o.shuffle = false; o.seed = 1
        return o
    }
}

/// max |a - b| / max |b|: the difference relative to the tensor's scale.
func relativeDiff(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.count == b.count, "sizes \(a.shape) vs \(b.shape)")
    var d: Float = 0, s: Float = 0
    for i in 0..<a.count { d = max(d, abs(a[flat: i] - b[flat: i])); s = max(s, abs(b[flat: i])) }
    return s > 0 ? d / s : d
}

@Suite("Training parity with PyTorch")
struct TrainingParityTests {
    @Test("labels, loss, gradients and 3 AdamW steps", arguments: ["stage1", "stage2-full", "stage2-lora"])
    func parity(_ name: String) throws {
        let ref = try SafetensorsFile(path: TrainingFixtures.path(name + ".safetensors"))
        let options = TrainingFixtures.options(name)
        var initial: [String: Tensor] = [:]
        for n in ref.names where n.hasPrefix("init.") { initial[String(n.dropFirst(5))] = try ref.tensor(n) }
        let model = try TrainingModel(folder: TrainingFixtures.model, stage: options.stage, lora: options.lora,
                                      seed: options.seed, initial: initial)
        let data = try TrainingSet(data: TrainingFixtures.path(options.stage == .alignment ? "captions.json" : "instruct.json"),
                                   images: TrainingFixtures.images, model: model.inference, stage: options.stage,
                                   maxLength: options.maxLength, legacy: model.legacyTokenizer)
        for (i, ex) in data.examples.enumerated() {
            #expect(ex.tokens.ids == (try ref.integers("sample.\(i).input_ids")), "ids of sample \(i)")
            #expect(ex.tokens.labels == (try ref.integers("sample.\(i).labels")), "labels of sample \(i)")
        }
        let trainer = try Trainer(model: model.trainable, data: data, features: model.featureCache(), options: options)
        var grads: [String: Tensor] = [:]
        trainer.gradientHook = { ps in
            if grads.isEmpty { for p in ps { if let g = p.grad { grads[p.name] = g.copy() } } }
        }
        var losses: [Double] = [], lrs: [Double] = []
        while !trainer.finished {
            let r = try trainer.trainStep()
            losses.append(r.loss); lrs.append(r.lr)
        }
        let refLoss = try ref.tensor("loss").scalars.map(Double.init), refLR = try ref.tensor("lr").scalars.map(Double.init)
        for i in 0..<3 {
            #expect(abs(losses[i] - refLoss[i]) <= 1e-4 * abs(refLoss[i]), "loss at step \(i + 1): \(losses[i]) vs \(refLoss[i])")
            #expect(abs(lrs[i] - refLR[i]) <= 1e-7, "lr at step \(i + 1): \(lrs[i]) vs \(refLR[i])")
        }
        let trained = model.trainable.parameters.trained
        let refGrads = ref.names.filter { $0.hasPrefix("grad.") }
        #expect(trained.count == refGrads.count, "trained tensors: \(trained.count) here, \(refGrads.count) in PyTorch")
        var worstGrad: (Float, String) = (0, ""), worstWeight: (Float, String) = (0, "")
        for p in trained {
            let g = try #require(grads[p.name])
            let dg = relativeDiff(g, try ref.tensor("grad." + p.name))
            let dw = relativeDiff(p.value, try ref.tensor("final." + p.name))
            if dg > worstGrad.0 { worstGrad = (dg, p.name) }
            if dw > worstWeight.0 { worstWeight = (dw, p.name) }
        }
        print("[\(name)] losses \(losses) worst gradient diff \(worstGrad), worst weight diff after 3 steps \(worstWeight)")
        #expect(worstGrad.0 <= 1e-4, "gradient of \(worstGrad.1): relative difference \(worstGrad.0)")
        #expect(worstWeight.0 <= 1e-4, "\(worstWeight.1) after 3 steps: relative difference \(worstWeight.0)")
    }
}

