// Locates the committed fixtures (Tests/Fixtures) from this source file.
import Foundation

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let llavaHF = root.appendingPathComponent("llava-hf")
    static func path(_ rel: String) -> String { llavaHF.appendingPathComponent(rel).path }
    static let models = ["tiny-gqa-crop", "tiny-mha-pad-full", "tiny-bf16-sharded"]
}

func maxAbsDiff(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
    precondition(a.count == b.count, "sizes \(a.count) vs \(b.count)")
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a[i] - b[i])) }
    return m
}
