// Seeded random models of a real model's shape, for measuring speed without a download
// (speed does not depend on the weights' values): a LLaVA-1.5-7B-shaped GGUF language model
// (Q4_0 / Q8_0 / F16), its mmproj (CLIP ViT-L/14-336, F16) and the same model as a llava-hf folder (BF16).
// Block contents are random bits with small scales, written straight out in chunks (no float copy).
import Foundation
import LlavaFormats
import LlavaTensor

public struct RandomModelShape: Sendable {
    public var vocab = 32064, hidden = 4096, layers = 32, heads = 32, kvHeads = 32, ffn = 11008, context = 4096
    public var visionHidden = 1024, visionFFN = 4096, visionHeads = 16, visionLayers = 24, imageSize = 336, patch = 14
    public var imageTokenId = 32000
    public init() {}
    public static let llava15_7B = RandomModelShape()
}

public enum RandomModel {
    static let chunkBytes = 1 << 22

    /// Streams `bytes` random bytes of `type` blocks (or f16/bf16/f32 values of about ±0.05) in chunks.
    static func produce(_ type: GGMLType, bytes: Int, rng: inout SplitMix64, ones: Bool = false,
                        sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buf = UnsafeMutableRawPointer.allocate(byteCount: chunkBytes, alignment: 64)
        defer { buf.deallocate() }
        var left = bytes
        let unit = type.isQuantized ? type.blockBytes * (chunkBytes / type.blockBytes) : chunkBytes
        while left > 0 {
            let n = min(left, unit)
            let words = (n + 7) / 8
            let w = buf.bindMemory(to: UInt64.self, capacity: chunkBytes / 8)
            for i in 0..<min(words, chunkBytes / 8) { w[i] = rng.next() }
            let b = buf.assumingMemoryBound(to: UInt8.self)
            switch type {
            case .f32:
                let f = buf.assumingMemoryBound(to: Float.self)
                for i in 0..<(n / 4) { f[i] = ones ? 1 : Float(Int(f[i].bitPattern & 0xFFFF) - 32768) * (0.05 / 32768) }
            case .f16, .bf16:
                let h = buf.assumingMemoryBound(to: UInt16.self)
                for i in 0..<(n / 2) {
                    let r = h[i]
                    // sign, a small exponent, random mantissa: |v| in [2^-9, 2^-4)
                    if type == .f16 { h[i] = (r & 0x83FF) | (UInt16(0x0B + Int(r >> 10 & 0x3) + Int(r >> 12 & 1)) << 10) }
                    else { h[i] = (r & 0x807F) | (UInt16(0x76 + Int(r >> 7 & 0x3) + Int(r >> 9 & 1)) << 7) }
                }
            case .q4_0, .q8_0, .q4_1:
                // Block scale (f16 at offset 0) small and positive; the quants stay random.
                for blk in 0..<(n / type.blockBytes) {
                    let scale = UInt16(0x1C00 + Int(b[blk * type.blockBytes] & 0x3F))   // ~0.004–0.008
                    buf.storeBytes(of: scale, toByteOffset: blk * type.blockBytes, as: UInt16.self)
                    if type == .q4_1 { buf.storeBytes(of: UInt16(0x9C00), toByteOffset: blk * type.blockBytes + 2, as: UInt16.self) }
                }
            default: break
            }
            try sink(UnsafeRawBufferPointer(start: buf, count: n))
            left -= n
        }
    }

