// Model hyperparameters from HF `config.json`, in both spellings found in the wild:
// the older hub one (`rope_theta`, `torch_dtype`, `image_token_index`) and transformers 5's
// (`rope_parameters`, `dtype`, `image_token_id`, explicit `head_dim`).
import Foundation

public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case invalidJSON(String)
    case missingKey(String, String)
    case badValue(String, String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .missingFile(let p): return "missing config file: \(p)"
        case .invalidJSON(let p): return "\(p) is not valid JSON"
        case .missingKey(let file, let key): return "\(file): missing required key \"\(key)\""
        case .badValue(let key, let why): return "config \(key): \(why)"
        case .unsupported(let what): return "unsupported configuration: \(what)"
        }
    }
}

public struct LlamaConfig: Sendable, Equatable, Codable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var maxPositions: Int
    public var tiedEmbeddings: Bool
    public var hiddenAct: String
    public var attentionBias: Bool
    public var mlpBias: Bool
    public var bosId: Int?
    public var eosIds: [Int]

    public init(vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int, kvHeads: Int,
                headDim: Int, rmsNormEps: Float, ropeTheta: Float, maxPositions: Int, tiedEmbeddings: Bool,
                hiddenAct: String = "silu", attentionBias: Bool = false, mlpBias: Bool = false,
                bosId: Int? = 1, eosIds: [Int] = [2]) {
        self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize
        self.layers = layers; self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim
        self.rmsNormEps = rmsNormEps; self.ropeTheta = ropeTheta; self.maxPositions = maxPositions
        self.tiedEmbeddings = tiedEmbeddings; self.hiddenAct = hiddenAct; self.attentionBias = attentionBias
        self.mlpBias = mlpBias; self.bosId = bosId; self.eosIds = eosIds
    }

    /// `text_config` of a llava config, or a plain LLaMA config.json. `tiedDefault` is the outer config's flag.
    public init(json j: JSONValue, file: String, tiedDefault: Bool? = nil) throws {
        func req(_ k: String) throws -> Int {
            guard let v = j[k]?.int else { throw ConfigError.missingKey(file, k) }
            guard v > 0 else { throw ConfigError.badValue(k, "must be positive, got \(v)") }
            return v
        }
        vocabSize = try req("vocab_size")
        hiddenSize = try req("hidden_size")
        intermediateSize = try req("intermediate_size")
        layers = try req("num_hidden_layers")
        heads = try req("num_attention_heads")
        kvHeads = j["num_key_value_heads"]?.int ?? heads
        guard kvHeads > 0, heads % kvHeads == 0 else { throw ConfigError.badValue("num_key_value_heads", "\(kvHeads) does not divide \(heads) heads") }
        if let hd = j["head_dim"]?.int { headDim = hd } else {
            guard hiddenSize % heads == 0 else { throw ConfigError.badValue("hidden_size", "not divisible by \(heads) heads") }
            headDim = hiddenSize / heads
        }
        guard headDim % 2 == 0 else { throw ConfigError.badValue("head_dim", "must be even for RoPE") }
        rmsNormEps = Float(j["rms_norm_eps"]?.double ?? 1e-6)
        // rope: transformers 5 nests it in rope_parameters; older files have rope_theta (+ rope_scaling).
        var theta = j["rope_theta"]?.double
        var ropeType = "default"
        if let rp = j["rope_parameters"], !rp.isNull {
            theta = rp["rope_theta"]?.double ?? theta
            ropeType = rp["rope_type"]?.string ?? rp["type"]?.string ?? "default"
        }
        if let rs = j["rope_scaling"], !rs.isNull {
            ropeType = rs["rope_type"]?.string ?? rs["type"]?.string ?? "unknown"
        }
        guard ropeType == "default" else { throw ConfigError.unsupported("rope type \(ropeType)") }
        ropeTheta = Float(theta ?? 10000)
        maxPositions = j["max_position_embeddings"]?.int ?? 4096
        tiedEmbeddings = j["tie_word_embeddings"]?.bool ?? tiedDefault ?? false
        hiddenAct = j["hidden_act"]?.string ?? "silu"
        attentionBias = j["attention_bias"]?.bool ?? false
        mlpBias = j["mlp_bias"]?.bool ?? false
        bosId = j["bos_token_id"]?.int
        if let e = j["eos_token_id"]?.int { eosIds = [e] }
        else { eosIds = j["eos_token_id"]?.array?.compactMap { $0.int } ?? [] }
    }
}

