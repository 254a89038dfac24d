// A LLaMA language model from a GGUF file as llama.cpp's converter writes it:
// hyperparameters from `llama.*` metadata, tensors token_embd / blk.N.* / output_norm / output
// (tied to token_embd when output is absent). Quantised tensors stay in the mapped file.
import LlavaFormats
import LlavaTensor

extension LlamaModel {
    public convenience init(gguf g: GGUFFile) throws {
        let arch = g.metadata["general.architecture"]?.string ?? ""
        guard arch == "llama" else { throw ConfigError.unsupported("GGUF architecture \"\(arch)\" (llama is supported)") }
        func int(_ k: String) throws -> Int {
            guard let v = g.metadata["llama." + k]?.int, v > 0 else { throw GGUFError.missingKey(g.path, "llama." + k) }
            return v
        }
        let hidden = try int("embedding_length"), heads = try int("attention.head_count")
        let kvHeads = g.metadata["llama.attention.head_count_kv"]?.int ?? heads
        guard kvHeads > 0, heads % kvHeads == 0 else { throw GGUFError.corrupt(g.path, "head_count_kv \(kvHeads) does not divide \(heads)") }
        let headDim = g.metadata["llama.attention.key_length"]?.int ?? g.metadata["llama.rope.dimension_count"]?.int ?? hidden / heads
        guard let embdInfo = g.tensors["token_embd.weight"] else { throw GGUFError.missingTensor(g.path, "token_embd.weight") }
        let vocab = g.metadata["llama.vocab_size"]?.int ?? embdInfo.rows
        if let scaling = g.metadata["llama.rope.scaling.type"]?.string, scaling != "none" {
            throw ConfigError.unsupported("rope scaling \(scaling)")
        }
        let config = LlamaConfig(
            vocabSize: vocab, hiddenSize: hidden, intermediateSize: try int("feed_forward_length"),
            layers: try int("block_count"), heads: heads, kvHeads: kvHeads, headDim: headDim,
            rmsNormEps: Float(g.metadata["llama.attention.layer_norm_rms_epsilon"]?.double ?? 1e-5),
            ropeTheta: Float(g.metadata["llama.rope.freq_base"]?.double ?? 10000),
            maxPositions: try int("context_length"), tiedEmbeddings: g.tensors["output.weight"] == nil,
            bosId: g.metadata["tokenizer.ggml.bos_token_id"]?.int,
            eosIds: g.metadata["tokenizer.ggml.eos_token_id"]?.int.map { [$0] } ?? [])
        let h = hidden, qd = heads * headDim, kvd = kvHeads * headDim, f = config.intermediateSize
        // Every matrix-product weight is one llama.cpp repacks, except the token embedding (and a head tied to it).
        func matrix(_ name: String, _ rows: Int, _ cols: Int, regroup: Bool = true) throws -> WeightMatrix {
            guard let info = g.tensors[name] else { throw GGUFError.missingTensor(g.path, name) }
            guard info.dims == [cols, rows] else { throw GGUFError.wrongShape(name, expected: [cols, rows], found: info.dims) }
            return try GGUFWeights.matrix(g, info, regroup: regroup, llamaRepacks: name != "token_embd.weight")
        }
        func vector(_ name: String, _ n: Int) throws -> Tensor {
            guard let info = g.tensors[name] else { throw GGUFError.missingTensor(g.path, name) }
            guard info.dims == [n] else { throw GGUFError.wrongShape(name, expected: [n], found: info.dims) }
            return try GGUFWeights.ownedFloats(g, info)
        }
        var layers: [LlamaLayer] = []
        for i in 0..<config.layers {
            let p = "blk.\(i)."
            layers.append(LlamaLayer(
                inNorm: try vector(p + "attn_norm.weight", h), postNorm: try vector(p + "ffn_norm.weight", h),
                q: try matrix(p + "attn_q.weight", qd, h), k: try matrix(p + "attn_k.weight", kvd, h),
                v: try matrix(p + "attn_v.weight", kvd, h), o: try matrix(p + "attn_output.weight", h, qd),
                qb: nil, kb: nil, vb: nil, ob: nil,
                gate: try matrix(p + "ffn_gate.weight", f, h), up: try matrix(p + "ffn_up.weight", f, h),
                down: try matrix(p + "ffn_down.weight", h, f)))
        }
        // An embedding that is only looked up stays in the map (a few rows read per prompt); regrouped it would be
        // a resident copy (70 MB on a 7B Q4_0). Tied to the head it is multiplied every token, so it is regrouped.
        let separateHead = g.tensors["output.weight"] != nil
        let embedding = try matrix("token_embd.weight", vocab, h, regroup: !separateHead)
        if separateHead, let info = g.tensors["token_embd.weight"] {
            g.file.adviseRandomAccess(g.raw(info), count: vocab * info.type.rowBytes(h))
        }
        let head = separateHead ? try matrix("output.weight", vocab, h) : embedding
        try self.init(config: config, numerics: .llamaCpp, embedding: embedding, layers: layers,
                      norm: try vector("output_norm.weight", h), head: head)
    }
}