    /// The GGUF language model. Tokenizer metadata comes from `vocab` (a vocabulary GGUF), padded to the shape's size.
    public static func writeLanguageModel(_ s: RandomModelShape, type: GGMLType, vocab: GGUFFile, to url: URL, seed: UInt64 = 1,
                                          progress: (String) -> Void = { _ in }) throws {
        let config = LlamaConfig(vocabSize: s.vocab, hiddenSize: s.hidden, intermediateSize: s.ffn, layers: s.layers,
                                 heads: s.heads, kvHeads: s.kvHeads, headDim: s.hidden / s.heads, rmsNormEps: 1e-5,
                                 ropeTheta: 10000, maxPositions: s.context, tiedEmbeddings: false)
        var w = Converter.llamaHeader(name: "llava-1.5-7b-shaped random", type: type, config: config)
        var tokens = vocab.metadata["tokenizer.ggml.tokens"]?.array ?? []
        var scores = vocab.metadata["tokenizer.ggml.scores"]?.array ?? []
        var types = vocab.metadata["tokenizer.ggml.token_type"]?.array ?? []
        while tokens.count < s.vocab { tokens.append(.string("<extra_\(tokens.count)>")); scores.append(.f32(-1000)); types.append(.i32(4)) }
        for key in ["tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                    "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_space_prefix"] {
            if let v = vocab.metadata[key] { w.set(key, v) }
        }
        w.set("tokenizer.ggml.tokens", .array(Array(tokens.prefix(s.vocab))))
        w.set("tokenizer.ggml.scores", .array(Array(scores.prefix(s.vocab))))
        w.set("tokenizer.ggml.token_type", .array(Array(types.prefix(s.vocab))))
        w.set("tokenizer.chat_template", .string("{% for m in messages %}{{ m['role'].upper() + ': ' + m['content'] + ' ' }}{% endfor %}ASSISTANT:"))
        let h = s.hidden, f = s.ffn
        w.declare("token_embd.weight", shape: [s.vocab, h], type: type)
        for i in 0..<s.layers {
            let b = "blk.\(i)."
            w.declare(b + "attn_norm.weight", shape: [h], type: .f32)
            for n in ["attn_q", "attn_k", "attn_v", "attn_output"] { w.declare(b + n + ".weight", shape: [h, h], type: type) }
            w.declare(b + "ffn_norm.weight", shape: [h], type: .f32)
            w.declare(b + "ffn_gate.weight", shape: [f, h], type: type)
            w.declare(b + "ffn_up.weight", shape: [f, h], type: type)
            w.declare(b + "ffn_down.weight", shape: [h, f], type: type)
        }
        w.declare("output_norm.weight", shape: [h], type: .f32)
        w.declare("output.weight", shape: [s.vocab, h], type: type)
        var rng = SplitMix64(seed: seed)
        let tensors = w.tensors
        try w.writeStreaming(to: url) { i, sink in
            if i % 9 == 1 { progress("language model tensor \(i + 1)/\(tensors.count)") }
            let t = tensors[i]
            try produce(t.type, bytes: t.byteCount, rng: &rng, ones: t.dims.count == 1, sink: sink)
        }
    }

    /// The mmproj (legacy LLaVA layout, F16): CLIP ViT-L/14-336 without its last layer, mm.0/mm.2.
    public static func writeMMProj(_ s: RandomModelShape, to url: URL, seed: UInt64 = 2) throws {
        var w = GGUFWriter()
        let d = s.visionHidden, blocks = s.visionLayers - 1, positions = (s.imageSize / s.patch) * (s.imageSize / s.patch) + 1
        w.set("general.architecture", .string("clip"))
        w.set("general.description", .string("image encoder for LLaVA"))
        w.set("general.file_type", .u32(1))
        w.set("clip.has_text_encoder", .bool(false))
        w.set("clip.has_vision_encoder", .bool(true))
        w.set("clip.has_llava_projector", .bool(true))
        w.set("clip.projector_type", .string("mlp"))
        w.set("clip.vision.image_size", .u32(UInt32(s.imageSize)))
        w.set("clip.vision.patch_size", .u32(UInt32(s.patch)))
        w.set("clip.vision.embedding_length", .u32(UInt32(d)))
        w.set("clip.vision.feed_forward_length", .u32(UInt32(s.visionFFN)))
        w.set("clip.vision.projection_dim", .u32(UInt32(s.hidden)))
        w.set("clip.vision.attention.head_count", .u32(UInt32(s.visionHeads)))
        w.set("clip.vision.attention.layer_norm_epsilon", .f32(1e-5))
        w.set("clip.vision.block_count", .u32(UInt32(blocks)))
        w.set("clip.vision.feature_layer", .array([.i32(Int32(blocks))]))
        w.set("clip.vision.image_mean", .array([.f32(0.48145466), .f32(0.4578275), .f32(0.40821073)]))
        w.set("clip.vision.image_std", .array([.f32(0.26862954), .f32(0.26130258), .f32(0.27577711)]))
        w.set("clip.vision.image_aspect_ratio", .string("pad"))
        w.set("clip.use_gelu", .bool(false))
        w.declare("v.class_embd", shape: [d], type: .f32)
        w.declare("v.patch_embd.weight", shape: [d, 3, s.patch, s.patch], type: .f16)
        w.declare("v.position_embd.weight", shape: [positions, d], type: .f16)
        w.declare("v.pre_ln.weight", shape: [d], type: .f32)
        w.declare("v.pre_ln.bias", shape: [d], type: .f32)
        for i in 0..<blocks {
            let b = "v.blk.\(i)."
            for n in ["attn_q", "attn_k", "attn_v", "attn_out"] {
                w.declare(b + n + ".weight", shape: [d, d], type: .f16); w.declare(b + n + ".bias", shape: [d], type: .f32)
            }
            for n in ["ln1", "ln2"] { w.declare(b + n + ".weight", shape: [d], type: .f32); w.declare(b + n + ".bias", shape: [d], type: .f32) }
            w.declare(b + "ffn_down.weight", shape: [s.visionFFN, d], type: .f16); w.declare(b + "ffn_down.bias", shape: [s.visionFFN], type: .f32)
            w.declare(b + "ffn_up.weight", shape: [d, s.visionFFN], type: .f16); w.declare(b + "ffn_up.bias", shape: [d], type: .f32)
        }
        w.declare("mm.0.weight", shape: [s.hidden, d], type: .f16); w.declare("mm.0.bias", shape: [s.hidden], type: .f32)
        w.declare("mm.2.weight", shape: [s.hidden, s.hidden], type: .f16); w.declare("mm.2.bias", shape: [s.hidden], type: .f32)
        var rng = SplitMix64(seed: seed)
        let tensors = w.tensors
        try w.writeStreaming(to: url) { i, sink in
            let t = tensors[i]
            let isNormWeight = t.name.hasSuffix("ln1.weight") || t.name.hasSuffix("ln2.weight") || t.name.hasSuffix("pre_ln.weight")
            try produce(t.type, bytes: t.byteCount, rng: &rng, ones: isNormWeight, sink: sink)
        }
    }

