// nn.Linear with its backward pass, and an optional LoRA adapter beside it (PEFT's LoraLayer:
// y = x W^T + b + (alpha / r) * dropout(x) A^T B^T). The forward pass keeps what the backward pass needs.
import LlavaTensor

public final class LoRAAdapter: @unchecked Sendable {
    public let a: Parameter        // [rank, in]
    public let b: Parameter        // [out, rank]
    public let scale: Float        // alpha / rank
    public let dropout: Float
    var rng: SplitMix64
    // saved by forward
    var dropped: Tensor? = nil     // dropout(x)  [n, in]
    var mask: [Float] = []         // 0 or 1/(1-p) per input element; empty without dropout
    var down: Tensor? = nil        // dropout(x) A^T  [n, rank]

    public init(a: Parameter, b: Parameter, alpha: Float, dropout: Float, seed: UInt64) {
        self.a = a; self.b = b
        scale = alpha / Float(a.value.shape[0])
        self.dropout = dropout
        rng = SplitMix64(seed: seed)
    }

    /// Re-seeds the dropout masks (per step, so a resumed run draws the same masks).
    func reseed(_ seed: UInt64) { rng = SplitMix64(seed: seed) }
}

public final class LinearLayer: @unchecked Sendable {
    public let weight: Parameter   // [out, in]
    public let bias: Parameter?    // [out]
    public var lora: LoRAAdapter?
    var input: Tensor? = nil       // [n, in]

    public init(weight: Parameter, bias: Parameter? = nil) {
        self.weight = weight; self.bias = bias
    }

    public var outFeatures: Int { weight.value.shape[0] }
    public var inFeatures: Int { weight.value.shape[1] }

    /// [n, in] -> [n, out]
    public func forward(_ x: Tensor, training: Bool = true) -> Tensor {
        input = x
        let y = Ops.linear(x, weight.value, bias?.value)
        if let lora {
            let n = x.flatRows, r = lora.a.value.shape[0]
            var xd = x
            if training && lora.dropout > 0 {
                xd = x.copy()
                let keep = 1 / (1 - lora.dropout)
                lora.mask = (0..<x.count).map { _ in lora.rng.nextUnit() < lora.dropout ? 0 : keep }
                for i in 0..<x.count { xd.data[i] *= lora.mask[i] }
            } else {
                lora.mask = []
            }
            let u = Tensor(zeros: [n, r])
            BLAS.gemm(transA: false, transB: true, m: n, n: r, k: inFeatures,
                      a: xd.data, lda: inFeatures, b: lora.a.value.data, ldb: inFeatures, c: u.data, ldc: r)
            BLAS.gemm(transA: false, transB: true, m: n, n: outFeatures, k: r, alpha: lora.scale,
                      a: u.data, lda: r, b: lora.b.value.data, ldb: r, beta: 1, c: y.data, ldc: outFeatures)
            lora.dropped = xd; lora.down = u
        }
        return y
    }

    /// dy [n, out] -> dx [n, in] (nil when `inputGrad` is false); adds into the gradients of what trains.
    @discardableResult
    public func backward(_ dy: Tensor, inputGrad: Bool = true) -> Tensor? {
        guard let x = input else { preconditionFailure("LinearLayer.backward before forward") }
        let n = x.flatRows, inD = inFeatures, outD = outFeatures
        if let gw = weight.grad {
            // dW += dy^T x   [out, in]
            BLAS.gemm(transA: true, transB: false, m: outD, n: inD, k: n,
                      a: dy.data, lda: outD, b: x.data, ldb: inD, beta: 1, c: gw.data, ldc: inD)
        }
        if let gb = bias?.grad {
            for r in 0..<n { let row = dy.data + r * outD; for j in 0..<outD { gb.data[j] += row[j] } }
        }
        var dx: Tensor? = nil
        if inputGrad {
            let g = Tensor(zeros: [n, inD])
            BLAS.gemm(transA: false, transB: false, m: n, n: inD, k: outD,
                      a: dy.data, lda: outD, b: weight.value.data, ldb: inD, c: g.data, ldc: inD)
            dx = g
        }
        if let lora, let xd = lora.dropped, let u = lora.down {
            let r = lora.a.value.shape[0]
            if let gb = lora.b.grad {
                // dB += scale * dy^T u   [out, rank]
                BLAS.gemm(transA: true, transB: false, m: outD, n: r, k: n, alpha: lora.scale,
                          a: dy.data, lda: outD, b: u.data, ldb: r, beta: 1, c: gb.data, ldc: r)
            }
            // du = scale * dy B   [n, rank]
            let du = Tensor(zeros: [n, r])
            BLAS.gemm(transA: false, transB: false, m: n, n: r, k: outD, alpha: lora.scale,
                      a: dy.data, lda: outD, b: lora.b.value.data, ldb: r, c: du.data, ldc: r)
            if let ga = lora.a.grad {
                // dA += du^T dropout(x)   [rank, in]
                BLAS.gemm(transA: true, transB: false, m: r, n: inD, k: n,
                          a: du.data, lda: r, b: xd.data, ldb: inD, beta: 1, c: ga.data, ldc: inD)
            }
            if let dx {
                let dxd = Tensor(zeros: [n, inD])
                BLAS.gemm(transA: false, transB: false, m: n, n: inD, k: r,
                          a: du.data, lda: r, b: lora.a.value.data, ldb: inD, c: dxd.data, ldc: inD)
                if lora.mask.isEmpty { for i in 0..<dx.count { dx.data[i] += dxd.data[i] } }
                else { for i in 0..<dx.count { dx.data[i] += dxd.data[i] * lora.mask[i] } }
            }
        }
        return dx
    }

    /// Forgets what forward kept.
    func release() { input = nil; lora?.dropped = nil; lora?.down = nil; lora?.mask = [] }
}
