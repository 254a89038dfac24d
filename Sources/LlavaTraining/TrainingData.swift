// Training samples: LLaVA-Instruct JSON plus an image folder, tokenized and masked for the stage, and the order they
// are visited in — the file's order with --no-shuffle, otherwise a seeded permutation per epoch. Step k's samples
// follow from k alone, so a resumed run sees the same batches as an uninterrupted one.
import Foundation
import LlavaFormats
import LlavaModels
import LlavaTensor
import LlavaVision

public struct TrainingExample: Sendable {
    public let id: String
    public let image: String?       // path of the image file
    public let tokens: TokenizedSample
}

public struct TrainingSet: Sendable {
    public let examples: [TrainingExample]
    /// Samples whose round lengths did not add up (LLaVA's "tokenization mismatch"): kept, fully masked.
    public let mismatched: Int
    public let truncated: Int

    /// Reads `data` (LLaVA-Instruct JSON), resolves images under `images`, builds ids and labels for `stage`.
    public init(data: String, images: String?, model: LlavaModel, stage: TrainingStage, maxLength: Int, legacy: Bool) throws {
        guard let bytes = FileManager.default.contents(atPath: data) else { throw FileError.notFound(data) }
        let samples = try InstructSample.decode(bytes, path: data)
        guard !samples.isEmpty else { throw TrainingError.badData("\(data) holds no samples") }
        guard let imageToken = model.imageTokenId else { throw TrainingError.unsupported("the checkpoint has no image token") }
        let labeller = ConversationLabels(tokenizer: model.tokenizer, imageTokenId: imageToken,
                                          tokensPerImage: model.tokensPerImage, legacy: legacy)
        var out: [TrainingExample] = []
        var mismatched = 0, truncated = 0
        for s in samples {
            var imagePath: String? = nil
            if let name = s.image {
                guard let images else { throw TrainingError.badData("sample \(s.id) names image \(name); give --images DIR") }
                let path = URL(fileURLWithPath: images).appendingPathComponent(name).path
                guard FileManager.default.fileExists(atPath: path) else {
                    throw TrainingError.badData("sample \(s.id): image \(path) does not exist")
                }
                imagePath = path
            } else if stage == .alignment {
                throw TrainingError.badData("sample \(s.id) has no image; stage 1 learns from image-caption pairs")
            }
            // Stage 2 follows the checkpoint's own chat template: ChatML models learn in ChatML, the rest in vicuna_v1.
            let full: TokenizedSample
            if stage == .alignment { full = try labeller.plain(s, maxLength: Int.max) }
            else if model.chatTemplate.kind == .chatml {
                full = try labeller.chatml(s, template: model.chatTemplate, maxLength: Int.max)
            } else { full = try labeller.conversation(s, maxLength: Int.max) }
            let cut = TokenizedSample(ids: Array(full.ids.prefix(maxLength)), labels: Array(full.labels.prefix(maxLength)),
                                      mismatch: full.mismatch)
            if full.ids.count > maxLength { truncated += 1 }
            if cut.mismatch { mismatched += 1 }
            out.append(TrainingExample(id: s.id, image: imagePath, tokens: cut))
        }
        examples = out
        self.mismatched = mismatched
        self.truncated = truncated
    }

    public var count: Int { examples.count }
}

/// Which samples each micro-batch of each optimiser step holds.
public struct BatchPlan: Sendable, Equatable {
    public let samples: Int
    public let batchSize: Int
    public let gradAccum: Int
    public let shuffle: Bool
    public let seed: UInt64

    public init(samples: Int, batchSize: Int, gradAccum: Int, shuffle: Bool, seed: UInt64) {
        self.samples = samples; self.batchSize = batchSize; self.gradAccum = gradAccum; self.shuffle = shuffle; self.seed = seed
    }

    public var microBatchesPerEpoch: Int { (samples + batchSize - 1) / batchSize }
    /// The last step of an epoch takes what is left (fewer micro-batches), as HF's Trainer does.
    public var stepsPerEpoch: Int { (microBatchesPerEpoch + gradAccum - 1) / gradAccum }

    public func order(epoch: Int) -> [Int] {
        var o = Array(0..<samples)
        guard shuffle else { return o }
        var rng = SplitMix64(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9)
        for i in stride(from: o.count - 1, to: 0, by: -1) { o.swapAt(i, rng.next(below: i + 1)) }
        return o
    }

    /// Sample indices per micro-batch of step `step` (counted from 0).
    public func microBatches(step: Int) -> [[Int]] {
        let epoch = step / stepsPerEpoch, j = step % stepsPerEpoch
        let order = order(epoch: epoch)
        let first = j * gradAccum, last = min(first + gradAccum, microBatchesPerEpoch)
        return (first..<last).map { b in Array(order[(b * batchSize)..<min((b + 1) * batchSize, samples)]) }
    }
}

/// CLIP features per image, computed once: the tower is frozen, so an image's features never change.
public final class FeatureCache: @unchecked Sendable {
    let vision: VisionPart
    private var cache: [String: Tensor] = [:]
    public private(set) var encoded = 0

    public init(vision: VisionPart) { self.vision = vision }

    /// [tokensPerImage, visionHidden * layers]
    public func features(_ path: String) throws -> Tensor {
        if let f = cache[path] { return f }
        let image = try ImageDecoder.decode(path: path)
        let f = vision.selectedFeatures(pixels: vision.processor.process(image))
        cache[path] = f
        encoded += 1
        return f
    }
}
