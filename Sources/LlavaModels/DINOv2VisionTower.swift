// DINOv2 ViT vision tower, as HF transformers' Dinov2Model computes it (modeling_dinov2.py): patch conv with
// bias, CLS token, position embeddings made for a `imageSize / patch` grid and interpolated bicubically to the
// input's grid (interpolate_pos_encoding: torch bicubic, a = -0.75, align_corners False, no antialias, sampled at
// `size=`), then pre-norm layers with LayerScale: h += ls1 * attn(norm1(h)); h += ls2 * mlp(norm2(h)).
// LLaVA reads hidden states from inside the stack, so the final layernorm is never applied.
import Foundation
import LlavaFormats
import LlavaTensor

struct DINOv2Layer {
    let ln1w: Tensor, ln1b: Tensor, ln2w: Tensor, ln2b: Tensor
    let qw: WeightMatrix, qb: Tensor, kw: WeightMatrix, kb: Tensor, vw: WeightMatrix, vb: Tensor
    let ow: WeightMatrix, ob: Tensor
    let ls1: Tensor, ls2: Tensor   // [D] LayerScale
    let fc1w: WeightMatrix, fc1b: Tensor, fc2w: WeightMatrix, fc2b: Tensor
}

public final class DINOv2VisionTower: @unchecked Sendable, VisionTower {
    public let config: CLIPVisionConfig
    let patchWeight: Tensor      // [D, C * p * p]
    let patchBias: Tensor        // [D]
    let clsToken: Tensor         // [D]
    /// The position embeddings at the input's grid, interpolated once at load.  [1 + side², D]
    let positionEmbedding: Tensor
    let layers: [DINOv2Layer]
    let activation: Activation

    /// `prefix` is the canonical prefix ("vision_tower.vision_model."). Only the first `keepLayers` layers load.
    public init(config c: CLIPVisionConfig, weights: WeightStore, prefix: String, keepLayers: Int) throws {
        config = c
        guard let act = Activation(configName: c.hiddenAct) else {
            throw ConfigError.unsupported("vision hidden_act \(c.hiddenAct)")
        }
        activation = act
        let d = c.hiddenSize, p = c.patchSize, f = c.intermediateSize
        guard c.inputSize >= p else {
            throw ConfigError.badValue("crop_size", "\(c.inputSize) is smaller than a patch")
        }
        patchWeight = try weights.tensor(prefix + "embeddings.patch_embeddings.projection.weight",
                                         shape: [d, c.channels, p, p]).reshaped([d, c.channels * p * p])
        patchBias = try weights.tensor(prefix + "embeddings.patch_embeddings.projection.bias", shape: [d])
        clsToken = try weights.tensor(prefix + "embeddings.cls_token", shape: [1, 1, d]).reshaped([d])
        let grid = c.positionGrid
        let stored = try weights.tensor(prefix + "embeddings.position_embeddings", shape: [1, grid * grid + 1, d])
        positionEmbedding = Self.interpolatePositions(stored.reshaped([grid * grid + 1, d]), grid: grid,
                                                      to: c.patchesPerSide, square: true)
        var ls: [DINOv2Layer] = []
        for i in 0..<keepLayers {
            let l = prefix + "encoder.layer.\(i)."
            func t(_ n: String, _ s: [Int]) throws -> Tensor { try weights.tensor(l + n, shape: s) }
            let a = "attention.attention."
            ls.append(DINOv2Layer(
                ln1w: try t("norm1.weight", [d]), ln1b: try t("norm1.bias", [d]),
                ln2w: try t("norm2.weight", [d]), ln2b: try t("norm2.bias", [d]),
                qw: .dense(try t(a + "query.weight", [d, d])), qb: try t(a + "query.bias", [d]),
                kw: .dense(try t(a + "key.weight", [d, d])), kb: try t(a + "key.bias", [d]),
                vw: .dense(try t(a + "value.weight", [d, d])), vb: try t(a + "value.bias", [d]),
                ow: .dense(try t("attention.output.dense.weight", [d, d])),
                ob: try t("attention.output.dense.bias", [d]),
                ls1: try t("layer_scale1.lambda1", [d]), ls2: try t("layer_scale2.lambda1", [d]),
                fc1w: .dense(try t("mlp.fc1.weight", [f, d])), fc1b: try t("mlp.fc1.bias", [f]),
                fc2w: .dense(try t("mlp.fc2.weight", [d, f])), fc2b: try t("mlp.fc2.bias", [d])))
        }
        layers = ls
    }

    public func bf16Tower(releasing file: MappedFile?) -> (any VisionTower)? { nil }

