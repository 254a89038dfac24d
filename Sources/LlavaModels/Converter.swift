// `llava convert`: a llava-hf checkpoint folder to the two GGUF files llama.cpp uses for LLaVA-1.5 —
// a `llama` language model (llama.cpp's converter layout: Q/K rows permuted for its RoPE, tokenizer
// metadata, chat template) and an mmproj (the legacy LLaVA converter's `clip` layout: v.*, mm.0/mm.2,
// only the encoder layers the feature layer needs, CLIP's fc1/fc2 under its ffn_down/ffn_up names).
// Mirrors llama.cpp's convert_hf_to_gguf.py (LlamaModel) and legacy-models/convert_image_encoder_to_gguf.py.
import Foundation
import LlavaFormats
import LlavaTensor
import LlavaTokenizer

public enum Converter {
    /// llama.cpp's LlamaModel.permute: within each head, rows (half j, index i) -> 2i + j.
    public static func permuteForRope(_ w: Tensor, heads: Int) -> Tensor {
        let rows = w.shape[0], cols = w.count / rows
        let hd = rows / heads, half = hd / 2
        let out = Tensor(zeros: w.shape)
        for h in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    let src = h * hd + j * half + i, dst = h * hd + 2 * i + j
                    (out.data + dst * cols).update(from: w.data + src * cols, count: cols)
                }
            }
        }
        return out
    }

    /// A GGUF writer holding the `general.*` and `llama.*` metadata llama.cpp reads for a LLaMA model.
    public static func llamaHeader(name: String, type: GGMLType, config t: LlamaConfig) -> GGUFWriter {
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("general.name", .string(name))
        w.set("general.file_type", .u32(type == .f32 ? 0 : type == .f16 ? 1 : type == .q8_0 ? 7 : 2))
        w.set("general.quantization_version", .u32(2))
        w.set("llama.context_length", .u32(UInt32(t.maxPositions)))
        w.set("llama.embedding_length", .u32(UInt32(t.hiddenSize)))
        w.set("llama.block_count", .u32(UInt32(t.layers)))
        w.set("llama.feed_forward_length", .u32(UInt32(t.intermediateSize)))
        w.set("llama.attention.head_count", .u32(UInt32(t.heads)))
        w.set("llama.attention.head_count_kv", .u32(UInt32(t.kvHeads)))
        w.set("llama.rope.freq_base", .f32(t.ropeTheta))
        w.set("llama.attention.layer_norm_rms_epsilon", .f32(t.rmsNormEps))
        w.set("llama.vocab_size", .u32(UInt32(t.vocabSize)))
        w.set("llama.rope.dimension_count", .u32(UInt32(t.headDim)))
        if t.headDim * t.heads != t.hiddenSize {
            w.set("llama.attention.key_length", .u32(UInt32(t.headDim)))
            w.set("llama.attention.value_length", .u32(UInt32(t.headDim)))
        }
        return w
    }

    /// The storage type for a 2-D weight: the requested one when its rows are whole blocks, else F16.
    static func typeFor(_ t: Tensor, _ wanted: GGMLType) -> GGMLType {
        if t.rank < 2 { return .f32 }
        if wanted.isQuantized && t.columns % wanted.blockSize != 0 { return .f16 }
        return wanted
    }

    public static func convertLlavaHF(folder: String, languageModel lmURL: URL, mmproj mmURL: URL,
                                      type wanted: GGMLType, visionType: GGMLType = .f16,
                                      progress: (String) -> Void = { _ in }) throws {
        guard [.f32, .f16, .q8_0, .q4_0].contains(wanted) else { throw ConfigError.unsupported("conversion to \(wanted)") }
        guard [.f32, .f16].contains(visionType) else { throw ConfigError.unsupported("mmproj type \(visionType)") }
        let dir = URL(fileURLWithPath: folder)
        let configURL = dir.appendingPathComponent("config.json")
        guard let json = try CheckpointLoader.readJSON(configURL) else { throw ConfigError.missingFile(configURL.path) }
        let config = try LlavaConfig(json: json, file: configURL.path)
        guard config.vision.modelType == .clip else {
            throw ConfigError.unsupported("conversion of a \(config.vision.modelType.rawValue) vision tower to GGUF (CLIP only)")
        }
        let store = try WeightStore(folder: folder)
        let tokenizer = try TokenizerJSON.load(path: dir.appendingPathComponent("tokenizer.json").path)
        let t = config.text, v = config.vision

        // ---- language model
        var lm = llamaHeader(name: dir.lastPathComponent, type: wanted, config: t)
        // Vocabulary: ids in order, the model's padded rows included.
        var tokens = [String](repeating: "", count: t.vocabSize)
        var types = [GGUFValue](repeating: .i32(1), count: t.vocabSize)
        let scores = tokenizer.mergeScores
        for i in 0..<min(t.vocabSize, tokenizer.idToToken.count) {
            let p = tokenizer.idToToken[i]
            tokens[i] = p.isEmpty ? "[PAD\(i)]" : p
            if p.count == 6 && p.hasPrefix("<0x") && p.hasSuffix(">") { types[i] = .i32(6) }
        }
        for i in tokenizer.idToToken.count..<max(t.vocabSize, tokenizer.idToToken.count) where i < t.vocabSize {
            tokens[i] = "[PAD\(i)]"; types[i] = .i32(5)
        }
        for a in tokenizer.addedTokens where a.id < t.vocabSize {
            types[a.id] = .i32(a.special ? 3 : 4)
            if a.content == "<unk>" { types[a.id] = .i32(2) }
        }
        lm.set("tokenizer.ggml.model", .string("llama"))
        lm.set("tokenizer.ggml.pre", .string("default"))
        lm.set("tokenizer.ggml.tokens", .array(tokens.map { .string($0) }))
        lm.set("tokenizer.ggml.scores", .array((0..<t.vocabSize).map { .f32($0 < scores.count ? scores[$0] : -1000) }))
        lm.set("tokenizer.ggml.token_type", .array(types))
        if let b = tokenizer.bosId { lm.set("tokenizer.ggml.bos_token_id", .u32(UInt32(b))) }
        if let e = tokenizer.eosIds.first { lm.set("tokenizer.ggml.eos_token_id", .u32(UInt32(e))) }
        if let u = tokenizer.tokenToId["<unk>"] { lm.set("tokenizer.ggml.unknown_token_id", .u32(UInt32(u))) }
        lm.set("tokenizer.ggml.add_bos_token", .bool(tokenizer.template.first.map { $0 != nil } ?? false))
        lm.set("tokenizer.ggml.add_eos_token", .bool(false))
        lm.set("tokenizer.ggml.add_space_prefix", .bool(tokenizer.addsSpacePrefix))
        if let template = CheckpointLoader.templateText(dir) { lm.set("tokenizer.chat_template", .string(template)) }

        let p = "language_model.model."
        func w(_ name: String) throws -> Tensor { try store.tensor(name) }
        func add(_ gname: String, _ tensor: Tensor) { lm.add(gname, tensor, as: typeFor(tensor, wanted)) }
        add("token_embd.weight", try w(p + "embed_tokens.weight"))
        for i in 0..<t.layers {
            progress("language layer \(i + 1)/\(t.layers)")
            let l = p + "layers.\(i)."
            let b = "blk.\(i)."
            lm.add(b + "attn_norm.weight", try w(l + "input_layernorm.weight"), as: .f32)
            add(b + "attn_q.weight", permuteForRope(try w(l + "self_attn.q_proj.weight"), heads: t.heads))
            add(b + "attn_k.weight", permuteForRope(try w(l + "self_attn.k_proj.weight"), heads: t.kvHeads))
            add(b + "attn_v.weight", try w(l + "self_attn.v_proj.weight"))
            add(b + "attn_output.weight", try w(l + "self_attn.o_proj.weight"))
            lm.add(b + "ffn_norm.weight", try w(l + "post_attention_layernorm.weight"), as: .f32)
            add(b + "ffn_gate.weight", try w(l + "mlp.gate_proj.weight"))
            add(b + "ffn_up.weight", try w(l + "mlp.up_proj.weight"))
            add(b + "ffn_down.weight", try w(l + "mlp.down_proj.weight"))
        }
        lm.add("output_norm.weight", try w(p + "norm.weight"), as: .f32)
        if store.has("language_model.lm_head.weight") && !t.tiedEmbeddings {
            add("output.weight", try w("language_model.lm_head.weight"))
        }
        try lm.write(to: lmURL)

        // ---- mmproj
        var mm = GGUFWriter()
        let feature = config.featureLayers.map { $0 < 0 ? v.layers + 1 + $0 : $0 }
        let blocks = feature.max() ?? v.layers
        mm.set("general.architecture", .string("clip"))
        mm.set("general.name", .string(dir.lastPathComponent))
        mm.set("general.description", .string("image encoder for LLaVA"))
        mm.set("general.file_type", .u32(visionType == .f32 ? 0 : 1))
        mm.set("clip.has_text_encoder", .bool(false))
        mm.set("clip.has_vision_encoder", .bool(true))
        mm.set("clip.has_llava_projector", .bool(true))
        mm.set("clip.projector_type", .string(config.projector == .linear ? "linear" : "mlp"))
        mm.set("clip.vision.image_size", .u32(UInt32(v.imageSize)))
        mm.set("clip.vision.patch_size", .u32(UInt32(v.patchSize)))
        mm.set("clip.vision.embedding_length", .u32(UInt32(v.hiddenSize)))
        mm.set("clip.vision.feed_forward_length", .u32(UInt32(v.intermediateSize)))
        mm.set("clip.vision.projection_dim", .u32(UInt32(t.hiddenSize)))
        mm.set("clip.vision.attention.head_count", .u32(UInt32(v.heads)))
        mm.set("clip.vision.attention.layer_norm_epsilon", .f32(v.layerNormEps))
        mm.set("clip.vision.block_count", .u32(UInt32(blocks)))
        mm.set("clip.vision.feature_layer", .array(feature.map { .i32(Int32($0)) }))
        let improc = try CheckpointLoader.imageProcessorConfig(dir, config: config)
        mm.set("clip.vision.image_mean", .array(improc.mean.map { .f32($0) }))
        mm.set("clip.vision.image_std", .array(improc.std.map { .f32($0) }))
        if improc.doPad { mm.set("clip.vision.image_aspect_ratio", .string("pad")) }
        mm.set("clip.use_gelu", .bool(v.hiddenAct == "gelu"))
        // What llama.cpp's mmproj has no key for, kept under our own prefix (llama.cpp ignores it).
        mm.set("swift-llava.vision_feature_select_strategy", .string(config.featureSelect.rawValue))
        mm.set("swift-llava.projector_hidden_act", .string({ if case .mlp(_, let a) = config.projector { return a }; return "" }()))
        let vp = "vision_tower.vision_model."
        func vadd(_ name: String, _ tensor: Tensor) { mm.add(name, tensor, as: tensor.rank >= 2 ? visionType : .f32) }
        vadd("v.class_embd", try w(vp + "embeddings.class_embedding"))
        vadd("v.patch_embd.weight", try w(vp + "embeddings.patch_embedding.weight"))
        vadd("v.position_embd.weight", try w(vp + "embeddings.position_embedding.weight"))
        vadd("v.pre_ln.weight", try w(vp + "pre_layrnorm.weight"))
        vadd("v.pre_ln.bias", try w(vp + "pre_layrnorm.bias"))
        for i in 0..<blocks {
            progress("vision layer \(i + 1)/\(blocks)")
            let l = vp + "encoder.layers.\(i).", b = "v.blk.\(i)."
            for (hf, gg) in [("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"),
                             ("self_attn.out_proj", "attn_out"), ("layer_norm1", "ln1"), ("layer_norm2", "ln2"),
                             ("mlp.fc1", "ffn_down"), ("mlp.fc2", "ffn_up")] {
                vadd(b + gg + ".weight", try w(l + hf + ".weight"))
                vadd(b + gg + ".bias", try w(l + hf + ".bias"))
            }
        }
        vadd("mm.0.weight", try w("multi_modal_projector.linear_1.weight"))
        if config.projectorBias { vadd("mm.0.bias", try w("multi_modal_projector.linear_1.bias")) }
        if store.has("multi_modal_projector.linear_2.weight") {
            vadd("mm.2.weight", try w("multi_modal_projector.linear_2.weight"))
            if config.projectorBias { vadd("mm.2.bias", try w("multi_modal_projector.linear_2.bias")) }
        }
        try mm.write(to: mmURL)
    }
}
