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

    /// Pieces of at most `chunk` elements over every parameter with a gradient: (parameter index, range).
    static func chunks(_ parameters: [Parameter], chunk: Int = 1 << 16) -> [(Int, Range<Int>)] {
        var out: [(Int, Range<Int>)] = []
        for (i, p) in parameters.enumerated() where p.grad != nil {
            var start = 0
            while start < p.value.count { out.append((i, start..<min(start + chunk, p.value.count))); start += chunk }
        }
        return out
    }

    /// One update; `lr(group)` gives each parameter group's learning rate for this step. Spread over the cores
    /// in chunks (a full fine-tune updates every weight of the model each step).
    public func update(lr: (ParameterGroup) -> Float) {
        step += 1
        let b1 = settings.beta1, b2 = settings.beta2, eps = settings.eps, wd = settings.weightDecay
        let bc1 = 1 - Float(pow(Double(b1), Double(step)))
        let bc2sqrt = Float((1 - pow(Double(b2), Double(step))).squareRoot())
        let rates = parameters.map { lr($0.group) }
        let pieces = Self.chunks(parameters)
        Parallel.forEach(pieces.count) { c in
            let (i, range) = pieces[c]
            let p = parameters[i]
            guard let g = p.grad else { return }
            let rate = rates[i]
            let w = p.value.data, gm = m[i].data, gv = v[i].data, gd = g.data
            let decay: Float = p.decays ? 1 - rate * wd : 1
            let stepSize = rate / bc1
            // 16 lanes at a time (the four arrays may not be proven apart, so the compiler would not vectorise).
            typealias V = SIMD16<Float>
            var j = range.lowerBound
            while j + 16 <= range.upperBound {
                let grad = UnsafeRawPointer(gd + j).loadUnaligned(as: V.self)
                var wv = UnsafeRawPointer(w + j).loadUnaligned(as: V.self)
                var mv = UnsafeRawPointer(gm + j).loadUnaligned(as: V.self)
                var vv = UnsafeRawPointer(gv + j).loadUnaligned(as: V.self)
                wv *= decay
                mv += (grad - mv) * (1 - b1)
                vv = vv * b2 + (1 - b2) * grad * grad
                let denom = vv.squareRoot() / bc2sqrt + eps
                wv -= stepSize * mv / denom
                UnsafeMutableRawPointer(w + j).storeBytes(of: wv, as: V.self)
                UnsafeMutableRawPointer(gm + j).storeBytes(of: mv, as: V.self)
                UnsafeMutableRawPointer(gv + j).storeBytes(of: vv, as: V.self)
                j += 16
            }
            while j < range.upperBound {
                let grad = gd[j]
                w[j] *= decay
                gm[j] += (grad - gm[j]) * (1 - b1)
                gv[j] = gv[j] * b2 + (1 - b2) * grad * grad
                let denom = gv[j].squareRoot() / bc2sqrt + eps
                w[j] -= stepSize * gm[j] / denom
                j += 1
            }
        }
    }

    /// The gradients' total L2 norm; when it exceeds `maxNorm` (> 0) they are scaled down to it.
    public static func clipGradients(_ parameters: [Parameter], maxNorm: Float) -> Float {
        let pieces = chunks(parameters)
        var partial = [Double](repeating: 0, count: pieces.count)
        partial.withUnsafeMutableBufferPointer { out in
            let o = UncheckedSendable(out.baseAddress)
            Parallel.forEach(pieces.count) { c in
                let (i, range) = pieces[c]
                guard let g = parameters[i].grad?.data else { return }
                var acc = SIMD16<Float>()
                var j = range.lowerBound
                while j + 16 <= range.upperBound {
                    let x = UnsafeRawPointer(g + j).loadUnaligned(as: SIMD16<Float>.self)
                    acc += x * x
                    j += 16
                }
                var s = Double(acc.sum())
                while j < range.upperBound { s += Double(g[j] * g[j]); j += 1 }
                o.value?[c] = s
            }
        }
        let norm = Float(partial.reduce(0, +).squareRoot())
        if maxNorm > 0 {
            let coef = maxNorm / (norm + 1e-6)
            if coef < 1 {
                Parallel.forEach(pieces.count) { c in
                    let (i, range) = pieces[c]
                    guard let g = parameters[i].grad?.data else { return }
                    for j in range { g[j] *= coef }
                }
            }
        }
        return norm
    }
}
