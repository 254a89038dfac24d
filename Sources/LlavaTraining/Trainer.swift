// One optimiser step at a time: the step's micro-batches forward and backward (gradients accumulated),
// clipping, the scheduled learning rate, AdamW. The loss of a micro-batch is the mean over its labelled tokens
// (a padded batch's cross-entropy with ignore index); micro-batch gradients are averaged over the accumulation,
// as the HF Trainer that LLaVA uses does. Samples run one at a time, so a batch needs no padding: right-padded
// causal batches give the same sums.
import Foundation
import LlavaTensor

public struct TrainingOptions: Sendable, Codable, Equatable {
    public var stage: TrainingStage
    public var steps: Int? = nil
    public var epochs: Int? = nil
    public var batchSize = 1
    public var gradAccum = 1
    public var lr: Float = 2e-5
    public var projectorLR: Float? = nil
    public var schedule: ScheduleKind = .cosine
    public var warmupRatio = 0.03
    public var weightDecay: Float = 0
    public var adamEpsilon: Float = 1e-8
    public var adamBeta1: Float = 0.9
    public var adamBeta2: Float = 0.999
    public var maxGradNorm: Float = 1
    public var maxLength = 2048
    public var shuffle = true
    public var seed: UInt64 = 42
    public var lora: LoRAOptions? = nil

    public init(stage: TrainingStage) { self.stage = stage }

    public func check() throws {
        if let s = steps, s < 1 { throw TrainingError.badOption("--steps must be at least 1") }
        if let e = epochs, e < 1 { throw TrainingError.badOption("--epochs must be at least 1") }
        if batchSize < 1 || gradAccum < 1 { throw TrainingError.badOption("--batch-size and --grad-accum must be at least 1") }
        if !(lr > 0) || (projectorLR.map { !($0 > 0) } ?? false) { throw TrainingError.badOption("learning rates must be positive") }
        if !(0...1).contains(warmupRatio) { throw TrainingError.badOption("--warmup-ratio must be within 0...1") }
        if !(0..<1).contains(adamBeta1) || !(0..<1).contains(adamBeta2) { throw TrainingError.badOption("AdamW betas must be within [0, 1)") }
        if !(adamEpsilon > 0) { throw TrainingError.badOption("--adam-epsilon must be positive") }
        if maxLength < 2 { throw TrainingError.badOption("--max-length must be at least 2") }
        if let l = lora {
            if stage == .alignment { throw TrainingError.badOption("LoRA is for stage 2; stage 1 trains the projector alone") }
            if l.rank < 1 { throw TrainingError.badOption("--lora-rank must be at least 1") }
            if !(0..<1).contains(l.dropout) { throw TrainingError.badOption("--lora-dropout must be within [0, 1)") }
            for t in l.targets where !LoRAOptions.allTargets.contains(t) {
                throw TrainingError.badOption("unknown LoRA target \(t) (use \(LoRAOptions.allTargets.joined(separator: ", ")))")
            }
        }
    }
}

/// What one step did (one line of the training log).
public struct StepRecord: Sendable, Codable, Equatable {
    public var step: Int            // 1-based: steps done after this one
    public var epoch: Double
    public var loss: Double
    public var lr: Double
    public var projectorLR: Double?
    public var gradNorm: Double
    public var tokens: Int          // positions run forward and backward
    public var labelled: Int        // positions that count in the loss
    public var seconds: Double
    public var tokensPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case step, epoch, loss, lr, gradNorm = "grad_norm", tokens, labelled, seconds
        case projectorLR = "projector_lr", tokensPerSecond = "tokens_per_s"
    }
}

public final class Trainer: @unchecked Sendable {
    public let model: TrainableLlava
    public let data: TrainingSet
    public let options: TrainingOptions
    public let plan: BatchPlan
    public let schedule: LearningRateSchedule
    public let optimizer: AdamW
    let features: FeatureCache?
    /// Sees the accumulated gradients of each step before clipping (tests compare them with PyTorch's).
    public var gradientHook: (([Parameter]) -> Void)? = nil

    public init(model: TrainableLlava, data: TrainingSet, features: FeatureCache?, options: TrainingOptions) throws {
        try options.check()
        AllocatorTuning.keepFreedMemory()   // every step allocates and frees the same large activations
        self.model = model; self.data = data; self.features = features; self.options = options
        plan = BatchPlan(samples: data.count, batchSize: options.batchSize, gradAccum: options.gradAccum,
                         shuffle: options.shuffle, seed: options.seed)
        let total = options.steps ?? (options.epochs ?? 1) * plan.stepsPerEpoch
        schedule = LearningRateSchedule(kind: options.schedule, totalSteps: total, warmupRatio: options.warmupRatio)
        var settings = AdamWSettings(weightDecay: options.weightDecay)
        settings.eps = options.adamEpsilon
        settings.beta1 = options.adamBeta1
        settings.beta2 = options.adamBeta2
        optimizer = AdamW(parameters: model.parameters.trained, settings: settings)
    }

    public var totalSteps: Int { schedule.totalSteps }
    public var step: Int { optimizer.step }
    public var finished: Bool { step >= totalSteps }

    func learningRate(_ group: ParameterGroup, factor: Double) -> Float {
        let base = group == .projector ? (options.projectorLR ?? options.lr) : options.lr
        return Float(Double(base) * factor)
    }

    /// Runs step `self.step` and returns its record.
    public func trainStep() throws -> StepRecord {
        let start = Date()
        let k = step
        for p in optimizer.parameters { p.zeroGrad() }
        model.reseedDropout(step: k, seed: options.seed)
        let micro = plan.microBatches(step: k)
        var stepLoss = 0.0, tokens = 0, labelled = 0
        for batch in micro {
            let count = batch.reduce(0) { $0 + data.examples[$1].tokens.labelledCount }
            guard count > 0 else { continue }   // nothing labelled (all masked or cut): no loss, no gradient
            let scale = 1 / Float(count) / Float(micro.count)
            var sum = 0.0
            for i in batch {
                let ex = data.examples[i]
                var feats: [Tensor] = []
                if let image = ex.image {
                    guard let features else { throw TrainingError.unsupported("the checkpoint has no vision tower") }
                    feats = [try features.features(image)]
                }
                let r = try model.accumulate(ids: ex.tokens.ids, labels: ex.tokens.labels, features: feats, scale: scale)
                sum += r.loss
                tokens += ex.tokens.ids.count
            }
            labelled += count
            stepLoss += sum / Double(count) / Double(micro.count)
        }
        gradientHook?(optimizer.parameters)
        let norm = AdamW.clipGradients(optimizer.parameters, maxNorm: options.maxGradNorm)
        let factor = schedule.factor(step: k)
        optimizer.update { self.learningRate($0, factor: factor) }
        let seconds = Date().timeIntervalSince(start)
        return StepRecord(step: k + 1, epoch: Double(k + 1) / Double(plan.stepsPerEpoch), loss: stepLoss,
                          lr: Double(learningRate(.main, factor: factor)),
                          projectorLR: options.projectorLR.map { Double($0) * factor },
                          gradNorm: Double(norm), tokens: tokens, labelled: labelled, seconds: seconds,
                          tokensPerSecond: seconds > 0 ? Double(tokens) / seconds : 0)
    }
}
