// Rotary position embedding (HF LlamaRotaryEmbedding, rotate_half layout) as a table of cos/sin per position,
// applied forward, and backward as the inverse rotation (a rotation's transpose).
import Foundation
import LlavaTensor

public struct RotaryTable: Sendable {
    let half: Int
    let cos: [Float]   // [positions, half]
    let sin: [Float]

    public init(positions: Int, headDim: Int, theta: Float) {
        half = headDim / 2
        let inv = Ops.ropeInverseFrequencies(headDim: headDim, theta: theta)
        var c = [Float](repeating: 0, count: positions * half), s = c
        for p in 0..<positions {
            for i in 0..<half {
                let angle = Float(p) * inv[i]   // float32 product, as HF computes it
                c[p * half + i] = Float(Foundation.cos(Double(angle)))
                s[p * half + i] = Float(Foundation.sin(Double(angle)))
            }
        }
        cos = c; sin = s
    }

    /// In place on x [n, heads * headDim] (token t at position t); `inverse` rotates back (the backward pass).
    public func apply(_ x: Tensor, heads: Int, inverse: Bool = false) {
        let n = x.flatRows, hd = half * 2
        let sign: Float = inverse ? -1 : 1
        for t in 0..<n {
            let row = x.data + t * heads * hd
            let cp = t * half
            for h in 0..<heads {
                let v = row + h * hd
                for i in 0..<half {
                    let a = v[i], b = v[i + half], c = cos[cp + i], s = sign * sin[cp + i]
                    v[i] = a * c - b * s
                    v[i + half] = b * c + a * s
                }
            }
        }
    }
}
