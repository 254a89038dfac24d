// Turns generated token ids into text as they arrive, holding back bytes until they form whole
// UTF-8 characters (byte-fallback tokens split characters), and watching for stop strings.

public struct TextStreamer: Sendable {
    var pending: [UInt8] = []
    public private(set) var text = ""
    var first = true
    let stripLeadingSpace: Bool

    public init(stripLeadingSpace: Bool) { self.stripLeadingSpace = stripLeadingSpace }

    /// Adds one token's bytes; returns the newly completed text.
    public mutating func push(_ bytes: [UInt8]) -> String {
        pending.append(contentsOf: bytes)
        if first && stripLeadingSpace && !pending.isEmpty {
            if pending[0] == 0x20 { pending.removeFirst() }
            first = false
        }
        // Longest prefix that is complete UTF-8.
        var end = pending.count
        var back = 0
        while back < min(4, pending.count) {
            let b = pending[pending.count - 1 - back]
            if b & 0xC0 != 0x80 {
                let need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
                if need > back + 1 { end = pending.count - 1 - back }
                break
            }
            back += 1
        }
        let out = String(decoding: pending[0..<end], as: UTF8.self)
        pending.removeFirst(end)
        text += out
        return out
    }

    public mutating func flush() -> String {
        let out = String(decoding: pending, as: UTF8.self)
        pending.removeAll()
        text += out
        return out
    }
}
