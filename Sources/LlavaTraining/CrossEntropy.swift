// Cross-entropy over the vocabulary with LLaVA's ignore index (-100): the sum of -log softmax(logits)[label]
// over the labelled rows, and the gradient of `scale` times that sum with respect to the logits.
import Foundation
import LlavaTensor

public enum CrossEntropy {
    public static let ignoreIndex = -100

    /// logits [n, vocab], one label per row. Returns the summed loss; overwrites logits with d(scale * loss)/d(logits).
    public static func lossAndGradient(logits: Tensor, labels: [Int], scale: Float) -> Double {
        let n = logits.flatRows, v = logits.columns
        precondition(labels.count == n, "one label per row")
        var total = 0.0
        for r in 0..<n {
            let row = logits.data + r * v
            var mx = -Float.infinity
            for j in 0..<v { mx = max(mx, row[j]) }
            let label = labels[r]
            let shifted = Double(row[label] - mx)
            var sum = 0.0
            for j in 0..<v { let e = expf(row[j] - mx); row[j] = e; sum += Double(e) }
            let inv = Float(1 / sum)
            total += log(sum) - shifted
            for j in 0..<v { row[j] *= inv * scale }
            row[label] -= scale
        }
        return total
    }
}
