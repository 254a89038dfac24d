// Scaled dot-product attention with grouped KV heads, one head at a time through BLAS.
//
// Mirrors torch's sdpa / HF eager attention: softmax(q k^T * scale + mask) v, computed in float32.
// Heads are strided views into [tokens, heads * headDim], so nothing is transposed or copied.
import CKernels

public enum Attention {
    /// q: [n, heads * d]; k, v: [m, kvHeads * d] (the first `m` rows are used).
    /// Query row i sits at absolute position `queryStart + i`; with `causal`, it sees keys 0...that.
    /// Returns [n, heads * d].
    public static func forward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        n: Int, m: Int, heads: Int, kvHeads: Int, headDim d: Int,
        scale: Float, causal: Bool, queryStart: Int, halfProbabilities: Bool = false
    ) -> Tensor {
        let out = Tensor(zeros: [n, heads * d])
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(n * m, 1))
        defer { scores.deallocate() }
        let group = heads / kvHeads
        for h in 0..<heads {
            let kvh = h / group
            // [n, m] = q_h [n, d] * k_h^T
            BLAS.gemm(transA: false, transB: true, m: n, n: m, k: d, alpha: scale,
                      a: q + h * d, lda: heads * d, b: k + kvh * d, ldb: kvHeads * d,
                      c: scores, ldc: m)
            if causal {
                for i in 0..<n {
                    let limit = queryStart + i + 1
                    if limit < m {
                        let row = scores + i * m
                        for j in limit..<m { row[j] = -.infinity }
                    }
                }
            }
            llava_softmax_rows(scores, Int32(n), Int32(m))
            // llama.cpp multiplies V (f16) by the probabilities converted to f16.
            if halfProbabilities { Ops.roundToHalf(scores, count: n * m) }
            // [n, d] = p [n, m] * v_h [m, d]
            BLAS.gemm(transA: false, transB: false, m: n, n: d, k: m,
                      a: scores, lda: m, b: v + kvh * d, ldb: kvHeads * d,
                      c: out.data + h * d, ldc: heads * d)
        }
        return out
    }
}
