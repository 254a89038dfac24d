// LlamaMLP: down(silu(gate(x)) * up(x)), with its backward pass.
import Foundation
import LlavaTensor

public final class SwiGLUMLP: @unchecked Sendable {
    public let gate: LinearLayer, up: LinearLayer, down: LinearLayer
    var g: Tensor? = nil   // gate(x)  [n, ffn]
    var u: Tensor? = nil   // up(x)    [n, ffn]

    public init(gate: LinearLayer, up: LinearLayer, down: LinearLayer) { self.gate = gate; self.up = up; self.down = down }

    public func forward(_ x: Tensor, training: Bool = true) -> Tensor {
        let gs = gate.forward(x, training: training), us = up.forward(x, training: training)
        let a = Tensor(zeros: gs.shape)
        for i in 0..<a.count { let z = gs.data[i]; a.data[i] = z / (1 + expf(-z)) * us.data[i] }
        g = gs; u = us
        return down.forward(a, training: training)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let gs = g, let us = u, let da = down.backward(dy) else { preconditionFailure("mlp backward before forward") }
        let dg = Tensor(zeros: gs.shape), du = Tensor(zeros: us.shape)
        for i in 0..<da.count {
            let z = gs.data[i], s = 1 / (1 + expf(-z))
            du.data[i] = da.data[i] * z * s
            // d silu(z) / dz = s * (1 + z * (1 - s))
            dg.data[i] = da.data[i] * us.data[i] * s * (1 + z * (1 - s))
        }
        guard let dx = gate.backward(dg), let dxu = up.backward(du) else { preconditionFailure("mlp projections give no input gradient") }
        for i in 0..<dx.count { dx.data[i] += dxu.data[i] }
        return dx
    }

    func release() { g = nil; u = nil; for l in [gate, up, down] { l.release() } }
}
