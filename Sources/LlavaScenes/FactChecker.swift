// Fact-checks what a teacher wrote about a scene it only knew as captions and boxes. Because the world is
// synthetic, the claims a sentence makes about counts ("three red circles"), existence ("a blue star") and places
// ("the green square in the top left") can be read with patterns and compared with the ground truth. A sample
// with any false claim is dropped; the rate of such samples is the teacher's error rate.
import Foundation
import LlavaFormats

public struct FactVerdict: Sendable, Equatable {
    public var claims = 0
    public var errors: [String] = []
    /// Claims by type: count, exists, position.
    public var claimsByType: [String: Int] = [:]
    public var errorsByType: [String: Int] = [:]
}

public enum FactChecker {
    static let colors = ShapeColor.allCases.map(\.rawValue)
    static let shapeWords: [String: ShapeKind?] = [
        "circle": .circle, "circles": .circle, "square": .square, "squares": .square, "triangle": .triangle,
        "triangles": .triangle, "star": .star, "stars": .star, "shape": nil, "shapes": nil, "object": nil,
        "objects": nil,
    ]
    static let numbers: [String: Int] = ["no": 0, "zero": 0, "one": 1, "single": 1, "two": 2, "three": 3,
                                         "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9]
    static let positions = ["top left", "top right", "bottom left", "bottom right", "top", "bottom", "left", "right",
                            "center", "middle"]

    /// Every assistant turn of the sample, checked.
    public static func check(_ sample: InstructSample, against scene: Scene) -> FactVerdict {
        var v = FactVerdict()
        for turn in sample.conversations where turn.from == "gpt" {
            for sentence in sentences(turn.value) { checkSentence(sentence, scene, &v) }
        }
        return v
    }

    static func sentences(_ text: String) -> [[String]] {
        text.lowercased().split(whereSeparator: { ".!?;\n".contains($0) }).map { s in
            s.replacingOccurrences(of: "-", with: " ").split(whereSeparator: { !$0.isLetter && !$0.isNumber })
                .map(String.init)
        }
    }

    static func record(_ v: inout FactVerdict, _ type: String, ok: Bool, _ what: @autoclosure () -> String) {
        v.claims += 1
        v.claimsByType[type, default: 0] += 1
        if !ok { v.errors.append(what()); v.errorsByType[type, default: 0] += 1 }
    }

    static func checkSentence(_ w: [String], _ scene: Scene, _ v: inout FactVerdict) {
        let objs = scene.objects
        var i = 0
        while i < w.count {
            // A noun phrase: [number] [size] [colour] shape-word.
            guard let entry = shapeWords[w[i]] else { i += 1; continue }
            let shape = entry
            var j = i - 1
            var color: ShapeColor? = nil, size: SizeClass? = nil, count: Int? = nil, article = false
            if j >= 0, let c = ShapeColor(rawValue: w[j]) { color = c; j -= 1 }
            if j >= 0, let s = SizeClass(rawValue: w[j]) { size = s; j -= 1 }
            if color == nil, j >= 0, let c = ShapeColor(rawValue: w[j]) { color = c; j -= 1 }
            if j >= 0, let n = Int(w[j]) ?? numbers[w[j]] { count = n } else if j >= 0, ["a", "an"].contains(w[j]) {
                article = true
            }
            let plural = w[i].hasSuffix("s")
            // "one of the shapes", "each of", "other" etc. are not counts of the phrase, nor is a hypothetical
            // ("two shapes would be left").
            let partitive = j >= 1 && ["of", "other", "the", "these", "those"].contains(w[j - 1])
            let hypothetical = w[(i + 1)..<min(w.count, i + 3)].contains {
                ["would", "left", "remain", "remaining"].contains($0)
            }
            let matching = objs.filter { o in
                (shape == nil || o.shape == shape) && (color == nil || o.color == color)
                    && (size == nil || o.size == size)
            }
            let specific = shape != nil || color != nil
            if let count, !partitive, !hypothetical, plural || count <= 1 {
                record(&v, "count", ok: matching.count == count,
                       "says \(count) \(w[max(0, j + 1)...i].joined(separator: " ")), the scene has \(matching.count)")
            } else if specific && (article || color != nil) && !negated(w, before: i) {
                record(&v, "exists", ok: !matching.isEmpty,
                       "mentions \(w[max(0, j + 1)...i].joined(separator: " ")), the scene has none")
            }
            // A position right after the phrase: "... circle in the top left", "... star on the right".
            if specific, !matching.isEmpty, i + 2 < w.count, ["in", "on", "at"].contains(w[i + 1]) {
                var k = i + 2
                if k < w.count && w[k] == "the" { k += 1 }
                let rest = w[k..<min(w.count, k + 2)].joined(separator: " ")
                if let p = positions.first(where: { rest == $0 || rest.hasPrefix($0 + " ") }) {
                    let truth = p == "middle" ? "center" : p
                    let ok = matching.contains { o in
                        let pos = SceneLanguage.position(o)
                        return pos == truth || (truth.split(separator: " ").count == 1 && pos.contains(truth))
                    }
                    record(&v, "position", ok: ok,
                           "puts the \(w[i]) \(p); it is \(matching.map(SceneLanguage.position))")
                }
            }
            i += 1
        }
    }

    static func negated(_ w: [String], before i: Int) -> Bool {
        w[max(0, i - 5)..<i].contains { ["no", "not", "without", "none", "neither", "nor"].contains($0) }
    }
}

public struct FactCheckStats: Sendable {
    var samples: [String: Int] = [:]
    var wrongSamples: [String: Int] = [:]
    var claims: [String: Int] = [:]
    var wrongClaims: [String: Int] = [:]
    var examples: [String] = []
    public init() {}

    public mutating func add(_ v: FactVerdict, kind: String) {
        samples[kind, default: 0] += 1
        if !v.errors.isEmpty {
            wrongSamples[kind, default: 0] += 1
            if examples.count < 20 { examples.append("\(kind): \(v.errors[0])") }
        }
        for (t, n) in v.claimsByType { claims[t, default: 0] += n }
        for (t, n) in v.errorsByType { wrongClaims[t, default: 0] += n }
    }

    public func json() throws -> Data {
        let total = samples.values.reduce(0, +), wrong = wrongSamples.values.reduce(0, +)
        var byKind: [String: Any] = [:]
        for (k, n) in samples {
            let bad = wrongSamples[k] ?? 0
            byKind[k] = ["samples": n, "with_false_claim": bad, "error_rate": n > 0 ? Double(bad) / Double(n) : 0]
        }
        var byClaim: [String: Any] = [:]
        for (t, n) in claims { byClaim[t] = ["checked": n, "false": wrongClaims[t] ?? 0] }
        let object: [String: Any] = [
            "samples": total, "kept": total - wrong, "with_false_claim": wrong,
            "teacher_error_rate": total > 0 ? Double(wrong) / Double(total) : 0,
            "by_kind": byKind, "by_claim": byClaim, "examples": examples,
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }
}
