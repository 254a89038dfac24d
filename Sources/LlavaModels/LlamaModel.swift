// LLaMA decoder as HF transformers' LlamaForCausalLM computes it (modeling_llama.py), and as
// llama.cpp runs a GGUF `llama` model (src/models/llama.cpp): RMSNorm pre-norm layers, grouped-query
// attention with RoPE, SwiGLU MLP, final norm, output head (the embedding matrix when tied).
// Weights are dense float32 (BLAS) or ggml blocks used in place (quantised dot products).
// A KV cache makes step-by-step decode equal the full forward.
import LlavaFormats
import LlavaTensor

struct LlamaLayer {
    let inNorm: Tensor, postNorm: Tensor
    let q: WeightMatrix, k: WeightMatrix, v: WeightMatrix, o: WeightMatrix
    let qb: Tensor?, kb: Tensor?, vb: Tensor?, ob: Tensor?
    let gate: WeightMatrix, up: WeightMatrix, down: WeightMatrix
}

/// How numbers are rounded where the reference implementation rounds them.
public struct LlamaNumerics: Sendable, Equatable {
    /// RoPE pairs: HF's rotate_half halves, or llama.cpp's adjacent pairs (GGUF's permuted Q/K).
    public enum Rope: Sendable { case halves, interleaved }
    public var rope: Rope
    /// Compute as llama.cpp's CPU backend does: K, V, Q and probabilities in float16, ggml's rms_norm,
    /// soft-max and SwiGLU (GGMLNumerics), V kept transposed.
    public var llamaCppArithmetic: Bool

    public static let transformers = LlamaNumerics(rope: .halves, llamaCppArithmetic: false)
    public static let llamaCpp = LlamaNumerics(rope: .interleaved, llamaCppArithmetic: true)
}

