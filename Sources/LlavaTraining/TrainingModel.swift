// Opens a llava-hf folder for training: the frozen parts as inference loads them (tokenizer, image processor,
// CLIP tower), the trained parts as TrainableLlava, and the tokenizer's `legacy` flag LLaVA's masking reads.
import Foundation
import LlavaFormats
import LlavaModels
import LlavaTensor

public struct TrainingModel: @unchecked Sendable {
    public let folder: String
    public let inference: LlavaModel
    public let trainable: TrainableLlava
    public let weights: WeightStore
    public let config: LlavaConfig
    /// tokenizer_config.json's `legacy`, true when absent (LlamaTokenizer's default).
    public let legacyTokenizer: Bool

    public init(folder: String, stage: TrainingStage, lora: LoRAOptions?, seed: UInt64, initial: [String: Tensor] = [:]) throws {
        let dir = URL(fileURLWithPath: folder)
        let configURL = dir.appendingPathComponent("config.json")
        guard let json = try CheckpointLoader.readJSON(configURL) else {
            throw TrainingError.unsupported("\(folder) is not a llava-hf folder (no config.json); training reads llava-hf checkpoints")
        }
        if json["mm_vision_tower"] != nil || json["mm_projector_type"] != nil {
            throw TrainingError.unsupported("\(folder) is in the original LLaVA layout; training reads llava-hf folders (e.g. llava-hf/llava-1.5-7b-hf)")
        }
        config = try LlavaConfig(json: json, file: configURL.path)
        inference = try CheckpointLoader.loadLlavaHF(folder: folder)
        weights = try WeightStore(folder: folder)
        var legacy = true
        if let tc = try CheckpointLoader.readJSON(dir.appendingPathComponent("tokenizer_config.json")), let l = tc["legacy"]?.bool {
            legacy = l
        }
        legacyTokenizer = legacy
        trainable = try TrainableLlava(weights: weights, config: config, stage: stage, lora: lora, seed: seed, initial: initial)
        self.folder = folder
    }

    public func featureCache() -> FeatureCache? { inference.vision.map { FeatureCache(vision: $0) } }
}