    /// The same shapes as a llava-hf folder (BF16 safetensors, hub names, config, processor, tokenizer from `tokenizerFrom`).
    public static func writeLlavaHF(_ s: RandomModelShape, to dir: URL, tokenizerFrom: URL, seed: UInt64 = 3,
                                    progress: (String) -> Void = { _ in }) throws {
        // Read first: a missing tokenizer should fail before 14 GB are written, not after.
        let tokenizerURL = tokenizerFrom.appendingPathComponent("tokenizer.json")
        guard let tokenizerData = FileManager.default.contents(atPath: tokenizerURL.path) else { throw FileError.notFound(tokenizerURL.path) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let h = s.hidden, d = s.visionHidden, positions = (s.imageSize / s.patch) * (s.imageSize / s.patch) + 1
        var decl: [(name: String, dtype: DType, shape: [Int])] = []
        let lp = "language_model.model."
        decl.append((lp + "embed_tokens.weight", .bf16, [s.vocab, h]))
        for i in 0..<s.layers {
            let l = lp + "layers.\(i)."
            decl.append((l + "input_layernorm.weight", .bf16, [h]))
            for n in ["q_proj", "k_proj", "v_proj", "o_proj"] { decl.append((l + "self_attn.\(n).weight", .bf16, [h, h])) }
            decl.append((l + "post_attention_layernorm.weight", .bf16, [h]))
            decl.append((l + "mlp.gate_proj.weight", .bf16, [s.ffn, h]))
            decl.append((l + "mlp.up_proj.weight", .bf16, [s.ffn, h]))
            decl.append((l + "mlp.down_proj.weight", .bf16, [h, s.ffn]))
        }
        decl.append((lp + "norm.weight", .bf16, [h]))
        decl.append(("language_model.lm_head.weight", .bf16, [s.vocab, h]))
        let vp = "vision_tower.vision_model."
        decl.append((vp + "embeddings.class_embedding", .bf16, [d]))
        decl.append((vp + "embeddings.patch_embedding.weight", .bf16, [d, 3, s.patch, s.patch]))
        decl.append((vp + "embeddings.position_embedding.weight", .bf16, [positions, d]))
        decl.append((vp + "pre_layrnorm.weight", .bf16, [d])); decl.append((vp + "pre_layrnorm.bias", .bf16, [d]))
        for i in 0..<s.visionLayers {
            let l = vp + "encoder.layers.\(i)."
            for n in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                decl.append((l + "self_attn.\(n).weight", .bf16, [d, d])); decl.append((l + "self_attn.\(n).bias", .bf16, [d]))
            }
            for n in ["layer_norm1", "layer_norm2"] { decl.append((l + n + ".weight", .bf16, [d])); decl.append((l + n + ".bias", .bf16, [d])) }
            decl.append((l + "mlp.fc1.weight", .bf16, [s.visionFFN, d])); decl.append((l + "mlp.fc1.bias", .bf16, [s.visionFFN]))
            decl.append((l + "mlp.fc2.weight", .bf16, [d, s.visionFFN])); decl.append((l + "mlp.fc2.bias", .bf16, [d]))
        }
        decl.append((vp + "post_layernorm.weight", .bf16, [d])); decl.append((vp + "post_layernorm.bias", .bf16, [d]))
        decl.append(("multi_modal_projector.linear_1.weight", .bf16, [h, d])); decl.append(("multi_modal_projector.linear_1.bias", .bf16, [h]))
        decl.append(("multi_modal_projector.linear_2.weight", .bf16, [h, h])); decl.append(("multi_modal_projector.linear_2.bias", .bf16, [h]))
        var rng = SplitMix64(seed: seed)
        try SafetensorsWriter.writeStreaming(decl, metadata: ["format": "pt"], to: dir.appendingPathComponent("model.safetensors")) { i, sink in
            if i % 20 == 0 { progress("llava-hf tensor \(i + 1)/\(decl.count)") }
            let e = decl[i]
            let bytes = e.shape.reduce(1, *) * 2
            if e.name.hasSuffix("layernorm.weight") || e.name.hasSuffix("layer_norm1.weight") || e.name.hasSuffix("layer_norm2.weight")
                || e.name.hasSuffix("layrnorm.weight") || e.name.hasSuffix("model.norm.weight") {
                var one = [UInt16](repeating: 0x3F80, count: bytes / 2)   // bf16 1.0
                try one.withUnsafeMutableBytes { try sink(UnsafeRawBufferPointer($0)) }
            } else {
                try produce(.bf16, bytes: bytes, rng: &rng, sink: sink)
            }
        }
        let config: [String: Any] = [
            "architectures": ["LlavaForConditionalGeneration"], "model_type": "llava", "image_token_index": s.imageTokenId,
            "projector_hidden_act": "gelu", "vision_feature_layer": -2, "vision_feature_select_strategy": "default",
            "tie_word_embeddings": false, "torch_dtype": "bfloat16", "pad_token_id": 32001,
            "text_config": ["model_type": "llama", "vocab_size": s.vocab, "hidden_size": h, "intermediate_size": s.ffn,
                            "num_hidden_layers": s.layers, "num_attention_heads": s.heads, "num_key_value_heads": s.kvHeads,
                            "max_position_embeddings": s.context, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
                            "torch_dtype": "bfloat16", "architectures": ["LlamaForCausalLM"]],
            "vision_config": ["model_type": "clip_vision_model", "hidden_size": d, "intermediate_size": s.visionFFN,
                              "num_hidden_layers": s.visionLayers, "num_attention_heads": s.visionHeads,
                              "image_size": s.imageSize, "patch_size": s.patch, "hidden_act": "quick_gelu",
                              "projection_dim": 768, "layer_norm_eps": 1e-5],
        ]
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]).write(to: dir.appendingPathComponent("config.json"))
        let pre: [String: Any] = ["crop_size": ["height": s.imageSize, "width": s.imageSize], "do_center_crop": true, "do_convert_rgb": true,
                                  "do_normalize": true, "do_rescale": true, "do_resize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073],
                                  "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "rescale_factor": 0.00392156862745098,
                                  "size": ["shortest_edge": s.imageSize], "image_processor_type": "CLIPImageProcessor"]
        try JSONSerialization.data(withJSONObject: pre, options: [.prettyPrinted, .sortedKeys]).write(to: dir.appendingPathComponent("preprocessor_config.json"))
        // A small vocabulary file is enough: benchmarks feed token ids; <image> is moved to the shape's id.
        var tok = try JSONValue.parse(tokenizerData)
        if case .object(var root) = tok, case .array(var added)? = root["added_tokens"] {
            for (i, a) in added.enumerated() {
                if case .object(var o) = a, o["content"]?.string == "<image>" { o["id"] = .int(s.imageTokenId); added[i] = .object(o) }
                if case .object(var o) = a, o["content"]?.string == "<pad>" { o["id"] = .int(s.imageTokenId + 1); added[i] = .object(o) }
            }
            root["added_tokens"] = .array(added)
            tok = .object(root)
        }
        try JSONEncoder().encode(tok).write(to: dir.appendingPathComponent("tokenizer.json"))
        try? FileManager.default.copyItem(at: tokenizerFrom.appendingPathComponent("tokenizer_config.json"),
                                          to: dir.appendingPathComponent("tokenizer_config.json"))
    }
}