/// Keys and values of every layer for the positions seen so far. The transformers path keeps float32 rows; the
/// llama.cpp path keeps what llama.cpp keeps — IEEE half K rows and a half V transposed — which is also half the
/// memory and half the bytes every decoded token reads. Storage for a layer is made on first use.
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    public private(set) var length = 0
    private let width: Int
    private let headDim: Int
    private var keyRows: [Tensor?]        // per layer [capacity, kvHeads * headDim]
    private var valueRows: [Tensor?]      // per layer [capacity, kvHeads * headDim]
    /// K in f16 bits, per layer [kvHeads, capacity, headDim]: head by head, so a decode step's scores read one
    /// head's keys as one run of memory (position-major rows put them 8 KB apart on a 7B model — a page apart, out
    /// of the prefetcher's reach).
    private var keyHalves: [HalfRows?]
    /// V transposed, per layer [kvHeads * headDim, paddedCapacity] in f16 bits, kept up to date as llama.cpp keeps
    /// its V cache (for its attention order); zero past the positions used.
    private var valuesT: [HalfRows?]
    /// V in f16 bits for flash attention, per layer [kvHeads, capacity, headDim] as the keys.
    private var valueHalves: [HalfRows?]
    /// The opt-in q8_0 cache (KVCacheType.q8_0): K and V rows as ggml block_q8_0, per layer
    /// [kvHeads, capacity, headDim / 32 blocks].
    private var keyBlocks: [ByteRows?]
    private var valueBlocks: [ByteRows?]
    /// Rows of V^T are padded only as far as the attention sums read (whole 64-element steps).
    public var paddedCapacity: Int { (capacity + 63) / 64 * 64 }
    /// Bytes of one position's K (or V) for one head in the q8_0 cache, and between one head's rows and the next's.
    public var q8RowBytes: Int { headDim / 32 * 34 }
    public var q8HeadBytes: Int { capacity * q8RowBytes }

    /// A zeroed buffer of f16 bits.
    final class HalfRows: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<UInt16>
        init(count: Int) {
            pointer = .allocate(capacity: max(1, count))
            pointer.initialize(repeating: 0, count: max(1, count))
        }
        deinit { pointer.deallocate() }
    }

    /// A zeroed byte buffer.
    final class ByteRows: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
        init(count: Int) {
            pointer = .allocate(byteCount: max(1, count), alignment: 64)
            pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(1, count))
        }
        deinit { pointer.deallocate() }
    }

    public init(config: LlamaConfig, capacity: Int) {
        self.capacity = capacity
        width = config.kvHeads * config.headDim
        headDim = config.headDim
        keyRows = Array(repeating: nil, count: config.layers)
        valueRows = keyRows
        keyHalves = Array(repeating: nil, count: config.layers)
        valuesT = keyHalves
        valueHalves = keyHalves
        keyBlocks = Array(repeating: nil, count: config.layers)
        valueBlocks = keyBlocks
    }

    func keys(_ layer: Int) -> Tensor {
        if let t = keyRows[layer] { return t }
        let t = Tensor(zeros: [capacity, width])
        keyRows[layer] = t
        return t
    }

    func values(_ layer: Int) -> Tensor {
        if let t = valueRows[layer] { return t }
        let t = Tensor(zeros: [capacity, width])
        valueRows[layer] = t
        return t
    }

    /// Elements between one KV head's keys and the next's in `appendHalfKeys`' result.
    public var keyHeadStride: Int { capacity * headDim }

    /// Writes K rows `k` [n, width] (values f16 already) at positions [start, start + n) as f16 bits; returns the
    /// layer's keys, [kvHeads, capacity, headDim].
    func appendHalfKeys(layer: Int, start: Int, n: Int, rows k: UnsafePointer<Float>) -> UnsafePointer<UInt16> {
        appendHalves(&keyHalves, layer: layer, start: start, n: n, rows: k)
    }

    /// V rows as flash attention keeps them (not transposed): the layout of `appendHalfKeys`.
    func appendHalfValues(layer: Int, start: Int, n: Int, rows v: UnsafePointer<Float>) -> UnsafePointer<UInt16> {
        appendHalves(&valueHalves, layer: layer, start: start, n: n, rows: v)
    }

    private func appendHalves(_ store: inout [HalfRows?], layer: Int, start: Int, n: Int,
                              rows x: UnsafePointer<Float>) -> UnsafePointer<UInt16> {
        let t = store[layer] ?? HalfRows(count: capacity * width)
        store[layer] = t
        let d = headDim
        for j in 0..<n {
            for h in 0..<width / d {
                HalfBits.fromFloats(x + j * width + h * d, t.pointer + (h * capacity + start + j) * d, count: d)
            }
        }
        return UnsafePointer(t.pointer)
    }

    /// Writes new V rows `v` [n, width] at positions [start, start + n) into layer `layer`'s transposed f16 V.
    func appendTransposed(layer: Int, start: Int, n: Int, rows v: UnsafePointer<Float>) -> UnsafePointer<UInt16> {
        let t = valuesT[layer] ?? HalfRows(count: width * paddedCapacity)
        valuesT[layer] = t
        let dst = t.pointer, stride = paddedCapacity
        let halves = UnsafeMutablePointer<UInt16>.allocate(capacity: n * width)
        defer { halves.deallocate() }
        HalfBits.fromFloats(v, halves, count: n * width)
        for j in 0..<n { for e in 0..<width { dst[e * stride + start + j] = halves[j * width + e] } }
        return UnsafePointer(dst)
    }

    /// Writes K and V rows [n, width] at positions [start, start + n) of layer `layer` as q8_0 blocks; returns the
    /// layer's keys and values, each [kvHeads, capacity, headDim / 32 blocks].
    func appendQ8(layer: Int, start: Int, n: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>)
        -> (keys: UnsafeRawPointer, values: UnsafeRawPointer) {
        let kb = keyBlocks[layer] ?? ByteRows(count: width / headDim * q8HeadBytes)
        let vb = valueBlocks[layer] ?? ByteRows(count: width / headDim * q8HeadBytes)
        keyBlocks[layer] = kb; valueBlocks[layer] = vb
        let d = headDim
        for j in 0..<n {
            for h in 0..<width / d {
                let at = h * q8HeadBytes + (start + j) * q8RowBytes
                Attention.quantizeQ8(k + j * width + h * d, into: kb.pointer + at, count: d)
                Attention.quantizeQ8(v + j * width + h * d, into: vb.pointer + at, count: d)
            }
        }
        return (UnsafeRawPointer(kb.pointer), UnsafeRawPointer(vb.pointer))
    }

    /// Forgets everything after `length` positions (for reusing a shared prefix).
    public func truncate(to n: Int) { length = min(length, max(0, n)) }
    func advance(by n: Int) { length += n }
}

