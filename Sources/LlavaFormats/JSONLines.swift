// JSON Lines: reading a file of one JSON object per line (errors name the line), and an append-only log that a
// killed process can leave half a line in — the resumable jobs' journals (curation, answers, reviews) are built on it.
import Foundation

public struct JSONLinesError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let line: Int?   // nil: the file as a whole
    public let reason: String
    public init(path: String, line: Int?, reason: String) { self.path = path; self.line = line; self.reason = reason }
    public var description: String { line.map { "\(path):\($0): \(reason)" } ?? "\(path): \(reason)" }
}

public enum JSONLines {
    /// Every non-blank line as a JSON object, with its 1-based line number.
    public static func read(_ url: URL) throws -> [(line: Int, object: [String: Any])] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw JSONLinesError(path: url.path, line: nil, reason: "cannot read: \(error.localizedDescription)")
        }
        var result: [(line: Int, object: [String: Any])] = []
        for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw JSONLinesError(path: url.path, line: index + 1, reason: "not a JSON object")
            }
            result.append((index + 1, object))
        }
        return result
    }

    /// One line of JSON, keys sorted, slashes unescaped.
    public static func encodeLine(_ object: Any) throws -> Data {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// A whole file of `encodeLine` lines, written under a temporary name and renamed.
    public static func write(_ objects: [Any], to url: URL) throws {
        var data = Data()
        for o in objects { data.append(try encodeLine(o)) }
        try data.write(to: url, options: .atomic)
    }
}

/// An append-only file of lines. Opening it reads back every complete line and cuts off a last line that was being
/// written when a previous process died; each `append` is written and flushed to disk before it returns.
public final class AppendLog: @unchecked Sendable {   // used from one actor or task at a time
    public let url: URL
    public private(set) var lines: [Data]
    private let handle: FileHandle

    public init(url: URL) throws {
        self.url = url
        let fm = FileManager.default
        var complete: [Data] = []
        if fm.fileExists(atPath: url.path) {
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw JSONLinesError(path: url.path, line: nil, reason: "cannot read: \(error.localizedDescription)")
            }
            var start = data.startIndex
            while let newline = data[start...].firstIndex(of: UInt8(ascii: "\n")) {
                if newline > start { complete.append(Data(data[start..<newline])) }
                start = newline + 1
            }
            if start < data.endIndex {
                do {
                    let h = try FileHandle(forWritingTo: url)
                    try h.truncate(atOffset: UInt64(start - data.startIndex))
                    try h.close()
                } catch {
                    throw JSONLinesError(path: url.path, line: nil, reason: "cannot cut its unfinished last line: \(error.localizedDescription)")
                }
            }
        } else {
            // A new log in a folder that does not exist yet gets the folder, as curation's output folder does.
            do {
                try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            } catch {
                throw JSONLinesError(path: url.path, line: nil,
                                     reason: "cannot create its folder: \(error.localizedDescription)")
            }
            guard fm.createFile(atPath: url.path, contents: nil) else {
                throw JSONLinesError(path: url.path, line: nil, reason: "cannot create")
            }
        }
        lines = complete
        do {
            handle = try FileHandle(forWritingTo: url)
            _ = try handle.seekToEnd()
        } catch {
            throw JSONLinesError(path: url.path, line: nil, reason: "cannot open for appending: \(error.localizedDescription)")
        }
    }

    deinit { try? handle.close() }

    /// `line` must not contain a newline; one is added.
    public func append(_ line: Data) throws {
        var bytes = line
        if bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
        try handle.write(contentsOf: bytes)
        try handle.synchronize()
        lines.append(bytes.dropLast())
    }
}
