// The kernels CLIP and LLaMA need, in float32, mirroring PyTorch's definitions:
// linear (nn.Linear), layer norm (nn.LayerNorm), RMS norm (LlamaRMSNorm), the activations
// (GELU exact and tanh, quick_gelu, SiLU), softmax, rotary embeddings (HF rotate_half layout).
import CKernels
import Foundation

public enum Ops {
    /// y = x W^T + b.  x: [n, in], weight: [out, in], bias: [out] -> [n, out]
    public static func linear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil) -> Tensor {
        let n = x.flatRows, inDim = x.columns, outDim = weight.shape[0]
        precondition(weight.columns == inDim, "linear: input width \(inDim) != weight \(weight.shape)")
        var outShape = x.shape
        outShape[outShape.count - 1] = outDim
        let y = Tensor(zeros: outShape)
        BLAS.gemm(transA: false, transB: true, m: n, n: outDim, k: inDim,
                  a: x.data, lda: inDim, b: weight.data, ldb: inDim, c: y.data, ldc: outDim)
        if let bias {
            let b = bias.data
            for r in 0..<n {
                let row = y.data + r * outDim
                for j in 0..<outDim { row[j] += b[j] }
            }
        }
        return y
    }

    /// nn.LayerNorm over the last dimension.  x: [n, d]
    public static func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
        let d = x.columns, n = x.flatRows
        let y = Tensor(zeros: x.shape)
        let w = weight.data, b = bias.data
        for r in 0..<n {
            let src = x.data + r * d, dst = y.data + r * d
            var mean: Double = 0
            for j in 0..<d { mean += Double(src[j]) }
            mean /= Double(d)
            var variance: Double = 0
            for j in 0..<d { let c = Double(src[j]) - mean; variance += c * c }
            variance /= Double(d)
            let inv = 1 / (variance + Double(eps)).squareRoot()
            let meanF = Float(mean), invF = Float(inv)
            for j in 0..<d { dst[j] = (src[j] - meanF) * invF * w[j] + b[j] }
        }
        return y
    }

    /// LlamaRMSNorm: x / sqrt(mean(x^2) + eps) * weight.  x: [n, d]
    public static func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float) -> Tensor {
        let d = x.columns, n = x.flatRows
        let y = Tensor(zeros: x.shape)
        let w = weight.data
        for r in 0..<n {
            let src = x.data + r * d, dst = y.data + r * d
            var ss: Double = 0
            for j in 0..<d { ss += Double(src[j]) * Double(src[j]) }
            let inv = Float(1 / (ss / Double(d) + Double(eps)).squareRoot())
            for j in 0..<d { dst[j] = w[j] * (src[j] * inv) }
        }
        return y
    }

    /// a += b, element-wise, same shape.
    public static func addInPlace(_ a: Tensor, _ b: Tensor) {
        precondition(a.count == b.count, "add: \(a.shape) vs \(b.shape)")
        let p = a.data, q = b.data
        for i in 0..<a.count { p[i] += q[i] }
    }

    /// a *= b, element-wise.
    public static func mulInPlace(_ a: Tensor, _ b: Tensor) {
        precondition(a.count == b.count, "mul: \(a.shape) vs \(b.shape)")
        let p = a.data, q = b.data
        for i in 0..<a.count { p[i] *= q[i] }
    }

    /// Rotary position embedding, HF `rotate_half` layout (first half / second half of each head).
    /// x: [tokens, heads * headDim], token t at position `startPos + t`.
    public static func applyRotary(_ x: Tensor, heads: Int, headDim: Int, startPos: Int, theta: Float) {
        let half = headDim / 2
        let inv = ropeInverseFrequencies(headDim: headDim, theta: theta)
        let tokens = x.flatRows
        var cosv = [Float](repeating: 0, count: half), sinv = [Float](repeating: 0, count: half)
        for t in 0..<tokens {
            let pos = Float(startPos + t)
            for i in 0..<half {
                let angle = pos * inv[i]  // float32 product, as HF computes it
                cosv[i] = Float(cos(Double(angle)))
                sinv[i] = Float(sin(Double(angle)))
            }
            let row = x.data + t * heads * headDim
            for h in 0..<heads {
                let v = row + h * headDim
                for i in 0..<half {
                    let a = v[i], b = v[i + half]
                    v[i] = a * cosv[i] - b * sinv[i]
                    v[i + half] = b * cosv[i] + a * sinv[i]
                }
            }
        }
    }

    /// 1 / theta^(2i / d), rounded to float32 as HF's default rope initialisation does.
    public static func ropeInverseFrequencies(headDim: Int, theta: Float) -> [Float] {
        (0..<(headDim / 2)).map { i in
            let p = Float(pow(Double(theta), Double(Float(2 * i) / Float(headDim))))
            return 1 / p
        }
    }

    /// Gathers rows of `table` [vocab, d] -> [ids.count, d].
    public static func embedding(_ table: Tensor, ids: [Int]) -> Tensor {
        let d = table.columns
        let y = Tensor(zeros: [ids.count, d])
        for (r, id) in ids.enumerated() {
            (y.data + r * d).update(from: table.data + id * d, count: d)
        }
        return y
    }
}

extension Ops {
    /// Rotary embedding in llama.cpp's "normal" mode: adjacent pairs (2i, 2i+1) rotate, the angle
    /// p * base^(-2i/d) built by repeated float multiplication as ggml_rope_cache_init does.
    /// (llama.cpp's converter permutes Q/K rows so this equals HF's rotate_half on the original weights.)
    public static func applyRotaryInterleaved(_ x: Tensor, heads: Int, headDim: Int, startPos: Int, theta base: Float) {
        let half = headDim / 2
        let thetaScale = powf(base, -2.0 / Float(headDim))
        var cosv = [Float](repeating: 0, count: half), sinv = [Float](repeating: 0, count: half)
        for t in 0..<x.flatRows {
            var theta = Float(startPos + t)
            for i in 0..<half {
                cosv[i] = cosf(theta); sinv[i] = sinf(theta)
                theta *= thetaScale
            }
            let row = x.data + t * heads * headDim
            for h in 0..<heads {
                let v = row + h * headDim
                for i in 0..<half {
                    let a = v[2 * i], b = v[2 * i + 1]
                    // The fused multiply-adds GCC forms from ggml's `x0*c - x1*s`, `x0*s + x1*c` (bit-exact with it).
                    v[2 * i] = (-(b * sinv[i])).addingProduct(a, cosv[i])
                    v[2 * i + 1] = (b * cosv[i]).addingProduct(a, sinv[i])
                }
            }
        }
    }

    /// Rounds every value to the nearest float16 (what a half-precision buffer would hold).
    public static func roundToHalf(_ p: UnsafeMutablePointer<Float>, count: Int) {
        llava_round_to_half(p, count)
    }
}

extension Ops {
    /// ggml's rms_norm (fused with the weight multiply): float squares summed in double,
    /// mean and scale in float, y = (x * scale) * w.  x: [n, d]
    public static func rmsNormGGML(_ x: Tensor, weight: Tensor, eps: Float) -> Tensor {
        let d = x.columns, n = x.flatRows
        let y = Tensor(zeros: x.shape)
        let w = weight.data
        for r in 0..<n {
            let src = x.data + r * d, dst = y.data + r * d
            var sum: Double = 0
            for j in 0..<d { sum += Double(src[j] * src[j]) }
            let mean = Float(sum / Double(d))
            let scale = 1 / (mean + eps).squareRoot()
            for j in 0..<d { dst[j] = src[j] * scale * w[j] }
        }
        return y
    }
}
