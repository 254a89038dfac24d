// Kernel checks against values worked out by hand or by definition.
import Foundation
import LlavaTensor
import Testing

@Suite struct OpsTests {
    @Test func linearIsXWTransposedPlusBias() {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let w = Tensor(shape: [2, 3], values: [1, 0, -1, 0.5, 0.5, 0.5])
        let b = Tensor(shape: [2], values: [10, 20])
        #expect(Ops.linear(x, w, b).scalars == [8, 23, 8, 27.5])
    }

    @Test func rmsNormAndLayerNorm() {
        let x = Tensor(shape: [1, 4], values: [1, 2, 3, 4])
        let r = Ops.rmsNorm(x, weight: Tensor(shape: [4], values: [1, 1, 1, 2]), eps: 0).scalars
        let rms = Float((30.0 / 4).squareRoot())
        #expect(abs(r[0] - 1 / rms) < 1e-6 && abs(r[3] - 8 / rms) < 1e-6)
        let l = Ops.layerNorm(x, weight: Tensor(shape: [4], values: [1, 1, 1, 1]), bias: Tensor(zeros: [4]), eps: 0).scalars
        let sd = Float(1.25.squareRoot())
        #expect(abs(l[0] + 1.5 / sd) < 1e-6 && abs(l[3] - 1.5 / sd) < 1e-6)
    }

    @Test func activationsMatchTheirDefinitions() {
        let x = Tensor(shape: [3], values: [-1, 0.5, 2])
        Activation.gelu.apply(x)
        #expect(abs(x.scalars[2] - 1.9544997) < 1e-6 && abs(x.scalars[0] + 0.15865526) < 1e-6)
        let q = Tensor(shape: [1], values: [1])
        Activation.quickGelu.apply(q)
        #expect(abs(q.scalars[0] - Float(1 / (1 + exp(-1.702)))) < 1e-6)
    }

    @Test func causalAttentionFirstRowSeesOnlyItself() {
        let q = Tensor(shape: [2, 2], values: [1, 0, 0, 1]), k = Tensor(shape: [2, 2], values: [1, 0, 0, 1])
        let v = Tensor(shape: [2, 2], values: [5, 6, 7, 8])
        let o = Attention.forward(q: q.data, k: k.data, v: v.data, n: 2, m: 2, heads: 1, kvHeads: 1, headDim: 2,
                                  scale: 1, causal: true, queryStart: 0).scalars
        #expect(o[0] == 5 && o[1] == 6)
        let e = Float(exp(1.0)), w = e / (e + 1)
        #expect(abs(o[2] - (w * 7 + (1 - w) * 5)) < 1e-5)
    }

    @Test func rotaryRotatesHalves() {
        let x = Tensor(shape: [1, 4], values: [1, 0, 0, 0])
        Ops.applyRotary(x, heads: 1, headDim: 4, startPos: 1, theta: 10000)
        #expect(abs(x.scalars[0] - Float(cos(1.0))) < 1e-6 && abs(x.scalars[2] - Float(sin(1.0))) < 1e-6)
    }
}
