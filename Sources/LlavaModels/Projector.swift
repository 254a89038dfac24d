// The multimodal projector: CLIP features -> language-model embeddings.
// llava-hf's LlavaMultiModalProjector (linear_1, activation, linear_2) = LLaVA-1.5's mlp2x_gelu;
// LLaVA v1's single linear layer is `.linear`.
import LlavaFormats
import LlavaTensor

public final class Projector: @unchecked Sendable {
    public let kind: ProjectorKind
    let linears: [(Tensor, Tensor?)]
    let activation: Activation?

    public init(kind: ProjectorKind, inDim: Int, outDim: Int, bias: Bool, weights: WeightStore, names: [String]) throws {
        self.kind = kind
        switch kind {
        case .linear:
            let w = try weights.tensor(names[0] + ".weight", shape: [outDim, inDim])
            let b = bias ? try weights.tensor(names[0] + ".bias", shape: [outDim]) : nil
            linears = [(w, b)]
            activation = nil
        case .mlp(let depth, let act):
            guard let a = Activation(configName: act) else { throw ConfigError.unsupported("projector activation \(act)") }
            activation = a
            var ls: [(Tensor, Tensor?)] = []
            for i in 0..<depth {
                let inD = i == 0 ? inDim : outDim
                let w = try weights.tensor(names[i] + ".weight", shape: [outDim, inD])
                let b = bias ? try weights.tensor(names[i] + ".bias", shape: [outDim]) : nil
                ls.append((w, b))
            }
            linears = ls
        }
    }

    /// From weights already loaded: one linear layer (v1) or several with `activation` between.
    public init(linears: [(Tensor, Tensor?)], activation: String?) throws {
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

    /// bf16 copies of the linears for products with a fixed row count (the bf16 vision path).
    private var bf16: (tokens: Int, matrices: [BF16Matrix])? = nil

    /// The same projector with bf16 products for `tokens` rows at a time, or nil where unavailable.
    public func bf16(tokens: Int) -> Projector? {
        let matrices = linears.compactMap { BF16Matrix($0.0, tokens: tokens) }
        guard matrices.count == linears.count,
              let p = try? Projector(linears: linears, activation: activation?.rawValue) else { return nil }
        p.bf16 = (tokens, matrices)
        return p
    }

    /// [tokens, inDim] -> [tokens, outDim]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for (i, (w, b)) in linears.enumerated() {
            if let bf16, bf16.tokens == h.flatRows { h = bf16.matrices[i].apply(h, bias: b) } else { h = Ops.linear(h, w, b) }
            if i < linears.count - 1, let a = activation { a.apply(h) }
        }
        return h
    }
}
