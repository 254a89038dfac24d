// Loads a llava-hf checkpoint folder: config.json, safetensors weights (any name spelling,
// sharded or not), tokenizer.json, the processor config in either spelling
// (preprocessor_config.json, or processor_config.json with a nested image_processor),
// and the chat template (chat_template.json, chat_template.jinja or tokenizer_config.json).
import Foundation
import LlavaFormats
import LlavaTensor
import LlavaTokenizer
import LlavaVision

public enum CheckpointLoader {
    public static func readJSON(_ url: URL) throws -> JSONValue? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        do { return try JSONValue.parse(data) } catch { throw ConfigError.invalidJSON(url.path) }
    }

    public static func loadLlavaHF(folder: String, template: ChatTemplate? = nil) throws -> LlavaModel {
        let dir = URL(fileURLWithPath: folder)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw FileError.notFound(folder)
        }
        let configURL = dir.appendingPathComponent("config.json")
        guard let json = try readJSON(configURL) else { throw ConfigError.missingFile(configURL.path) }
        if isOriginalLayout(json) { return try loadOriginal(folder: folder, visionTower: nil, template: template) }
        var config = try LlavaConfig(json: json, file: configURL.path)
        let weights = try WeightStore(folder: folder)
        // LLaVA v1 checkpoints converted to this layout carry a single linear layer.
        if weights.has("multi_modal_projector.linear_1.weight") && !weights.has("multi_modal_projector.linear_2.weight") {
            config.projector = .linear
        }
        let tokenizer = try TokenizerJSON.loadAny(path: dir.appendingPathComponent("tokenizer.json").path)

        let improc = try imageProcessorConfig(dir, config: config)
        var processorTokens: (patch: Int?, additional: Int?, strategy: String?) = (nil, nil, nil)
        // The token count is checked when the processor config nests its image processor or says how many extra
        // tokens it adds (a flat file that says neither leaves HF's count unknown here).
        if let p = try readJSON(dir.appendingPathComponent("processor_config.json")),
           p["image_processor"] != nil || p["num_additional_image_tokens"] != nil {
            processorTokens = (p["patch_size"]?.int, p["num_additional_image_tokens"]?.int, p["vision_feature_select_strategy"]?.string)
        }
        let out = improc.outputSize
        if config.vision.modelType == .dinov2 {
            // DINOv2 takes the processor's size: its position embeddings are interpolated to that grid (HF does the
            // same at every call). Square inputs only, as every LLaVA processor makes them.
            guard out.height == out.width, out.height >= config.vision.patchSize else {
                throw ConfigError.badValue("crop_size", "a DINOv2 tower needs square images of at least one patch, "
                                           + "the processor makes \(out.height)x\(out.width)")
            }
            config.vision.inputSize = out.height
        }
        guard out.height == config.vision.inputSize, out.width == config.vision.inputSize else {
            throw ConfigError.badValue("crop_size", "processor makes \(out.height)x\(out.width) images, the vision tower takes \(config.vision.inputSize)")
        }
        if let patch = processorTokens.patch {
            // The processor's count must agree with what the tower produces, or HF itself would fail.
            var n = (out.height / patch) * (out.width / patch) + (processorTokens.additional ?? 0)
            if (processorTokens.strategy ?? config.featureSelect.rawValue) == "default" { n -= 1 }
            guard n == config.tokensPerImage else {
                throw ConfigError.badValue("processor_config", "expands <image> to \(n) tokens, the model makes \(config.tokensPerImage) features")
            }
        }

        let chat = try template ?? detectTemplate(dir)
        let indices = config.featureLayers.map { $0 < 0 ? config.vision.layers + 1 + $0 : $0 }
        let keep = indices.max() ?? config.vision.layers
        let vision: any VisionTower = config.vision.modelType == .dinov2
            ? try DINOv2VisionTower(config: config.vision, weights: weights, prefix: "vision_tower.vision_model.",
                                    keepLayers: keep)
            : try CLIPVisionTower(config: config.vision, weights: weights, prefix: "vision_tower.vision_model.",
                                  keepLayers: keep)
        let projector = try Projector(kind: config.projector, inDim: config.vision.hiddenSize * config.featureLayers.count,
                                      outDim: config.text.hiddenSize, bias: config.projectorBias, weights: weights,
                                      names: ["multi_modal_projector.linear_1", "multi_modal_projector.linear_2"])
        let language = try LlamaModel(config: config.text, weights: weights, prefix: "language_model.model.",
                                      headName: "language_model.lm_head.weight")
        let part = VisionPart(tower: vision, projector: projector, processor: CLIPImageProcessor(config: improc),
                              featureLayers: config.featureLayers, featureSelect: config.featureSelect)
        return LlavaModel(language: language, vision: part, tokenizer: tokenizer, chatTemplate: chat,
                          imageTokenId: config.imageTokenId)
    }

    /// The processor config: the newer nested spelling first, then the older flat file, else CLIP's defaults.
    public static func imageProcessorConfig(_ dir: URL, config: LlavaConfig) throws -> ImageProcessorConfig {
        if let p = try readJSON(dir.appendingPathComponent("processor_config.json")), let ip = p["image_processor"] {
            return try ImageProcessorConfig(json: ip)
        }
        if let ip = try readJSON(dir.appendingPathComponent("preprocessor_config.json")) { return try ImageProcessorConfig(json: ip) }
        var improc = ImageProcessorConfig()
        improc.size = .shortestEdge(config.vision.imageSize)
        improc.cropHeight = config.vision.imageSize
        improc.cropWidth = config.vision.imageSize
        return improc
    }

    /// The checkpoint's Jinja chat template text, from whichever file holds it.
    public static func templateText(_ dir: URL) -> String? {
        if let j = try? readJSON(dir.appendingPathComponent("chat_template.json")), let t = j["chat_template"]?.string { return t }
        if let d = FileManager.default.contents(atPath: dir.appendingPathComponent("chat_template.jinja").path) {
            return String(decoding: d, as: UTF8.self)
        }
        if let j = try? readJSON(dir.appendingPathComponent("tokenizer_config.json")), let t = j["chat_template"]?.string { return t }
        return nil
    }

    static func detectTemplate(_ dir: URL) throws -> ChatTemplate {
        // llava-hf checkpoints without a template file are LLaVA-1.5 conversations.
        guard let text = templateText(dir) else { return .llava15 }
        guard let t = ChatTemplate.recognise(text) else {
            throw LoadError.unknownChatTemplate(source: dir.path)
        }
        return t
    }
}

