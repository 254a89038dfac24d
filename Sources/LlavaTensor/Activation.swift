// Activation functions by the names HF configs use (`hidden_act`, `projector_hidden_act`).
import CKernels
import Foundation

public enum Activation: String, Sendable, Codable, CaseIterable {
    case gelu                       // exact: x * Phi(x), via erf
    case geluTanh = "gelu_pytorch_tanh"
    case geluNew = "gelu_new"       // the tanh approximation under another name
    case quickGelu = "quick_gelu"   // x * sigmoid(1.702 x), CLIP's original
    case silu
    case relu

    public init?(configName: String) {
        switch configName {
        case "gelu": self = .gelu
        case "gelu_pytorch_tanh", "gelu_fast", "gelu_tanh": self = .geluTanh
        case "gelu_new": self = .geluNew
        case "quick_gelu": self = .quickGelu
        case "silu", "swish": self = .silu
        case "relu": self = .relu
        default: return nil
        }
    }

    public func apply(_ x: Tensor) {
        let p = x.data
        let n = x.count
        switch self {
        case .gelu:
            for i in 0..<n { let v = p[i]; p[i] = Float(0.5 * Double(v) * (1 + erf(Double(v) / 2.0.squareRoot()))) }
        case .geluTanh, .geluNew:
            let c = (2.0 / Double.pi).squareRoot()
            for i in 0..<n {
                let v = Double(p[i])
                p[i] = Float(0.5 * v * (1 + tanh(c * (v + 0.044715 * v * v * v))))
            }
        case .quickGelu:
            llava_quick_gelu(p, n)
        case .silu:
            for i in 0..<n { let v = p[i]; p[i] = v / (1 + expf(-v)) }
        case .relu:
            for i in 0..<n where p[i] < 0 { p[i] = 0 }
        }
    }
}
