// AdamW as torch.optim.AdamW computes it (decoupled weight decay first, bias-corrected moments,
// eps added after the square root), with gradient-norm clipping as torch.nn.utils.clip_grad_norm_.
import Foundation
import LlavaTensor

public struct AdamWSettings: Sendable, Codable, Equatable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    public var weightDecay: Float = 0
    public init(weightDecay: Float = 0) { self.weightDecay = weightDecay }
}

public final class AdamW: @unchecked Sendable {
    public let settings: AdamWSettings
    public let parameters: [Parameter]
    /// First and second moments, one pair per parameter, in `parameters` order.
    public let m: [Tensor]
    public let v: [Tensor]
    public private(set) var step = 0

    public init(parameters: [Parameter], settings: AdamWSettings) {
        self.parameters = parameters; self.settings = settings
        m = parameters.map { Tensor(zeros: $0.value.shape) }
        v = parameters.map { Tensor(zeros: $0.value.shape) }
    }

    /// Restores a checkpoint's step count (the moments are loaded into `m` and `v` in place).
    public func restore(step: Int) { self.step = step }

    /// One update; `lr(group)` gives each parameter group's learning rate for this step.
    public func update(lr: (ParameterGroup) -> Float) {
        step += 1
        let b1 = settings.beta1, b2 = settings.beta2
        let bc1 = 1 - Float(pow(Double(b1), Double(step)))
        let bc2sqrt = Float((1 - pow(Double(b2), Double(step))).squareRoot())
        for (i, p) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            let rate = lr(p.group)
            let w = p.value.data, gm = m[i].data, gv = v[i].data, gd = g.data
            let decay: Float = p.decays ? 1 - rate * settings.weightDecay : 1
            let stepSize = rate / bc1
            for j in 0..<p.value.count {
                w[j] *= decay
                gm[j] += (gd[j] - gm[j]) * (1 - b1)
                gv[j] = gv[j] * b2 + (1 - b2) * gd[j] * gd[j]
                let denom = gv[j].squareRoot() / bc2sqrt + settings.eps
                w[j] -= stepSize * gm[j] / denom
            }
        }
    }

    /// The gradients' total L2 norm; when it exceeds `maxNorm` (> 0) they are scaled down to it.
    public static func clipGradients(_ parameters: [Parameter], maxNorm: Float) -> Float {
        var total = 0.0
        for p in parameters {
            guard let g = p.grad else { continue }
            var s = 0.0
            for j in 0..<g.count { s += Double(g.data[j]) * Double(g.data[j]) }
            total += s
        }
        let norm = Float(total.squareRoot())
        if maxNorm > 0 {
            let coef = maxNorm / (norm + 1e-6)
            if coef < 1 {
                for p in parameters { if let g = p.grad { for j in 0..<g.count { g.data[j] *= coef } } }
            }
        }
        return norm
    }
}