extension CheckpointLoader {
    /// A GGUF language model, with its vision part from an mmproj GGUF when given.
    public static func loadGGUF(model path: String, mmproj: String?, template: ChatTemplate? = nil) throws -> LlavaModel {
        let g = try GGUFFile(path: path)
        let language = try LlamaModel(gguf: g)
        let tokenizer = try GGUFTokenizer(gguf: g)
        guard tokenizer.vocabularySize == language.config.vocabSize || g.metadata["llama.vocab_size"] == nil else {
            throw ConfigError.badValue("tokenizer.ggml.tokens", "\(tokenizer.vocabularySize) tokens for a vocabulary of \(language.config.vocabSize)")
        }
        let chat: ChatTemplate
        if let template { chat = template }
        else if let text = g.metadata["tokenizer.chat_template"]?.string {
            guard let t = ChatTemplate.recognise(text) else {
                throw LoadError.unknownChatTemplate(source: path)
            }
            chat = t
        } else if mmproj != nil {
            chat = ChatTemplate(.vicuna)  // LLaVA-1.5 GGUFs carry no template; llama.cpp's llava prompt is Vicuna's
        } else {
            throw LoadError.noChatTemplate(source: path)
        }
        var vision: VisionPart? = nil
        if let mmproj { vision = try MMProjLoader.load(path: mmproj, textHidden: language.config.hiddenSize) }
        return LlavaModel(language: language, vision: vision, tokenizer: tokenizer, chatTemplate: chat, imageTokenId: nil)
    }
}
