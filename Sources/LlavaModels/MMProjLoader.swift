// The vision part from an mmproj GGUF as llama.cpp's LLaVA converter writes it (and `llava convert`
// does): `clip.*` metadata; v.patch_embd, v.class_embd, v.position_embd, v.pre_ln, v.blk.N.{attn_q,
// attn_k, attn_v, attn_out, ln1, ln2, ffn_up, ffn_down}; the projector as mm.0 (+ mm.2 with GELU).
// The file keeps only the encoder layers LLaVA reads; `clip.vision.feature_layer` names the hidden
// states (0 = embeddings) to take, else the last layer present. Mirrors tools/mtmd/clip.cpp's loader;
// computes as HF transformers does (see the note in the closing report on llama.cpp's CLS order).
import LlavaFormats
import LlavaTensor
import LlavaVision

public enum MMProjLoader {
    public static func load(path: String, textHidden: Int) throws -> VisionPart {
        let g = try GGUFFile(path: path)
        let m = g.metadata
        guard m["clip.has_vision_encoder"]?.bool ?? (m["clip.vision.embedding_length"] != nil) else {
            throw ConfigError.unsupported("\(path) has no vision encoder")
        }
        let proj = m["clip.projector_type"]?.string ?? "mlp"
        guard proj == "mlp" || proj == "linear" else { throw ConfigError.unsupported("mmproj projector type \"\(proj)\" (mlp and linear are supported)") }
        func int(_ k: String) throws -> Int {
            guard let v = m[k]?.int, v > 0 else { throw GGUFError.missingKey(path, k) }
            return v
        }
        let d = try int("clip.vision.embedding_length"), blocks = try int("clip.vision.block_count")
        let config = CLIPVisionConfig(
            hiddenSize: d, intermediateSize: try int("clip.vision.feed_forward_length"), layers: blocks,
            heads: try int("clip.vision.attention.head_count"), imageSize: try int("clip.vision.image_size"),
            patchSize: try int("clip.vision.patch_size"),
            layerNormEps: Float(m["clip.vision.attention.layer_norm_epsilon"]?.double ?? 1e-5),
            hiddenAct: (m["clip.use_gelu"]?.bool ?? false) ? "gelu" : "quick_gelu")
        guard config.imageSize % config.patchSize == 0 else { throw GGUFError.corrupt(path, "patch size does not divide image size") }

        func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
            guard let info = g.tensors[name] else { throw GGUFError.missingTensor(path, name) }
            guard info.dims.reversed() == shape || (info.elementCount == shape.reduce(1, *) && shape.count == 1) else {
                throw GGUFError.wrongShape(name, expected: shape, found: info.dims.reversed())
            }
            return try GGUFWeights.ownedFloats(g, info).reshaped(shape)
        }
        /// Matrices stay F16/BF16 in the mapped file and are widened slab by slab when used.
        func matrix(_ name: String, _ shape: [Int]) throws -> WeightMatrix {
            guard let info = g.tensors[name] else { throw GGUFError.missingTensor(path, name) }
            guard info.dims.reversed() == shape else { throw GGUFError.wrongShape(name, expected: shape, found: info.dims.reversed()) }
            if info.type == .f16 || info.type == .bf16 {
                return .widened(QuantizedMatrix(type: info.type, rows: info.rows, cols: info.rowLength, data: g.raw(info), owner: g.file))
            }
            return .dense(try GGUFWeights.floats(g, info).reshaped(shape))
        }
        let p = config.patchSize, f = config.intermediateSize
        var layers: [CLIPLayer] = []
        for i in 0..<blocks {
            let b = "v.blk.\(i)."
            // The legacy converter names fc1 "ffn_down" and fc2 "ffn_up"; the newer one the other way.
            // Tell them apart by shape, as clip.cpp does.
            let upShape = g.tensors[b + "ffn_up.weight"]?.dims.reversed() ?? []
            let (fc1, fc2) = upShape == [f, d] ? ("ffn_up", "ffn_down") : ("ffn_down", "ffn_up")
            layers.append(CLIPLayer(
                ln1w: try tensor(b + "ln1.weight", [d]), ln1b: try tensor(b + "ln1.bias", [d]),
                ln2w: try tensor(b + "ln2.weight", [d]), ln2b: try tensor(b + "ln2.bias", [d]),
                qw: try matrix(b + "attn_q.weight", [d, d]), qb: try tensor(b + "attn_q.bias", [d]),
                kw: try matrix(b + "attn_k.weight", [d, d]), kb: try tensor(b + "attn_k.bias", [d]),
                vw: try matrix(b + "attn_v.weight", [d, d]), vb: try tensor(b + "attn_v.bias", [d]),
                ow: try matrix(b + "attn_out.weight", [d, d]), ob: try tensor(b + "attn_out.bias", [d]),
                fc1w: try matrix(b + fc1 + ".weight", [f, d]), fc1b: try tensor(b + fc1 + ".bias", [f]),
                fc2w: try matrix(b + fc2 + ".weight", [d, f]), fc2b: try tensor(b + fc2 + ".bias", [d])))
        }
        let tower = try CLIPVisionTower(
            config: config,
            patchWeight: try tensor("v.patch_embd.weight", [d, 3, p, p]).reshaped([d, 3 * p * p]),
            classEmbedding: try tensor("v.class_embd", [d]),
            positionEmbedding: try tensor("v.position_embd.weight", [config.positions, d]),
            preLNw: try tensor("v.pre_ln.weight", [d]), preLNb: try tensor("v.pre_ln.bias", [d]), layers: layers)