public struct CLIPVisionConfig: Sendable, Equatable, Codable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var imageSize: Int
    public var patchSize: Int
    public var channels: Int
    public var layerNormEps: Float
    public var hiddenAct: String
    /// Which tower: CLIP's (`clip_vision_model`) or DINOv2's (`dinov2`: patch bias, CLS token, LayerScale,
    /// position embeddings interpolated to the input's grid).
    public var modelType: VisionModelType = .clip
    /// The side of the images the tower is fed. CLIP: always `imageSize`. DINOv2: what the processor makes
    /// (its position embeddings, made for `imageSize`, are interpolated to this grid).
    public var inputSize: Int

    public init(hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int, imageSize: Int, patchSize: Int,
                channels: Int = 3, layerNormEps: Float = 1e-5, hiddenAct: String = "quick_gelu",
                modelType: VisionModelType = .clip, inputSize: Int? = nil) {
        self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize; self.layers = layers
        self.heads = heads; self.imageSize = imageSize; self.patchSize = patchSize; self.channels = channels
        self.layerNormEps = layerNormEps; self.hiddenAct = hiddenAct
        self.modelType = modelType; self.inputSize = inputSize ?? imageSize
    }

    /// `vision_config` of a llava config, or a CLIP config.json (its `vision_config`). Missing keys take
    /// CLIPVisionConfig's defaults (ViT-B/32), as transformers does.
    public init(json j: JSONValue, file: String) throws {
        let type = j["model_type"]?.string ?? "clip_vision_model"
        guard let kind = VisionModelType(configName: type) else {
            throw ConfigError.unsupported("vision_config.model_type \"\(type)\" (clip_vision_model and dinov2 are supported)")
        }
        modelType = kind
        hiddenSize = j["hidden_size"]?.int ?? 768
        layers = j["num_hidden_layers"]?.int ?? 12
        heads = j["num_attention_heads"]?.int ?? 12
        channels = j["num_channels"]?.int ?? 3
        switch kind {
        case .clip:
            intermediateSize = j["intermediate_size"]?.int ?? 3072
            imageSize = j["image_size"]?.int ?? 224
            patchSize = j["patch_size"]?.int ?? 32
            layerNormEps = Float(j["layer_norm_eps"]?.double ?? 1e-5)
            hiddenAct = j["hidden_act"]?.string ?? "quick_gelu"
        case .dinov2:
            // Dinov2Config's defaults; the MLP width is hidden_size * mlp_ratio.
            let ratio = j["mlp_ratio"]?.double ?? 4
            intermediateSize = Int(Double(hiddenSize) * ratio)   // int(), as HF truncates
            imageSize = j["image_size"]?.int ?? 224
            patchSize = j["patch_size"]?.int ?? 14
            layerNormEps = Float(j["layer_norm_eps"]?.double ?? 1e-6)
            hiddenAct = j["hidden_act"]?.string ?? "gelu"
            if j["use_swiglu_ffn"]?.bool == true { throw ConfigError.unsupported("dinov2 use_swiglu_ffn") }
            if j["qkv_bias"]?.bool == false { throw ConfigError.unsupported("dinov2 without qkv_bias") }
            if let r = j["num_register_tokens"]?.int, r > 0 { throw ConfigError.unsupported("dinov2 register tokens") }
        }
        inputSize = imageSize
        guard hiddenSize > 0, heads > 0, hiddenSize % heads == 0 else { throw ConfigError.badValue("vision_config.num_attention_heads", "does not divide hidden_size") }
        guard patchSize > 0, imageSize % patchSize == 0 else { throw ConfigError.badValue("vision_config.patch_size", "\(patchSize) does not divide image_size \(imageSize)") }
        guard layers > 0 else { throw ConfigError.badValue("vision_config.num_hidden_layers", "must be positive") }
    }

    /// Patches along a side of the input, and the positions (CLS + patches) one image becomes.
    public var patchesPerSide: Int { inputSize / patchSize }
    public var positions: Int { patchesPerSide * patchesPerSide + 1 }
    /// The position embeddings' own grid side (`imageSize / patchSize`).
    public var positionGrid: Int { imageSize / patchSize }
}

