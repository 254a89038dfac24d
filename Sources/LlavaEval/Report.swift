// LLaVA-Bench scores from review files: per category and overall, the judge's mean score for the reference and
// for the model, the relative score 100 × model / reference (LLaVA's summarize_gpt_review), the number judged and
// the number failed — failed reviews are counted, shown, and never averaged in. With several judges, their scores side
// by side and how far they agree on each question (Kendall's tau-b and mean absolute difference of the model's scores).
import Foundation

public struct CategoryScore: Sendable, Equatable, Codable {
    public var relative: Double?
    public var model: Double?
    public var reference: Double?
    public var n: Int
    public var failed: Int

    public init(relative: Double?, model: Double?, reference: Double?, n: Int, failed: Int) {
        self.relative = relative; self.model = model; self.reference = reference; self.n = n; self.failed = failed
    }

    enum CodingKeys: String, CodingKey { case relative, model, reference, n, failed }
    /// Means that do not exist are written as null, so every key is always there.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(relative, forKey: .relative)
        try c.encode(model, forKey: .model)
        try c.encode(reference, forKey: .reference)
        try c.encode(n, forKey: .n)
        try c.encode(failed, forKey: .failed)
    }
}

public struct JudgeAgreement: Sendable, Equatable, Codable {
    public var a: String, b: String
    public var n: Int
    public var kendallTau: Double?
    public var meanAbsDiff: Double?
    enum CodingKeys: String, CodingKey { case a, b, n, kendallTau = "kendall_tau", meanAbsDiff = "mean_abs_diff" }
}

public enum BenchReport {
    public static let keys = ["conversation", "detail", "complex", "all"]
    /// Published LLaVA (paper) relative scores for scale: LLaVA-Bench (COCO) overall; LLaVA-Bench (In-the-Wild).
    public static let publishedCOCO: [String: Double] = ["all": 85.1]
    public static let publishedWild: [String: Double] = ["conversation": 57.3, "detail": 52.5, "complex": 81.7, "all": 67.3]

    public static func scores(_ reviews: [Review]) -> [String: CategoryScore] {
        var result: [String: CategoryScore] = [:]
        for key in keys {
            let members = key == "all" ? reviews : reviews.filter { $0.category.rawValue == key }
            let ok = members.filter { $0.status == .ok }
            let ref = ok.compactMap(\.reference), mod = ok.compactMap(\.model)
            let refMean = ref.isEmpty ? nil : ref.reduce(0, +) / Double(ref.count)
            let modMean = mod.isEmpty ? nil : mod.reduce(0, +) / Double(mod.count)
            var relative: Double?
            if let refMean, let modMean, refMean > 0 { relative = 100 * modMean / refMean }
            result[key] = CategoryScore(relative: relative, model: modMean, reference: refMean,
                                        n: ok.count, failed: members.count - ok.count)
        }
        return result
    }

    /// Kendall's tau-b: ties in either list are allowed; nil when one list is constant.
    public static func kendallTauB(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count)
        var concordant = 0.0, discordant = 0.0, tiesX = 0.0, tiesY = 0.0
        for i in 0..<x.count {
            for j in (i + 1)..<max(i + 1, x.count) {
                let dx = x[i] - x[j], dy = y[i] - y[j]
                if dx == 0 && dy == 0 { tiesX += 1; tiesY += 1 } else if dx == 0 { tiesX += 1 } else if dy == 0 { tiesY += 1 }
                else if (dx > 0) == (dy > 0) { concordant += 1 } else { discordant += 1 }
            }
        }
        let pairs = Double(x.count * (x.count - 1) / 2)
        let denominator = ((pairs - tiesX) * (pairs - tiesY)).squareRoot()
        return denominator > 0 ? (concordant - discordant) / denominator : nil
    }

    /// Agreement of two judges on the model's per-question scores, over the questions both judged.
    public static func agreement(_ a: (name: String, reviews: [Review]), _ b: (name: String, reviews: [Review])) -> JudgeAgreement {
        var scoresB: [QuestionID: Double] = [:]
        for r in b.reviews where r.status == .ok { scoresB[r.id] = r.model }
        var x: [Double] = [], y: [Double] = []
        for r in a.reviews.sorted(by: { $0.id < $1.id }) where r.status == .ok {
            if let m = r.model, let other = scoresB[r.id] { x.append(m); y.append(other) }
        }
        let mad = x.isEmpty ? nil : zip(x, y).map { abs($0 - $1) }.reduce(0, +) / Double(x.count)
        return JudgeAgreement(a: a.name, b: b.name, n: x.count, kendallTau: x.count >= 2 ? kendallTauB(x, y) : nil, meanAbsDiff: mad)
    }

    static func fmt(_ v: Double?, _ digits: Int = 1) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "—" }

    /// A markdown table; several judges get a column group each, then their agreement.
    public static func markdown(_ judges: [(name: String, reviews: [Review])]) -> String {
        let all = judges.map { ($0.name, scores($0.reviews)) }
        var out = ""
        if all.count == 1, let (_, s) = all.first {
            out += "| category | reference | model | relative | judged | failed | LLaVA (COCO) | LLaVA (In-the-Wild) |\n"
            out += "|---|---:|---:|---:|---:|---:|---:|---:|\n"
            for key in keys {
                guard let c = s[key] else { continue }
                out += "| \(key) | \(fmt(c.reference, 2)) | \(fmt(c.model, 2)) | \(fmt(c.relative)) | \(c.n) | \(c.failed) | \(fmt(publishedCOCO[key])) | \(fmt(publishedWild[key])) |\n"
            }
        } else {
            out += "| category | " + all.map { "\($0.0): relative (judged/failed)" }.joined(separator: " | ") + " | LLaVA (COCO) | LLaVA (In-the-Wild) |\n"
            out += "|---|" + all.map { _ in "---:|" }.joined() + "---:|---:|\n"
            for key in keys {
                let cells = all.map { _, s in s[key].map { "\(fmt($0.relative)) (\($0.n)/\($0.failed))" } ?? "—" }
                out += "| \(key) | " + cells.joined(separator: " | ") + " | \(fmt(publishedCOCO[key])) | \(fmt(publishedWild[key])) |\n"
            }
            out += "\n| judges | questions both judged | Kendall's tau-b (model scores) | mean abs. difference |\n|---|---:|---:|---:|\n"
            for i in 0..<judges.count { for j in (i + 1)..<judges.count {
                let g = agreement(judges[i], judges[j])
                out += "| \(g.a) vs \(g.b) | \(g.n) | \(fmt(g.kendallTau, 3)) | \(fmt(g.meanAbsDiff, 2)) |\n"
            } }
        }
        return out
    }

    /// One judge: `{"conversation": {...}, "detail": {...}, "complex": {...}, "all": {...}}`.
    /// Several: `{"judges": {name: that object}, "agreement": [...]}`.
    public static func json(_ judges: [(name: String, reviews: [Review])]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if judges.count == 1 { return try encoder.encode(scores(judges[0].reviews)) }
        struct Many: Encodable { var judges: [String: [String: CategoryScore]]; var agreement: [JudgeAgreement] }
        var agreement: [JudgeAgreement] = []
        for i in 0..<judges.count { for j in (i + 1)..<judges.count { agreement.append(self.agreement(judges[i], judges[j])) } }
        return try encoder.encode(Many(judges: Dictionary(judges.map { ($0.name, scores($0.reviews)) }, uniquingKeysWith: { a, _ in a }),
                                       agreement: agreement))
    }
}
