// LlamaDecoderLayer: x + attn(norm1(x)), then h + mlp(norm2(h)); backward in the reverse order.
import LlavaTensor

public final class DecoderLayer: @unchecked Sendable {
    public let inputNorm: RMSNormLayer, attention: CausalSelfAttention
    public let postNorm: RMSNormLayer, mlp: SwiGLUMLP

    public init(inputNorm: RMSNormLayer, attention: CausalSelfAttention, postNorm: RMSNormLayer, mlp: SwiGLUMLP) {
        self.inputNorm = inputNorm; self.attention = attention; self.postNorm = postNorm; self.mlp = mlp
    }

    /// [n, hidden] -> [n, hidden]
    public func forward(_ x: Tensor, rope: RotaryTable, training: Bool = true) -> Tensor {
        let a = attention.forward(inputNorm.forward(x), rope: rope, training: training)
        let h = Tensor(zeros: x.shape)
        for i in 0..<h.count { h.data[i] = x.data[i] + a.data[i] }
        let m = mlp.forward(postNorm.forward(h), training: training)
        for i in 0..<m.count { m.data[i] += h.data[i] }
        return m
    }

    public func backward(_ dy: Tensor, rope: RotaryTable) -> Tensor {
        let dh = postNorm.backward(mlp.backward(dy))
        for i in 0..<dh.count { dh.data[i] += dy.data[i] }
        let dx = inputNorm.backward(attention.backward(dh, rope: rope))
        for i in 0..<dx.count { dx.data[i] += dh.data[i] }
        return dx
    }

    /// The seven projections, in the order LoRA targets are named (q, k, v, o, gate, up, down).
    var projections: [LinearLayer] {
        [attention.q, attention.k, attention.v, attention.o, mlp.gate, mlp.up, mlp.down]
    }

    func release() { inputNorm.release(); attention.release(); postNorm.release(); mlp.release() }
}
