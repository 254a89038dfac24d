// CLIP ViT vision tower, as HF transformers' CLIPVisionModel computes it (modeling_clip.py):
// patch conv (no bias) + class embedding + position embeddings, pre_layrnorm, then pre-norm
// encoder layers (attention with biases, MLP with quick_gelu or gelu). LLaVA reads a hidden state
// from inside the stack (vision_feature_layer), so post_layernorm is never used.
import LlavaFormats
import LlavaTensor

struct CLIPLayer {
    let ln1w: Tensor, ln1b: Tensor, ln2w: Tensor, ln2b: Tensor
    let qw: WeightMatrix, qb: Tensor, kw: WeightMatrix, kb: Tensor, vw: WeightMatrix, vb: Tensor, ow: WeightMatrix, ob: Tensor
    let fc1w: WeightMatrix, fc1b: Tensor, fc2w: WeightMatrix, fc2b: Tensor
}

public final class CLIPVisionTower: @unchecked Sendable {
    public let config: CLIPVisionConfig
    let patchWeight: Tensor      // [D, C * p * p]
    let classEmbedding: Tensor   // [D]
    let positionEmbedding: Tensor // [positions, D]
    let preLNw: Tensor, preLNb: Tensor
    let layers: [CLIPLayer]
    let activation: Activation
    /// The bf16 path's attention (oneDNN); nil on the f32 path.
    var bf16Attention: BF16Attention? = nil

    init(config: CLIPVisionConfig, patchWeight: Tensor, classEmbedding: Tensor, positionEmbedding: Tensor,
         preLNw: Tensor, preLNb: Tensor, layers: [CLIPLayer]) throws {
        guard let act = Activation(configName: config.hiddenAct) else { throw ConfigError.unsupported("vision hidden_act \(config.hiddenAct)") }
        self.config = config; activation = act
        self.patchWeight = patchWeight; self.classEmbedding = classEmbedding; self.positionEmbedding = positionEmbedding
        self.preLNw = preLNw; self.preLNb = preLNb; self.layers = layers
    }

    /// `prefix` is the canonical prefix, e.g. "vision_tower.vision_model.". Only the first `keepLayers` layers load.
    public init(config c: CLIPVisionConfig, weights: WeightStore, prefix: String, keepLayers: Int) throws {
        config = c
        guard let act = Activation(configName: c.hiddenAct) else { throw ConfigError.unsupported("vision hidden_act \(c.hiddenAct)") }
        activation = act
        let d = c.hiddenSize, p = c.patchSize, f = c.intermediateSize
        patchWeight = try weights.tensor(prefix + "embeddings.patch_embedding.weight", shape: [d, c.channels, p, p])
            .reshaped([d, c.channels * p * p])
        classEmbedding = try weights.tensor(prefix + "embeddings.class_embedding", shape: [d])
        positionEmbedding = try weights.tensor(prefix + "embeddings.position_embedding.weight", shape: [c.positions, d])
        preLNw = try weights.tensor(prefix + "pre_layrnorm.weight", shape: [d])
        preLNb = try weights.tensor(prefix + "pre_layrnorm.bias", shape: [d])
        var ls: [CLIPLayer] = []
        for i in 0..<keepLayers {
            let l = prefix + "encoder.layers.\(i)."
            func t(_ n: String, _ s: [Int]) throws -> Tensor { try weights.tensor(l + n, shape: s) }
            ls.append(CLIPLayer(
                ln1w: try t("layer_norm1.weight", [d]), ln1b: try t("layer_norm1.bias", [d]),
                ln2w: try t("layer_norm2.weight", [d]), ln2b: try t("layer_norm2.bias", [d]),
                qw: .dense(try t("self_attn.q_proj.weight", [d, d])), qb: try t("self_attn.q_proj.bias", [d]),
                kw: .dense(try t("self_attn.k_proj.weight", [d, d])), kb: try t("self_attn.k_proj.bias", [d]),
                vw: .dense(try t("self_attn.v_proj.weight", [d, d])), vb: try t("self_attn.v_proj.bias", [d]),
                ow: .dense(try t("self_attn.out_proj.weight", [d, d])), ob: try t("self_attn.out_proj.bias", [d]),
                fc1w: .dense(try t("mlp.fc1.weight", [f, d])), fc1b: try t("mlp.fc1.bias", [f]),
                fc2w: .dense(try t("mlp.fc2.weight", [d, f])), fc2b: try t("mlp.fc2.bias", [d])))
        }
        layers = ls
    }

