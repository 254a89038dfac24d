// llama.cpp's CPU arithmetic, reproduced operation for operation so a GGUF model gives its numbers
// to the bit: ggml's vectorised expf (ggml_v_expf, AVX-512 form), SiLU/SwiGLU, the soft-max with its
// chunked sums, the f16 dot products of attention (ggml_vec_dot_f16's four 16-lane accumulators for
// one query; tinyBLAS's single accumulator for a batch) and GCC's _mm512_reduce_add_ps order.
// Why: a quantised model is chaotic under int8 activation rounding — a 1e-6 difference in one
// layer can move final logits by tenths — so "the same tokens as llama.cpp" needs the same sums.
import CKernels
import Foundation

public enum GGMLNumerics {
    /// GCC's _mm512_reduce_add_ps: halves of 8, then of 4, then (0+2, 1+3), then the pair.
    @inline(__always)
    public static func reduceAdd(_ v: SIMD16<Float>) -> Float {
        let t3 = v.highHalf + v.lowHalf
        let t6 = t3.highHalf + t3.lowHalf
        let a = t6[0] + t6[2], b = t6[1] + t6[3]
        return a + b
    }

    /// ggml_v_expf, one lane at a time (every step is element-wise, fused where ggml fuses).
    @inline(__always)
    public static func expf(_ x: Float) -> Float {
        let r: Float = 0x1.8p23
        let z = r.addingProduct(x, 0x1.715476p+0)
        let n = z - r
        let b = (x.addingProduct(-n, 0x1.62e4p-1)).addingProduct(-n, 0x1.7f7d1cp-20)
        if abs(n) > 192 { return n <= 0 ? 0 : .infinity }
        let u = b * b
        let p1 = Float(0x1.573e2ep-5).addingProduct(0x1.0e4020p-7, b)
        let p2 = Float(0x1.fffdb6p-2).addingProduct(0x1.555e66p-3, b)
        let p3 = Float(1).addingProduct(0x1.ffffecp-1, b)
        let j = p3.addingProduct(p2.addingProduct(p1, u), u)
        return scalbnf(j, Int32(n))
    }

    /// ggml_vec_swiglu_f32: silu(x) * g, x / (1 + exp(-x)) in 16-wide blocks, libm expf for the tail.
    public static func swiglu(_ x: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, count n: Int) {
        let vec = n - n % 16
        for i in 0..<vec {
            let v = x[i]
            x[i] = (v / (1 + expf(0 - v))) * g[i]
        }
        for i in vec..<n {
            let v = x[i]
            x[i] = (v / (1 + Foundation.expf(-v))) * g[i]
        }
    }

    /// ggml_vec_dot_f16 (AVX-512): four 16-lane accumulators over 64-element steps, reduced
    /// (0+2, 1+3, then 0+1) and summed across lanes; a tail past the last step in double.
    @inline(__always)
    public static func vecDotF16(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count n: Int) -> Float {
        var s0 = SIMD16<Float>(repeating: 0), s1 = s0, s2 = s0, s3 = s0
        let np = n & ~63
        var i = 0
        while i < np {
            s0 = s0.addingProduct(load16(x + i), load16(y + i))
            s1 = s1.addingProduct(load16(x + i + 16), load16(y + i + 16))
            s2 = s2.addingProduct(load16(x + i + 32), load16(y + i + 32))
            s3 = s3.addingProduct(load16(x + i + 48), load16(y + i + 48))
            i += 64
        }
        s0 = s0 + s2; s1 = s1 + s3; s0 = s0 + s1
        var sum = Double(reduceAdd(s0))
        while i < n { sum += Double(x[i] * y[i]); i += 1 }
        return Float(sum)
    }

    /// tinyBLAS (AVX-512) for one output: one accumulator, fma over 16-element steps, then reduce.
    @inline(__always)
    public static func tinyDotF16(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count k: Int) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var l = 0
        while l < k { acc = acc.addingProduct(load16(x + l), load16(y + l)); l += 16 }
        return reduceAdd(acc)
    }

    @inline(__always)
    static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    /// ggml_compute_forward_soft_max for one row already scaled and masked (-inf where masked):
    /// exp in 16-wide chunks summed with reduce_add into a double, then y *= (float)(1/sum).
    public static func softmax(_ row: UnsafeMutablePointer<Float>, count n: Int) {
        var mx = -Float.infinity
        for i in 0..<n where row[i] > mx { mx = row[i] }
        var sum: Double = 0
        var i = 0
        while i + 16 <= n {
            var v = SIMD16<Float>(repeating: 0)
            for k in 0..<16 { v[k] = expf(row[i + k] - mx) }
            for k in 0..<16 { row[i + k] = v[k] }
            sum += Double(reduceAdd(v))
            i += 16
        }
        while i < n { let e = Foundation.expf(row[i] - mx); row[i] = e; sum += Double(e); i += 1 }
        let inv = Float(1.0 / sum)
        for k in 0..<n { row[k] *= inv }
    }
}

extension Attention {
    /// Attention as llama.cpp's CPU backend computes it without flash attention: Q and K/V in f16,
    /// KQ through vec_dot_f16 (one query) or tinyBLAS (a batch), soft-max as ggml does it,
    /// probabilities to f16, then KQV the same way. q: [n, heads*d] (already f16-rounded);
    /// k, v: [m, kvHeads*d] (f16-rounded). Row lengths over the cache are padded to 256 with zeros,
    /// as llama.cpp's KV view is.
    public static func forwardGGML(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        n: Int, m: Int, heads: Int, kvHeads: Int, headDim d: Int, scale: Float, queryStart: Int
    ) -> Tensor {
        let out = Tensor(zeros: [n, heads * d])
        let padded = (m + 255) / 256 * 256
        let group = heads / kvHeads
        let batch = n >= 2
        // V transposed per kv head: [kvHeads][d][padded], as llama.cpp stores it.
        let vt = UnsafeMutablePointer<Float>.allocate(capacity: kvHeads * d * padded)
        vt.initialize(repeating: 0, count: kvHeads * d * padded)
        defer { vt.deallocate() }
        for kh in 0..<kvHeads { for j in 0..<m { for e in 0..<d { vt[(kh * d + e) * padded + j] = v[j * kvHeads * d + kh * d + e] } } }
        let row = UnsafeMutablePointer<Float>.allocate(capacity: padded)
        defer { row.deallocate() }
        for h in 0..<heads {
            let kvh = h / group
            for i in 0..<n {
                let qi = q + i * heads * d + h * d
                let limit = queryStart + i + 1
                for j in 0..<padded {
                    if j >= m || j >= limit { row[j] = -.infinity; continue }
                    let kj = k + j * kvHeads * d + kvh * d
                    let s = batch && d % 16 == 0 ? llava_dot_f16_tiny(kj, qi, Int32(d)) : llava_dot_f16_vec(kj, qi, Int32(d))
                    row[j] = s * scale
                }
                GGMLNumerics.softmax(row, count: padded)
                for j in 0..<padded { row[j] = HalfBits.round(row[j]) }
                let o = out.data + i * heads * d + h * d
                for e in 0..<d {
                    let vr = vt + (kvh * d + e) * padded
                    o[e] = batch ? llava_dot_f16_tiny(vr, row, Int32(padded)) : llava_dot_f16_vec(vr, row, Int32(padded))
                }
            }
        }
        return out
    }
}