    /// HF's interpolate_pos_encoding: the class row kept, the grid×grid patch rows resized to side×side by torch's
    /// bicubic (separable, rows of taps first summed along x, then along y; coordinates in f32). When the grid is
    /// already the input's and the image is square, the table is used as it is (HF returns it untouched).
    /// table [1 + grid², D] -> [1 + side², D]
    static func interpolatePositions(_ table: Tensor, grid: Int, to side: Int, square: Bool) -> Tensor {
        let d = table.columns
        if side == grid && square { return table.copy() }
        let out = Tensor(zeros: [1 + side * side, d])
        out.data.update(from: table.data, count: d)
        let taps = bicubicTaps(input: grid, output: side)
        let src = table.data + d
        let row = UnsafeMutablePointer<Float>.allocate(capacity: d)
        defer { row.deallocate() }
        for oy in 0..<side {
            for ox in 0..<side {
                let dst = out.data + (1 + oy * side + ox) * d
                for j in 0..<4 {
                    let (iy, wy) = taps[oy][j]
                    // One source row's four taps along x.  [D]
                    for c in 0..<d { row[c] = 0 }
                    for i in 0..<4 {
                        let (ix, wx) = taps[ox][i]
                        let s = src + (iy * grid + ix) * d
                        if i == 0 { for c in 0..<d { row[c] = s[c] * wx } }
                        else { for c in 0..<d { row[c] += s[c] * wx } }
                    }
                    if j == 0 { for c in 0..<d { dst[c] = row[c] * wy } }
                    else { for c in 0..<d { dst[c] += row[c] * wy } }
                }
            }
        }
        return out
    }

    /// torch's cubic taps for each output index: four (clamped index, weight) pairs, A = -0.75, half-pixel centres.
    static func bicubicTaps(input: Int, output: Int) -> [[(Int, Float)]] {
        let a: Float = -0.75
        func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        let scale = Float(input) / Float(output)
        return (0..<output).map { o in
            let real = scale * (Float(o) + 0.5) - 0.5
            let index = min(Int(real.rounded(.down)), input - 1)
            let t = min(max(real - Float(index), 0), 1)
            let w: [Float] = [far(t + 1), near(t), near(1 - t), far(2 - t)]
            return (0..<4).map { j in (max(min(index - 1 + j, input - 1), 0), w[j]) }
        }
    }

    public func hiddenStates(pixels: Tensor, wanted: [Int]) -> [Int: Tensor] {
        let upTo = wanted.max() ?? 0
        let c = config
        let d = c.hiddenSize, p = c.patchSize, side = c.patchesPerSide, ch = c.channels, size = c.inputSize
        precondition(pixels.shape == [ch, size, size], "pixels \(pixels.shape) != [\(ch), \(size), \(size)]")
        let cols = PatchColumns.make(pixels, channels: ch, size: size, patch: p)  // [patches, C*p*p]
        let patches = Ops.linear(cols, patchWeight, patchBias)  // [patches, D]
        var h = Tensor(zeros: [c.positions, d])
        h.data.update(from: clsToken.data, count: d)
        (h.data + d).update(from: patches.data, count: side * side * d)
        Ops.addInPlace(h, positionEmbedding)
        var states: [Int: Tensor] = [:]
        if wanted.contains(0) { states[0] = h }
        let heads = c.heads, hd = d / heads, n = c.positions
        for i in 0..<min(upTo, layers.count) {
            let L = layers[i]
            let n1 = Ops.layerNorm(h, weight: L.ln1w, bias: L.ln1b, eps: c.layerNormEps)
            let q = L.qw.apply(n1, bias: L.qb), k = L.kw.apply(n1, bias: L.kb), v = L.vw.apply(n1, bias: L.vb)
            let a = Attention.forward(q: q.data, k: k.data, v: v.data, n: n, m: n, heads: heads, kvHeads: heads,
                                      headDim: hd, scale: 1 / Float(hd).squareRoot(), causal: false, queryStart: 0)
            let o = L.ow.apply(a, bias: L.ob)
            Self.scaleRows(o, L.ls1)
            let h1 = h.copy()
            Ops.addInPlace(h1, o)
            let n2 = Ops.layerNorm(h1, weight: L.ln2w, bias: L.ln2b, eps: c.layerNormEps)
            let f1 = L.fc1w.apply(n2, bias: L.fc1b)
            activation.apply(f1)
            let f2 = L.fc2w.apply(f1, bias: L.fc2b)
            Self.scaleRows(f2, L.ls2)
            Ops.addInPlace(h1, f2)
            h = h1
            if wanted.contains(i + 1) { states[i + 1] = h }
        }
        return states
    }

    /// LayerScale: each row times lambda.  x [n, D], lambda [D]
    static func scaleRows(_ x: Tensor, _ lambda: Tensor) {
        let d = x.columns
        for r in 0..<x.flatRows {
            let row = x.data + r * d
            for j in 0..<d { row[j] *= lambda.data[j] }
        }
    }
}