/// GGUF tensors as weights: float32 used in place, other formats as quantised matrices over the map.
public enum GGUFWeights {
    /// `llamaRepacks`: llama.cpp would keep this weight in its CPU_REPACK buffer (QuantizedMatrix.llamaRepacks) — a
    /// language model's matrix-product weight, not its token embedding or a head tied to it.
    public static func matrix(_ g: GGUFFile, _ info: GGUFTensorInfo, regroup: Bool = true,
                              llamaRepacks: Bool = false) throws -> WeightMatrix {
        switch info.type {
        case .f32: return .dense(try floats(g, info))
        case .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K:
            // Q4_0 and Q8_0 are regrouped for the VNNI kernels; the mapped bytes, read once, are handed back so
            // the weights are not resident twice.
            let plain = QuantizedMatrix(type: info.type, rows: info.rows, cols: info.rowLength, data: g.raw(info),
                                        owner: g.file, llamaRepacks: llamaRepacks)
            let fast = regroup ? plain.repackedForSpeed() : plain
            if fast.layout != plain.layout { g.file.release(g.raw(info), count: info.rows * plain.rowBytes) }
            return .quantized(fast)
        default: throw GGUFError.unsupportedType(g.path, "\(info.type) for \(info.name)")
        }
    }

    /// A float32 copy of a small tensor (a norm, a bias) that never points into the map: read in place, each use would
    /// fault in the neighbouring pages — weights that the regrouped and bf16 paths have handed back.
    public static func ownedFloats(_ g: GGUFFile, _ info: GGUFTensorInfo) throws -> Tensor {
        let t = try floats(g, info)
        return info.type == .f32 ? t.copy() : t   // other formats are converted into a fresh tensor already
    }

    /// A float32 copy (or view, for F32) of a tensor in any format: for norms, biases, embeddings.
    public static func floats(_ g: GGUFFile, _ info: GGUFTensorInfo) throws -> Tensor {
        let shape = info.dims.count > 1 ? [info.rows, info.rowLength] : [info.rowLength]
        if info.type == .f32 {
            let p = UnsafeMutableRawPointer(mutating: g.raw(info)).assumingMemoryBound(to: Float.self)
            return Tensor(shape: shape, storage: FloatStorage(borrowing: p, count: info.elementCount, owner: g.file))
        }
        guard info.type.isQuantized || info.type == .f16 || info.type == .bf16 else {
            throw GGUFError.unsupportedType(g.path, "\(info.type) for \(info.name)")
        }
        let t = Tensor(zeros: shape)
        Dequantize.row(info.type, g.raw(info), t.data, count: info.elementCount)
        return t
    }
}
