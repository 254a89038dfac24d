// The multimodal projector: CLIP features -> language-model embeddings.
// llava-hf's LlavaMultiModalProjector (linear_1, activation, linear_2) = LLaVA-1.5's mlp2x_gelu;
// LLaVA v1's single linear layer is `.linear`.
import LlavaFormats
import LlavaTensor

public final class Projector: @unchecked Sendable {
    public let kind: ProjectorKind
    /// Weight [out, in] and bias of each linear layer: float32, or bf16 in the bf16 vision path (which keeps no
    /// float32 copy: 80 MB for LLaVA-1.5-7B's projector).
    let linears: [(WeightMatrix, Tensor?)]
    let activation: Activation?

    public init(kind: ProjectorKind, inDim: Int, outDim: Int, bias: Bool, weights: WeightStore, names: [String]) throws {
        self.kind = kind
        switch kind {
        case .linear:
            let w = try weights.tensor(names[0] + ".weight", shape: [outDim, inDim])
            let b = bias ? try weights.tensor(names[0] + ".bias", shape: [outDim]) : nil
            linears = [(.dense(w), b)]
            activation = nil
        case .mlp(let depth, let act):
            guard let a = Activation(configName: act) else { throw ConfigError.unsupported("projector activation \(act)") }
            activation = a
            var ls: [(WeightMatrix, Tensor?)] = []
            for i in 0..<depth {
                let inD = i == 0 ? inDim : outDim
                let w = try weights.tensor(names[i] + ".weight", shape: [outDim, inD])
                let b = bias ? try weights.tensor(names[i] + ".bias", shape: [outDim]) : nil
                ls.append((.dense(w), b))
            }
            linears = ls
        }
    }

    /// From weights already loaded: one linear layer (v1) or several with `activation` between.
    public convenience init(linears: [(Tensor, Tensor?)], activation: String?) throws {
        try self.init(matrices: linears.map { (.dense($0.0), $0.1) }, activation: activation)
    }

    init(matrices linears: [(WeightMatrix, Tensor?)], activation: String?) throws {
        self.linears = linears
        if let activation {
            guard let a = Activation(configName: activation) else { throw ConfigError.unsupported("projector activation \(activation)") }
            self.activation = a
            kind = .mlp(depth: linears.count, activation: activation)
        } else {
            self.activation = nil
            kind = .linear
        }
    }

    /// The same projector with bf16 products (built for `tokens` rows at a time), or nil where unavailable.
    public func bf16(tokens: Int) -> Projector? {
        let matrices = linears.compactMap { $0.0.bf16(tokens: tokens) }
        guard matrices.count == linears.count else { return nil }
        return try? Projector(matrices: zip(matrices, linears).map { ($0, $1.1) }, activation: activation?.rawValue)
    }

    /// [tokens, inDim] -> [tokens, outDim]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for (i, (w, b)) in linears.enumerated() {
            h = w.apply(h, bias: b)
            if i < linears.count - 1, let a = activation { a.apply(h) }
        }
        return h
    }
}
