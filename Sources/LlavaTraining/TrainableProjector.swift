// The multimodal projector as it trains: llava-hf's LlavaMultiModalProjector (linear_1, GELU, linear_2 — LLaVA-1.5's
// mlp2x_gelu) or LLaVA v1's single linear layer, with the activation's backward pass.
import Foundation
import LlavaFormats
import LlavaTensor

public final class TrainableProjector: @unchecked Sendable {
    public let linears: [LinearLayer]
    let activation: Activation?
    var preActivation: [Tensor] = []   // input of each activation  [n, out]

    public init(linears: [LinearLayer], activation: Activation?) {
        self.linears = linears; self.activation = activation
    }

    /// features [n, visionDim * layers] -> [n, textHidden]
    public func forward(_ x: Tensor) -> Tensor {
        preActivation = []
        var h = x
        for (i, l) in linears.enumerated() {
            h = l.forward(h)
            if i < linears.count - 1, let activation {
                preActivation.append(h.copy())
                activation.apply(h)
            }
        }
        return h
    }

    /// dy [n, textHidden]; the features' own gradient is not needed (the vision tower is frozen).
    public func backward(_ dy: Tensor) {
        var g = dy
        for i in stride(from: linears.count - 1, through: 0, by: -1) {
            guard let dx = linears[i].backward(g, inputGrad: i > 0) else { return }
            if let activation, i - 1 < preActivation.count {
                Self.activationBackward(activation, x: preActivation[i - 1], grad: dx)
            }
            g = dx
        }
    }

    /// grad *= f'(x), in place.
    static func activationBackward(_ a: Activation, x: Tensor, grad: Tensor) {
        let p = x.data, g = grad.data
        for i in 0..<x.count {
            let v = Double(p[i])
            let d: Double
            switch a {
            case .gelu:      // x Phi(x):  Phi(x) + x phi(x)
                d = 0.5 * (1 + erf(v / 2.0.squareRoot())) + v * exp(-0.5 * v * v) / (2 * Double.pi).squareRoot()
            case .geluTanh, .geluNew:
                let c = (2.0 / Double.pi).squareRoot(), t = tanh(c * (v + 0.044715 * v * v * v))
                d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v)
            case .quickGelu:
                let s = 1 / (1 + exp(-1.702 * v)); d = s + 1.702 * v * s * (1 - s)
            case .silu:
                let s = 1 / (1 + exp(-v)); d = s * (1 + v * (1 - s))
            case .relu:
                d = v > 0 ? 1 : 0
            }
            g[i] = Float(Double(g[i]) * d)
        }
    }

    func release() { preActivation = []; for l in linears { l.release() } }
}