    /// The same tower with its layers' matrices in bf16 (oneDNN, AVX512-BF16), or nil where that is unavailable.
    /// When the weights are read in place from `file` (an mmproj), each layer's pages are handed back once converted,
    /// so the f16 source and the bf16 copy are never resident whole at the same time.
    public func bf16(releasing file: MappedFile? = nil) -> CLIPVisionTower? {
        let n = config.positions
        var converted: [CLIPLayer] = []
        for L in layers {
            guard let q = L.qw.bf16(tokens: n), let k = L.kw.bf16(tokens: n), let v = L.vw.bf16(tokens: n),
                  let o = L.ow.bf16(tokens: n), let f1 = L.fc1w.bf16(tokens: n), let f2 = L.fc2w.bf16(tokens: n) else { return nil }
            if let file {
                for w in [L.qw, L.kw, L.vw, L.ow, L.fc1w, L.fc2w] {
                    if case .widened(let m) = w { file.release(m.data, count: m.rows * m.rowBytes) }
                }
            }
            converted.append(CLIPLayer(ln1w: L.ln1w, ln1b: L.ln1b, ln2w: L.ln2w, ln2b: L.ln2b, qw: q, qb: L.qb, kw: k, kb: L.kb,
                                       vw: v, vb: L.vb, ow: o, ob: L.ob, fc1w: f1, fc1b: L.fc1b, fc2w: f2, fc2b: L.fc2b))
        }
        guard let attention = BF16Attention(tokens: n, heads: config.heads, headDim: config.hiddenSize / config.heads),
              let tower = try? CLIPVisionTower(config: config, patchWeight: patchWeight, classEmbedding: classEmbedding,
                                               positionEmbedding: positionEmbedding, preLNw: preLNw, preLNb: preLNb,
                                               layers: converted) else { return nil }
        tower.bf16Attention = attention
        return tower
    }

    /// Hidden states `wanted` (0 = after pre_layrnorm, i = after layer i), each [positions, D], for one image
    /// [C, H, W]; runs the layers up to the largest wanted. Only the wanted states are kept (all 24 of ViT-L would
    /// hold 57 MB for the one or two that LLaVA reads).
    public func hiddenStates(pixels: Tensor, wanted: [Int]) -> [Int: Tensor] {
        let upTo = wanted.max() ?? 0
        let c = config
        let d = c.hiddenSize, p = c.patchSize, side = c.patchesPerSide, ch = c.channels
        let size = c.imageSize
        precondition(pixels.shape == [ch, size, size], "pixels \(pixels.shape) != [\(ch), \(size), \(size)]")
        let cols = PatchColumns.make(pixels, channels: ch, size: size, patch: p)  // [patches, C*p*p]
        let patches = Ops.linear(cols, patchWeight)  // [patches, D]
        let x = Tensor(zeros: [c.positions, d])
        x.data.update(from: classEmbedding.data, count: d)
        (x.data + d).update(from: patches.data, count: side * side * d)
        Ops.addInPlace(x, positionEmbedding)
        var h = Ops.layerNorm(x, weight: preLNw, bias: preLNb, eps: c.layerNormEps)
        var states: [Int: Tensor] = [:]
        if wanted.contains(0) { states[0] = h }
        let heads = c.heads, hd = d / heads
        for i in 0..<min(upTo, layers.count) {
            let L = layers[i]
            let n1 = Ops.layerNorm(h, weight: L.ln1w, bias: L.ln1b, eps: c.layerNormEps)
            let q = L.qw.apply(n1, bias: L.qb), k = L.kw.apply(n1, bias: L.kb), v = L.vw.apply(n1, bias: L.vb)
            let a = bf16Attention?.forward(q: q, k: k, v: v)
                ?? Attention.forward(q: q.data, k: k.data, v: v.data, n: c.positions, m: c.positions,
                                     heads: heads, kvHeads: heads, headDim: hd,
                                     scale: 1 / Float(hd).squareRoot(), causal: false, queryStart: 0)
            let o = L.ow.apply(a, bias: L.ob)
            let h1 = h.copy()
            Ops.addInPlace(h1, o)
            let n2 = Ops.layerNorm(h1, weight: L.ln2w, bias: L.ln2b, eps: c.layerNormEps)
            let f1 = L.fc1w.apply(n2, bias: L.fc1b)
            activation.apply(f1)
            Ops.addInPlace(h1, L.fc2w.apply(f1, bias: L.fc2b))
            h = h1
            if wanted.contains(i + 1) { states[i + 1] = h }
        }
        return states
    }
}
