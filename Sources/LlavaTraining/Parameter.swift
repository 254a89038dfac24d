// A tensor that may learn: its value (an owned float32 copy), its gradient (allocated only when it trains),
// and what the optimiser needs to know about it (weight decay or not, which learning-rate group).
// Names are the llava-hf hub names, so checkpoints, fixtures and exports agree.
import LlavaTensor

public enum ParameterGroup: String, Sendable, Codable {
    case main         // language model (full or LoRA adapters)
    case projector    // the multimodal projector, which may have its own learning rate
}

public final class Parameter: @unchecked Sendable {
    public let name: String
    public let value: Tensor
    public private(set) var grad: Tensor?
    public let group: ParameterGroup
    /// Weight decay applies (not to biases or norm weights, as HF's Trainer excludes them).
    public let decays: Bool

    public init(name: String, value: Tensor, trainable: Bool, group: ParameterGroup = .main) {
        self.name = name; self.value = value; self.group = group
        decays = !(name.hasSuffix(".bias") || name.contains("norm"))
        if trainable { grad = Tensor(zeros: value.shape) }
    }

    public var trainable: Bool { grad != nil }

    public func zeroGrad() {
        if let g = grad { g.data.update(repeating: 0, count: g.count) }
    }
}

/// Every parameter of a model, in a fixed order (the order checkpoints and the optimiser use).
public struct ParameterList: Sendable {
    public private(set) var all: [Parameter] = []
    public init() {}
    public mutating func append(_ p: Parameter) { all.append(p) }
    public var trained: [Parameter] { all.filter(\.trainable) }
    public subscript(name: String) -> Parameter? { all.first { $0.name == name } }
}
