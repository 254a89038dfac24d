// The loss curve as a standalone SVG (no plotting library): loss per step, a moving average over it,
// axes with round ticks, and stage boundaries when several runs are drawn together.
import Foundation

public enum LossCurve {
    public struct Series: Sendable {
        public var label: String
        public var points: [(step: Int, loss: Double)]
        public init(label: String, points: [(step: Int, loss: Double)]) { self.label = label; self.points = points }
    }

    static func niceStep(_ span: Double, ticks: Int) -> Double {
        let raw = max(span, 1e-12) / Double(ticks)
        let mag = pow(10, floor(log10(raw)))
        for m in [1.0, 2.0, 2.5, 5.0, 10.0] where raw <= m * mag { return m * mag }
        return 10 * mag
    }

    static func fmt(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
        return String(format: abs(v) >= 10 ? "%.0f" : (abs(v) >= 1 ? "%.1f" : "%.2f"), v)
    }

    /// Series drawn one after another along the step axis (stage 1 then stage 2), each in its own colour.
    public static func svg(_ series: [Series], title: String, width: Int = 720, height: Int = 360) -> String {
        let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
        let left = 60.0, right = 20.0, top = 36.0, bottom = 44.0
        let w = Double(width) - left - right, h = Double(height) - top - bottom
        // Steps of later series continue after earlier ones.
        var placed: [(Series, [(Double, Double)])] = []
        var offset = 0
        for s in series {
            placed.append((s, s.points.map { (Double(offset + $0.step), $0.loss) }))
            offset += s.points.map(\.step).max() ?? 0
        }
        let all = placed.flatMap(\.1).filter { $0.1.isFinite }
        let xMax = max(1, all.map(\.0).max() ?? 1)
        var yMin = all.map(\.1).min() ?? 0, yMax = all.map(\.1).max() ?? 1
        if yMax - yMin < 1e-9 { yMin -= 0.5; yMax += 0.5 }
        let yStep = niceStep(yMax - yMin, ticks: 5)
        yMin = floor(yMin / yStep) * yStep; yMax = ceil(yMax / yStep) * yStep
        let xStep = niceStep(xMax, ticks: 8)
        func X(_ v: Double) -> Double { left + v / xMax * w }
        func Y(_ v: Double) -> Double { top + (yMax - v) / (yMax - yMin) * h }
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="20" text-anchor="middle" font-size="14">\(escape(title))</text>

        """
        var y = yMin
        while y <= yMax + yStep / 2 {
            out += "<line x1=\"\(left)\" y1=\"\(Y(y))\" x2=\"\(left + w)\" y2=\"\(Y(y))\" stroke=\"#e5e5e5\"/>"
            out += "<text x=\"\(left - 6)\" y=\"\(Y(y) + 4)\" text-anchor=\"end\">\(fmt(y))</text>\n"
            y += yStep
        }
        var x = 0.0
        while x <= xMax + xStep / 2 {
            out += "<line x1=\"\(X(x))\" y1=\"\(top + h)\" x2=\"\(X(x))\" y2=\"\(top + h + 4)\" stroke=\"black\"/>"
            out += "<text x=\"\(X(x))\" y=\"\(top + h + 18)\" text-anchor=\"middle\">\(fmt(x))</text>\n"
            x += xStep
        }
        out += "<line x1=\"\(left)\" y1=\"\(top + h)\" x2=\"\(left + w)\" y2=\"\(top + h)\" stroke=\"black\"/>"
        out += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + h)\" stroke=\"black\"/>\n"
        out += "<text x=\"\(left + w / 2)\" y=\"\(height - 8)\" text-anchor=\"middle\">step</text>"
        out += "<text x=\"14\" y=\"\(top + h / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(top + h / 2))\">loss</text>\n"
        for (i, (s, pts)) in placed.enumerated() {
            let c = colours[i % colours.count]
            let finite = pts.filter { $0.1.isFinite }
            guard !finite.isEmpty else { continue }
            // Long runs: raw losses faint, a trailing mean over 2 % of the steps bold. Short runs: the losses themselves.
            let k = finite.count >= 100 ? finite.count / 50 : 1
            if k > 1 {
                out += "<polyline fill=\"none\" stroke=\"\(c)\" stroke-opacity=\"0.3\" stroke-width=\"1\" points=\"\(finite.map { "\(X($0.0)),\(Y($0.1))" }.joined(separator: " "))\"/>\n"
            }
            var smooth: [(Double, Double)] = []
            for j in finite.indices {
                let lo = max(0, j - k + 1)
                let mean = finite[lo...j].map(\.1).reduce(0, +) / Double(j - lo + 1)
                smooth.append((finite[j].0, mean))
            }
            out += "<polyline fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\" points=\"\(smooth.map { "\(X($0.0)),\(Y($0.1))" }.joined(separator: " "))\"/>\n"
            out += "<text x=\"\(left + w - 4)\" y=\"\(top + 16 + Double(i) * 16)\" text-anchor=\"end\" fill=\"\(c)\">\(escape(s.label))</text>\n"
        }
        out += "</svg>\n"
        return out
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
