// LlamaAttention (q/k/v/o projections, RoPE, grouped-query heads, causal softmax) with its backward pass.
// The attention probabilities of every head are kept for the backward pass: [heads, n, n] per layer.
import Foundation
import LlavaTensor

public final class CausalSelfAttention: @unchecked Sendable {
    public let q: LinearLayer, k: LinearLayer, v: LinearLayer, o: LinearLayer
    let heads: Int, kvHeads: Int, headDim: Int
    // saved by forward
    var qr: Tensor? = nil      // [n, heads * headDim]  after RoPE
    var kr: Tensor? = nil      // [n, kvHeads * headDim] after RoPE
    var vv: Tensor? = nil      // [n, kvHeads * headDim]
    var probs: Tensor? = nil   // [heads, n, n]

    public init(q: LinearLayer, k: LinearLayer, v: LinearLayer, o: LinearLayer, heads: Int, kvHeads: Int, headDim: Int) {
        self.q = q; self.k = k; self.v = v; self.o = o
        self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim
    }

    /// x [n, hidden] (already normed) -> [n, hidden]
    public func forward(_ x: Tensor, rope: RotaryTable, training: Bool = true) -> Tensor {
        let n = x.flatRows, d = headDim, qw = heads * d, kw = kvHeads * d, group = heads / kvHeads
        let qs = q.forward(x, training: training), ks = k.forward(x, training: training), vs = v.forward(x, training: training)
        rope.apply(qs, heads: heads)
        rope.apply(ks, heads: kvHeads)
        let p = Tensor(zeros: [heads, n, n])
        let ctx = Tensor(zeros: [n, qw])
        let scale = 1 / Float(d).squareRoot()
        for h in 0..<heads {
            let g = h / group
            let ph = p.data + h * n * n
            // scores = q_h k_g^T * scale   [n, n]
            BLAS.gemm(transA: false, transB: true, m: n, n: n, k: d, alpha: scale,
                      a: qs.data + h * d, lda: qw, b: ks.data + g * d, ldb: kw, c: ph, ldc: n)
            for i in 0..<n {
                let row = ph + i * n
                var mx = -Float.infinity
                for j in 0...i { mx = max(mx, row[j]) }
                var sum: Float = 0
                for j in 0...i { let e = expf(row[j] - mx); row[j] = e; sum += e }
                let inv = 1 / sum
                for j in 0...i { row[j] *= inv }
                for j in (i + 1)..<n { row[j] = 0 }
            }
            // ctx_h = P v_g   [n, d]
            BLAS.gemm(transA: false, transB: false, m: n, n: d, k: n,
                      a: ph, lda: n, b: vs.data + g * d, ldb: kw, c: ctx.data + h * d, ldc: qw)
        }
        qr = qs; kr = ks; vv = vs; probs = p
        return o.forward(ctx, training: training)
    }

    /// dy [n, hidden] -> dx [n, hidden] (the gradient into the normed input)
    public func backward(_ dy: Tensor, rope: RotaryTable) -> Tensor {
        guard let qs = qr, let ks = kr, let vs = vv, let p = probs else { preconditionFailure("attention backward before forward") }
        let n = qs.flatRows, d = headDim, qw = heads * d, kw = kvHeads * d, group = heads / kvHeads
        guard let dctx = o.backward(dy) else { preconditionFailure("o_proj gives no input gradient") }
        let dq = Tensor(zeros: [n, qw]), dk = Tensor(zeros: [n, kw]), dv = Tensor(zeros: [n, kw])
        let dp = Tensor(zeros: [n, n])
        let scale = 1 / Float(d).squareRoot()
        for h in 0..<heads {
            let g = h / group
            let ph = p.data + h * n * n
            // dv_g += P^T dctx_h   [n, d]
            BLAS.gemm(transA: true, transB: false, m: n, n: d, k: n,
                      a: ph, lda: n, b: dctx.data + h * d, ldb: qw, beta: 1, c: dv.data + g * d, ldc: kw)
            // dP = dctx_h v_g^T   [n, n]
            BLAS.gemm(transA: false, transB: true, m: n, n: n, k: d,
                      a: dctx.data + h * d, lda: qw, b: vs.data + g * d, ldb: kw, c: dp.data, ldc: n)
            // dS = P * (dP - rowsum(dP * P))   (softmax backward; masked entries have P = 0)
            for i in 0..<n {
                let pr = ph + i * n, dr = dp.data + i * n
                var dot: Float = 0
                for j in 0...i { dot += pr[j] * dr[j] }
                for j in 0...i { dr[j] = pr[j] * (dr[j] - dot) }
                for j in (i + 1)..<n { dr[j] = 0 }
            }
            // dq_h = dS k_g * scale;  dk_g += dS^T q_h * scale
            BLAS.gemm(transA: false, transB: false, m: n, n: d, k: n, alpha: scale,
                      a: dp.data, lda: n, b: ks.data + g * d, ldb: kw, c: dq.data + h * d, ldc: qw)
            BLAS.gemm(transA: true, transB: false, m: n, n: d, k: n, alpha: scale,
                      a: dp.data, lda: n, b: qs.data + h * d, ldb: qw, beta: 1, c: dk.data + g * d, ldc: kw)
        }
        rope.apply(dq, heads: heads, inverse: true)
        rope.apply(dk, heads: kvHeads, inverse: true)
        guard let dx = q.backward(dq), let dxk = k.backward(dk), let dxv = v.backward(dv) else {
            preconditionFailure("projection gives no input gradient")
        }
        for i in 0..<dx.count { dx.data[i] += dxk.data[i] + dxv.data[i] }
        return dx
    }

    func release() {
        qr = nil; kr = nil; vv = nil; probs = nil
        for l in [q, k, v, o] { l.release() }
    }
}