public enum ModelError: Error, CustomStringConvertible, Equatable {
    case contextOverflow(needed: Int, limit: Int)
    case tokenOutOfRange(Int, Int)
    case imageCountMismatch(markers: Int, images: Int)
    case imageTokenMismatch(String)
    case missingVision(String)
    case unsupportedPrecision(String)

    public var description: String {
        switch self {
        case .contextOverflow(let n, let l): return "prompt needs \(n) positions but the context holds \(l)"
        case .tokenOutOfRange(let id, let v): return "token id \(id) is outside the model's vocabulary of \(v)"
        case .imageCountMismatch(let m, let i): return "the prompt has \(m) <image> marker(s) but \(i) image(s) were given"
        case .imageTokenMismatch(let s): return "image tokens do not match image features: \(s)"
        case .missingVision(let s): return "this model has no vision part: \(s)"
        case .unsupportedPrecision(let s): return s
        }
    }
}

/// What the KV cache holds. `.reference`: what the reference implementation keeps — f16 for a GGUF model (as
/// llama.cpp), float32 for a llava-hf checkpoint (as transformers). `.q8_0`: K and V as 8-bit blocks (llama.cpp's
/// `--cache-type-k/v q8_0`): ~half an f16 cache's memory and of the bytes each decoded token reads, not the
/// reference's numbers. Needs a head size that is a multiple of 32.
public enum KVCacheType: String, Sendable, CaseIterable {
    case reference = "default"
    case q8_0
}

/// llama.cpp's two attention computations on the CPU (`-fa on|off`): flash attention (online soft-max over V rows
/// kept untransposed, in the one-chunk, tiled or split-KV kernel llama.cpp picks: see Attention.flashGGML) or KQ,
/// soft-max and KQV as separate products. Only the llama.cpp arithmetic path has the choice; transformers'
/// attention is one computation.
public enum FlashAttention: String, Sendable, CaseIterable {
    case on, off
}

