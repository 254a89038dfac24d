// The original LLaVA release layout (liuhaotian/llava-v1.5-7b style): a LLaMA checkpoint whose
// config.json carries `mm_*` keys and whose weights are model.* / lm_head.* / model.mm_projector.*,
// with the CLIP tower in its own folder (openai/clip-vit-large-patch14-336 style, `vision_model.*`),
// given as --vision-tower DIR. Prompts follow the original rule: the text around each <image> is
// tokenized on its own, BOS on the first chunk only, the image features spliced between.
// Mirrors llava/model/llava_arch.py and llava/mm_utils.py (tokenizer_image_token, expand2square).
import Foundation
import LlavaFormats
import LlavaTensor
import LlavaTokenizer
import LlavaVision

extension CheckpointLoader {
    /// Whether a config.json is an original-layout LLaVA one.
    public static func isOriginalLayout(_ json: JSONValue) -> Bool {
        json["mm_projector_type"] != nil || json["mm_hidden_size"] != nil || json["mm_vision_tower"] != nil
    }

    static func originalName(_ stored: String) -> String? {
        if stored.hasPrefix("model.mm_projector") { return "mm_projector" + stored.dropFirst("model.mm_projector".count) }
        if stored.hasPrefix("model.vision_tower.vision_tower.vision_model.") {
            return "vision_tower.vision_model." + stored.dropFirst("model.vision_tower.vision_tower.vision_model.".count)
        }
        if stored.hasPrefix("model.") { return "language_model.model." + stored.dropFirst("model.".count) }
        if stored.hasPrefix("lm_head.") { return "language_model.lm_head." + stored.dropFirst("lm_head.".count) }
        return nil
    }

    public static func loadOriginal(folder: String, visionTower: String?, template: ChatTemplate? = nil) throws -> LlavaModel {
        let dir = URL(fileURLWithPath: folder)
        let configURL = dir.appendingPathComponent("config.json")
        guard let json = try readJSON(configURL) else { throw ConfigError.missingFile(configURL.path) }
        let text = try LlamaConfig(json: json, file: configURL.path, tiedDefault: false)
        let store = try WeightStore(folder: folder, canonicalize: originalName)
        let language = try LlamaModel(config: text, weights: store, prefix: "language_model.model.", headName: "language_model.lm_head.weight")

        let tokenizer: any Tokenizer
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("tokenizer.json").path) {
            tokenizer = try TokenizerJSON.load(path: dir.appendingPathComponent("tokenizer.json").path)
        } else {
            tokenizer = try SentencePieceModel.load(path: dir.appendingPathComponent("tokenizer.model").path)
        }

        // The CLIP tower: its own folder, or inside the checkpoint (some releases bundle it).
        let towerName = json["mm_vision_tower"]?.string ?? "openai/clip-vit-large-patch14-336"
        var visionStore = store
        var visionJSON: JSONValue? = nil
        var processorJSON: JSONValue? = nil
        if let visionTower {
            let vdir = URL(fileURLWithPath: visionTower)
            guard let vj = try readJSON(vdir.appendingPathComponent("config.json")) else {
                throw ConfigError.missingFile(vdir.appendingPathComponent("config.json").path)
            }
            visionJSON = vj["vision_config"] ?? vj
            processorJSON = try readJSON(vdir.appendingPathComponent("preprocessor_config.json"))
            visionStore = try WeightStore(folder: visionTower) { name in
                if name.hasPrefix("vision_model.") { return "vision_tower." + name }
                if name.hasPrefix("vision_tower.vision_model.") { return name }
                return nil
            }
        }
        guard let vjson = visionJSON, visionStore.has("vision_tower.vision_model.embeddings.class_embedding") else {
            throw LoadError.needsVisionTower(config: configURL.path, tower: towerName)
        }
        let vision = try CLIPVisionConfig(json: vjson, file: visionTower ?? folder)
        if let mmHidden = json["mm_hidden_size"]?.int, mmHidden != vision.hiddenSize {
            throw ConfigError.badValue("mm_hidden_size", "\(mmHidden), but the vision tower has width \(vision.hiddenSize)")
        }
        let layer = json["mm_vision_select_layer"]?.int ?? -2
        let select: FeatureSelect = (json["mm_vision_select_feature"]?.string ?? "patch") == "cls_patch" ? .full : .default
        let index = layer < 0 ? vision.layers + 1 + layer : layer
        guard index >= 0 && index <= vision.layers else { throw ConfigError.badValue("mm_vision_select_layer", "\(layer)") }
        let tower = try CLIPVisionTower(config: vision, weights: visionStore, prefix: "vision_tower.vision_model.", keepLayers: index)

        // mm_projector_type: "linear" or "mlp{N}x_gelu"; weights model.mm_projector(.{0,2,…}).
        let ptype = json["mm_projector_type"]?.string ?? "linear"
        let projector: Projector
        if ptype == "linear" {
            projector = try Projector(kind: .linear, inDim: vision.hiddenSize, outDim: text.hiddenSize, bias: true,
                                      weights: store, names: ["mm_projector"])
        } else if ptype.hasPrefix("mlp"), ptype.hasSuffix("x_gelu"), let depth = Int(ptype.dropFirst(3).dropLast(6)), depth >= 1 {
            projector = try Projector(kind: .mlp(depth: depth, activation: "gelu"), inDim: vision.hiddenSize, outDim: text.hiddenSize,
                                      bias: true, weights: store, names: (0..<depth).map { "mm_projector.\($0 * 2)" })
        } else {
            throw ConfigError.unsupported("mm_projector_type \(ptype)")
        }

        var improc = try processorJSON.map { try ImageProcessorConfig(json: $0) } ?? ImageProcessorConfig()
        if processorJSON == nil {
            improc.size = .shortestEdge(vision.imageSize); improc.cropHeight = vision.imageSize; improc.cropWidth = vision.imageSize
        }
        improc.doPad = json["image_aspect_ratio"]?.string == "pad"
        improc.compositeAlpha = false   // the release's loader: Image.open(f).convert("RGB"), alpha dropped
        let part = VisionPart(tower: tower, projector: projector, processor: CLIPImageProcessor(config: improc),
                              featureLayers: [layer], featureSelect: select)
        return LlavaModel(language: language, vision: part, tokenizer: tokenizer,
                          chatTemplate: template ?? ChatTemplate(name: "llava-v1") ?? .llava15, imageTokenId: nil)
    }
}
