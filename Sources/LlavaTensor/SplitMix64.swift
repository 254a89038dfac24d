// splitmix64: a small, fast, reproducible generator — random model weights, data order, dropout masks and LoRA
// initialisation all draw from it, so the same seed gives the same bytes everywhere.
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Float { Float(next() >> 40) / Float(1 << 24) }
    /// Uniform in 0..<n.
    public mutating func next(below n: Int) -> Int { Int(next() % UInt64(n)) }
}