public enum VisionModelType: String, Sendable, Codable {
    case clip = "clip_vision_model"
    case dinov2
    public init?(configName: String) {
        switch configName {
        case "clip_vision_model", "clip": self = .clip
        case "dinov2": self = .dinov2
        default: return nil
        }
    }
}

public enum FeatureSelect: String, Sendable, Codable { case `default`, full }

public enum ProjectorKind: Sendable, Equatable, Codable {
    case linear
    case mlp(depth: Int, activation: String)
}

public struct LlavaConfig: Sendable, Equatable, Codable {
    public var text: LlamaConfig
    public var vision: CLIPVisionConfig
    public var imageTokenId: Int
    /// Indices into CLIP's hidden states (embeddings output = 0), negative from the end; several are concatenated.
    public var featureLayers: [Int]
    public var featureSelect: FeatureSelect
    public var projector: ProjectorKind
    public var projectorBias: Bool

    public init(text: LlamaConfig, vision: CLIPVisionConfig, imageTokenId: Int, featureLayers: [Int],
                featureSelect: FeatureSelect, projector: ProjectorKind, projectorBias: Bool = true) {
        self.text = text; self.vision = vision; self.imageTokenId = imageTokenId; self.featureLayers = featureLayers
        self.featureSelect = featureSelect; self.projector = projector; self.projectorBias = projectorBias
    }

    /// A llava-hf `config.json`.
    public init(json j: JSONValue, file: String) throws {
        guard let t = j["text_config"], t.object != nil else { throw ConfigError.missingKey(file, "text_config") }
        guard let v = j["vision_config"], v.object != nil else { throw ConfigError.missingKey(file, "vision_config") }
        text = try LlamaConfig(json: t, file: file, tiedDefault: j["tie_word_embeddings"]?.bool)
        vision = try CLIPVisionConfig(json: v, file: file)
        guard let itok = j["image_token_index"]?.int ?? j["image_token_id"]?.int else {
            throw ConfigError.missingKey(file, "image_token_index")
        }
        imageTokenId = itok
        if let layer = j["vision_feature_layer"]?.int { featureLayers = [layer] }
        else if let list = j["vision_feature_layer"]?.array { featureLayers = list.compactMap { $0.int } }
        else { featureLayers = [-2] }
        for l in featureLayers where l > vision.layers || l < -(vision.layers + 1) {
            throw ConfigError.badValue("vision_feature_layer", "\(l) is outside the \(vision.layers + 1) hidden states")
        }
        let strategy = j["vision_feature_select_strategy"]?.string ?? "default"
        guard let s = FeatureSelect(rawValue: strategy) else { throw ConfigError.badValue("vision_feature_select_strategy", strategy) }
        featureSelect = s
        projector = .mlp(depth: 2, activation: j["projector_hidden_act"]?.string ?? "gelu")
        projectorBias = j["multimodal_projector_bias"]?.bool ?? true
    }

    /// Image tokens one image becomes.
    public var tokensPerImage: Int {
        vision.patchesPerSide * vision.patchesPerSide + (featureSelect == .full ? 1 : 0)
    }
}
