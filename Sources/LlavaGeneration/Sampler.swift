// Choosing the next token from logits: repetition penalty (CTRL / HF style: divide positive logits,
// multiply negative ones), then greedy when temperature is 0, else temperature, top-k, top-p
// (nucleus) and a seeded draw.
import Foundation

public struct SamplingOptions: Sendable, Equatable {
    public var temperature: Float = 0
    public var topK: Int = 0        // 0: off
    public var topP: Float = 1      // 1: off
    public var repeatPenalty: Float = 1
    public var seed: UInt64 = 0

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, repeatPenalty: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature; self.topK = topK; self.topP = topP
        self.repeatPenalty = repeatPenalty; self.seed = seed
    }
}

/// xoshiro256** seeded through splitmix64: the same seed gives the same draws on every platform.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }
}

public struct Sampler: Sendable {
    public let options: SamplingOptions
    var rng: SeededGenerator

    public init(options: SamplingOptions) {
        self.options = options
        rng = SeededGenerator(seed: options.seed)
    }

    public mutating func sample(_ logitsIn: UnsafeBufferPointer<Float>, previous: [Int]) -> Int {
        var logits = Array(logitsIn)
        if options.repeatPenalty != 1 {
            for id in Set(previous) where id >= 0 && id < logits.count {
                logits[id] = logits[id] > 0 ? logits[id] / options.repeatPenalty : logits[id] * options.repeatPenalty
            }
        }
        if options.temperature <= 0 {
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return best
        }
        var order = Array(logits.indices).sorted { logits[$0] > logits[$1] }
        if options.topK > 0 && options.topK < order.count { order = Array(order.prefix(options.topK)) }
        let maxL = logits[order[0]]
        var probs = order.map { Double(expf((logits[$0] - maxL) / options.temperature)) }
        let total = probs.reduce(0, +)
        probs = probs.map { $0 / total }
        if options.topP < 1 {
            var cum = 0.0, keep = 0
            for p in probs { cum += p; keep += 1; if cum >= Double(options.topP) { break } }
            order = Array(order.prefix(keep)); probs = Array(probs.prefix(keep))
            let t = probs.reduce(0, +); probs = probs.map { $0 / t }
        }
        let r = Double(rng.next() >> 11) / Double(1 << 53)
        var cum = 0.0
        for (i, p) in probs.enumerated() {
            cum += p
            if r < cum { return order[i] }
        }
        return order[order.count - 1]
    }
}