        let feature = m["clip.vision.feature_layer"]?.array?.compactMap(\.int) ?? [blocks]
        for l in feature where l < 0 || l > blocks {
            throw GGUFError.corrupt(path, "feature layer \(l) is outside the \(blocks + 1) hidden states this file holds")
        }
        let select = FeatureSelect(rawValue: m["swift-llava.vision_feature_select_strategy"]?.string ?? "default") ?? .default
        let act = m["swift-llava.projector_hidden_act"]?.string ?? "gelu"
        let inDim = d * feature.count
        let mm0 = try tensor("mm.0.weight", [g.tensors["mm.0.weight"]?.rows ?? textHidden, inDim])
        let hasBias = g.tensors["mm.0.bias"] != nil
        var linears: [(Tensor, Tensor?)] = [(mm0, hasBias ? try tensor("mm.0.bias", [mm0.shape[0]]) : nil)]
        if g.tensors["mm.2.weight"] != nil {
            let mm2 = try tensor("mm.2.weight", [textHidden, mm0.shape[0]])
            linears.append((mm2, hasBias ? try tensor("mm.2.bias", [textHidden]) : nil))
        }
        guard linears.last?.0.shape[0] == textHidden else {
            throw ConfigError.badValue("mm.*", "projector gives \(linears.last?.0.shape[0] ?? 0) features, the language model takes \(textHidden)")
        }
        let projector = try Projector(linears: linears, activation: linears.count > 1 ? act : nil)

        var improc = ImageProcessorConfig()
        improc.compositeAlpha = false   // mtmd decodes with stb_image asking for 3 channels: alpha dropped
        improc.size = .shortestEdge(config.imageSize)
        improc.cropHeight = config.imageSize
        improc.cropWidth = config.imageSize
        if let mean = m["clip.vision.image_mean"]?.array?.compactMap({ $0.double.map(Float.init) }), mean.count == 3 { improc.mean = mean }
        if let std = m["clip.vision.image_std"]?.array?.compactMap({ $0.double.map(Float.init) }), std.count == 3 { improc.std = std }
        improc.doPad = m["clip.vision.image_aspect_ratio"]?.string == "pad"
        return VisionPart(tower: tower, projector: projector, processor: CLIPImageProcessor(config: improc),
                          featureLayers: feature, featureSelect: select, ownFile: g.file)
    }
}