public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    public let numerics: LlamaNumerics
    let embedding: WeightMatrix   // [vocab, hidden]
    let layers: [LlamaLayer]
    let norm: Tensor
    let head: WeightMatrix        // [vocab, hidden]
    let activation: Activation
    /// What KV caches used with this model hold (set before generating; see KVCacheType).
    public private(set) var kvCacheType: KVCacheType = .reference
    /// llama.cpp's attention mode for the f16 cache (set before generating; see FlashAttention): on, as llama.cpp's
    /// -fa auto picks on a CPU.
    public var flashAttention: FlashAttention = .on
    /// The ranges llama.cpp's split-KV flash attention (one token over 512 cells or more) divides the keys into: its
    /// thread count, so its numbers depend on it. nil: the threads we compute with (Parallel.threads).
    public var flashAttentionSplits: Int? = nil
    /// Receives intermediate tensors under llama.cpp's graph names (for comparing op by op).
    nonisolated(unsafe) public var trace: ((String, Tensor) -> Void)? = nil

    init(config: LlamaConfig, numerics: LlamaNumerics, embedding: WeightMatrix, layers: [LlamaLayer], norm: Tensor, head: WeightMatrix) throws {
        guard let act = Activation(configName: config.hiddenAct) else { throw ConfigError.unsupported("hidden_act \(config.hiddenAct)") }
        self.config = config; self.numerics = numerics; self.embedding = embedding; self.layers = layers
        self.norm = norm; self.head = head; activation = act
    }

    /// From safetensors. `prefix` e.g. "language_model.model."; `headName` e.g. "language_model.lm_head.weight".
    public convenience init(config c: LlamaConfig, weights: WeightStore, prefix: String, headName: String) throws {
        let h = c.hiddenSize, qd = c.heads * c.headDim, kvd = c.kvHeads * c.headDim, f = c.intermediateSize
        let embed = try weights.tensor(prefix + "embed_tokens.weight", shape: [c.vocabSize, h])
        var ls: [LlamaLayer] = []
        for i in 0..<c.layers {
            let l = prefix + "layers.\(i)."
            func t(_ n: String, _ s: [Int]) throws -> Tensor { try weights.tensor(l + n, shape: s) }
            func w(_ n: String, _ s: [Int]) throws -> WeightMatrix { .dense(try t(n, s)) }
            func b(_ n: String, _ s: Int, _ on: Bool) throws -> Tensor? { on ? try t(n, [s]) : nil }
            ls.append(LlamaLayer(
                inNorm: try t("input_layernorm.weight", [h]), postNorm: try t("post_attention_layernorm.weight", [h]),
                q: try w("self_attn.q_proj.weight", [qd, h]), k: try w("self_attn.k_proj.weight", [kvd, h]),
                v: try w("self_attn.v_proj.weight", [kvd, h]), o: try w("self_attn.o_proj.weight", [h, qd]),
                qb: try b("self_attn.q_proj.bias", qd, c.attentionBias), kb: try b("self_attn.k_proj.bias", kvd, c.attentionBias),
                vb: try b("self_attn.v_proj.bias", kvd, c.attentionBias), ob: try b("self_attn.o_proj.bias", h, c.attentionBias),
                gate: try w("mlp.gate_proj.weight", [f, h]), up: try w("mlp.up_proj.weight", [f, h]),
                down: try w("mlp.down_proj.weight", [h, f])))
        }
        let head: Tensor
        if weights.has(headName) { head = try weights.tensor(headName, shape: [c.vocabSize, h]) }
        else if c.tiedEmbeddings { head = embed }
        else { throw SafetensorsError.missingTensor(weights.folder, headName) }
        try self.init(config: c, numerics: .transformers, embedding: .dense(embed), layers: ls,
                      norm: try weights.tensor(prefix + "norm.weight", shape: [h]), head: .dense(head))
    }

    /// Chooses what KV caches hold from now on; a q8_0 cache needs whole 32-value blocks per head.
    public func useKVCache(_ type: KVCacheType) throws {
        if type == .q8_0 && config.headDim % 32 != 0 {
            throw ModelError.unsupportedPrecision("a q8_0 KV cache needs a head size that is a multiple of 32 (this model's is \(config.headDim))")
        }
        kvCacheType = type
    }

    /// Token embeddings.  [ids.count, hidden]
    public func embed(_ ids: [Int]) throws -> Tensor {
        for id in ids where id < 0 || id >= config.vocabSize { throw ModelError.tokenOutOfRange(id, config.vocabSize) }
        return embedding.gather(ids)
    }

    /// Runs `x` [n, hidden] at positions cache.length ..< cache.length + n, appending to the cache.
    /// Returns the final-normed hidden states [n, hidden].
    func rmsNorm(_ x: Tensor, _ w: Tensor) -> Tensor {
        numerics.llamaCppArithmetic ? Ops.rmsNormGGML(x, weight: w, eps: config.rmsNormEps) : Ops.rmsNorm(x, weight: w, eps: config.rmsNormEps)
    }

    /// Prompt positions computed at once with transformers' numerics: a long prompt goes through in pieces, so the
    /// activations held are those of one piece (a 608-token image prompt's would be ~80 MB on a 7B model). Each
    /// position's numbers do not depend on the piece it is in, as long as no piece is a lone position: see `pieces`.
    /// With llama.cpp's arithmetic the pieces are its 512-token ubatches instead (`ubatches`): there the piece does
    /// matter (one query takes other sums; flash attention's kernel depends on the ubatch's size), as in llama.cpp,
    /// so a prompt given in parts (a chat reusing its cache) gets llama.cpp's numbers for those same parts.
    public static let positionsPerPass = 256

    /// [start, end) pieces of n positions, none longer than `size`, none of one position unless n is 1.
    public static func pieces(_ n: Int, size: Int = positionsPerPass) -> [Range<Int>] {
        var bounds = Array(stride(from: 0, to: n, by: size)) + [n]
        if bounds.count > 2, n - bounds[bounds.count - 2] == 1 { bounds[bounds.count - 2] -= 1 }
        return (0..<bounds.count - 1).map { bounds[$0]..<bounds[$0 + 1] }
    }

    /// llama.cpp's ubatches of a prompt (n_ubatch 512, the last one whatever is left, even one position): with its
    /// arithmetic the pieces are its ubatches, since its flash-attention kernel and the one-query sums depend on them.
    public static func ubatches(_ n: Int) -> [Range<Int>] {
        stride(from: 0, to: n, by: 512).map { $0..<min(n, $0 + 512) }
    }

    /// `positionsPerPass` nil: llama.cpp's ubatches with its arithmetic, pieces of `LlamaModel.positionsPerPass`
    /// otherwise.
    public func forward(_ x: Tensor, cache: KVCache, positionsPerPass: Int? = nil) throws -> Tensor {
        let n = x.flatRows
        guard cache.length + n <= cache.capacity else {
            throw ModelError.contextOverflow(needed: cache.length + n, limit: cache.capacity)
        }
        let parts = positionsPerPass == nil && numerics.llamaCppArithmetic
            ? Self.ubatches(n) : Self.pieces(n, size: max(2, positionsPerPass ?? Self.positionsPerPass))
        if parts.count == 1 { return try forwardPiece(x, cache: cache) }
        let out = Tensor(zeros: [n, config.hiddenSize])
        for r in parts {
            let y = try forwardPiece(x.rows(r.lowerBound, r.count), cache: cache)
            (out.data + r.lowerBound * config.hiddenSize).update(from: y.data, count: y.count)
        }
        return out
    }

    /// One piece of `forward`, which has checked that the cache holds it.
    private func forwardPiece(_ x: Tensor, cache: KVCache) throws -> Tensor {
        let c = config
        let n = x.flatRows, start = cache.length
        let kvd = c.kvHeads * c.headDim
        let h = x.copy()
        trace?("embd", h)
        for (i, L) in layers.enumerated() {
            let normed = rmsNorm(h, L.inNorm)
            trace?("attn_norm-\(i)", normed)
            let q = L.q.apply(normed, bias: L.qb)
            let k = L.k.apply(normed, bias: L.kb)
            let v = L.v.apply(normed, bias: L.vb)
            switch numerics.rope {
            case .halves:
                Ops.applyRotary(q, heads: c.heads, headDim: c.headDim, startPos: start, theta: c.ropeTheta)
                Ops.applyRotary(k, heads: c.kvHeads, headDim: c.headDim, startPos: start, theta: c.ropeTheta)
            case .interleaved:
                Ops.applyRotaryInterleaved(q, heads: c.heads, headDim: c.headDim, startPos: start, theta: c.ropeTheta)
                Ops.applyRotaryInterleaved(k, heads: c.kvHeads, headDim: c.headDim, startPos: start, theta: c.ropeTheta)
            }
            trace?("Qcur-\(i)", q); trace?("Kcur-\(i)", k); trace?("Vcur-\(i)", v)
            // llama.cpp's tiled flash attention reads Q as it is; everywhere else Q meets the f16 cache as f16.
            let tiledFlash = flashAttention == .on && kvCacheType != .q8_0
                && Attention.flashKernel(queries: n, cells: start + n) == .tiled
            if numerics.llamaCppArithmetic {
                if !tiledFlash { Ops.roundToHalf(q.data, count: q.count) }
                Ops.roundToHalf(k.data, count: k.count)
                Ops.roundToHalf(v.data, count: v.count)
            }
            let scale = 1 / Float(c.headDim).squareRoot()
            let a: Tensor
            if kvCacheType == .q8_0 {
                let (kc, vc) = cache.appendQ8(layer: i, start: start, n: n, keys: k.data, values: v.data)
                a = Attention.forwardQ8(q: q.data, k: kc, v: vc, headBytes: cache.q8HeadBytes, rowBytes: cache.q8RowBytes,
                                        n: n, m: start + n, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                                        scale: scale, queryStart: start)
            } else if numerics.llamaCppArithmetic && flashAttention == .on {
                a = Attention.flashGGML(q: q.data, k: cache.appendHalfKeys(layer: i, start: start, n: n, rows: k.data),
                                        v: cache.appendHalfValues(layer: i, start: start, n: n, rows: v.data),
                                        headStride: cache.keyHeadStride, n: n, m: start + n, heads: c.heads,
                                        kvHeads: c.kvHeads, headDim: c.headDim, scale: scale, queryStart: start,
                                        splits: flashAttentionSplits ?? Parallel.threads)
            } else if numerics.llamaCppArithmetic {
                a = Attention.forwardGGML(q: q.data, k: cache.appendHalfKeys(layer: i, start: start, n: n, rows: k.data),
                                          kHeadStride: cache.keyHeadStride,
                                          vt: cache.appendTransposed(layer: i, start: start, n: n, rows: v.data),
                                          vtStride: cache.paddedCapacity, n: n, m: start + n,
                                          heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, scale: scale, queryStart: start)
            } else {
                (cache.keys(i).data + start * kvd).update(from: k.data, count: n * kvd)
                (cache.values(i).data + start * kvd).update(from: v.data, count: n * kvd)
                a = Attention.forward(q: q.data, k: cache.keys(i).data, v: cache.values(i).data,
                                      n: n, m: start + n, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                                      scale: scale, causal: true, queryStart: start)
            }
            trace?("kqv_out-\(i)", a)
            let attnOut = L.o.apply(a, bias: L.ob)
            trace?("attn_out-\(i)", attnOut)
            Ops.addInPlace(h, attnOut)
            trace?("ffn_inp-\(i)", h)
            let n2 = rmsNorm(h, L.postNorm)
            trace?("ffn_norm-\(i)", n2)
            let g = L.gate.apply(n2)
            let up = L.up.apply(n2)
            trace?("ffn_gate-\(i)", g); trace?("ffn_up-\(i)", up)
            if numerics.llamaCppArithmetic && activation == .silu {
                GGMLNumerics.swiglu(g.data, up.data, count: g.count)
            } else {
                activation.apply(g)
                Ops.mulInPlace(g, up)
            }
            trace?("ffn_swiglu-\(i)", g)
            let down = L.down.apply(g)
            trace?("ffn_out-\(i)", down)
            Ops.addInPlace(h, down)
            trace?("l_out-\(i)", h)
        }
        cache.advance(by: n)
        let out = rmsNorm(h, norm)
        trace?("result_norm", out)
        return out
    }

    /// Output logits for hidden states [n, hidden] -> [n, vocab].
    public func logits(_ hidden: Tensor) -> Tensor { head.apply(hidden) }
}
