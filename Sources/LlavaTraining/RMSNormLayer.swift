// LlamaRMSNorm with its backward pass: y = w * x / sqrt(mean(x^2) + eps), in float32 as HF computes it.
import Foundation
import LlavaTensor

public final class RMSNormLayer: @unchecked Sendable {
    public let weight: Parameter   // [d]
    let eps: Float
    var input: Tensor? = nil       // [n, d]
    var rstd: [Float] = []         // [n]

    public init(weight: Parameter, eps: Float) { self.weight = weight; self.eps = eps }

    public func forward(_ x: Tensor) -> Tensor {
        let n = x.flatRows, d = x.columns
        let y = Tensor(zeros: x.shape)
        rstd = [Float](repeating: 0, count: n)
        let w = weight.value.data
        for r in 0..<n {
            let row = x.data + r * d, out = y.data + r * d
            var ss: Float = 0
            for j in 0..<d { ss += row[j] * row[j] }
            let s = 1 / (ss / Float(d) + eps).squareRoot()
            rstd[r] = s
            for j in 0..<d { out[j] = w[j] * (row[j] * s) }
        }
        input = x
        return y
    }

    /// dy [n, d] -> dx [n, d]; adds into the weight's gradient when it trains.
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("RMSNormLayer.backward before forward") }
        let n = x.flatRows, d = x.columns
        let dx = Tensor(zeros: x.shape)
        let w = weight.value.data
        let gw = weight.grad?.data
        for r in 0..<n {
            let row = x.data + r * d, g = dy.data + r * d, out = dx.data + r * d
            let s = rstd[r]
            // with xhat = x * s and gh = dy * w:  dx = s * (gh - xhat * mean(gh * xhat))
            var dot: Float = 0
            for j in 0..<d { dot += g[j] * w[j] * row[j] * s }
            let m = dot / Float(d)
            for j in 0..<d {
                let xhat = row[j] * s
                out[j] = s * (g[j] * w[j] - xhat * m)
                gw?[j] += g[j] * xhat
            }
        }
        return dx
    }

    func release() { input = nil; rstd = [] }
}
