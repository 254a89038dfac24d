// A progress bar on stderr with rate and ETA, for long jobs (curation, evaluation, training).
// On a terminal it redraws one line; in a log (not a TTY) it prints a line every 10 % or 30 s.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class ProgressBar: @unchecked Sendable {   // all state behind `lock`
    let label: String
    let unit: String
    private let lock = NSLock()
    private let start = Date()
    private var startDone: Int?   // the first count reported: work a resumed job had already done
    private var lastPrint = Date.distantPast
    private var lastDecile = -1
    private let isTTY = isatty(2) != 0

    init(label: String, unit: String = "it") {
        self.label = label; self.unit = unit
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s)s"
    }

    /// `extra` is shown after the counts (rejects, loss, tokens …).
    func update(done: Int, total: Int, extra: String = "", final: Bool = false) {
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        if startDone == nil { startDone = done }
        let startDone = self.startDone ?? 0
        let elapsed = now.timeIntervalSince(start)
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let decile = Int(fraction * 10)
        if !final {
            if isTTY { if now.timeIntervalSince(lastPrint) < 0.1 { return } }
            else if done == startDone { return }   // a log gets no "0 %" line, only progress
            else if decile == lastDecile && now.timeIntervalSince(lastPrint) < 30 { return }
        }
        lastPrint = now; lastDecile = decile
        let rate = elapsed > 0 ? Double(done - startDone) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : .infinity
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        var line = "\(label) [\(bar)] \(done)/\(total) \(Int(fraction * 100))% \(String(format: "%.2f", rate)) \(unit)/s"
        line += final ? " in \(Self.duration(elapsed))" : " ETA \(Self.duration(eta))"
        if !extra.isEmpty { line += " · \(extra)" }
        let text = isTTY ? "\r\u{1B}[K" + line + (final ? "\n" : "") : line + "\n"
        FileHandle.standardError.write(Data(text.utf8))
    }
}
