// The journal that makes curation resumable: one JSON line per finished request, appended and flushed before the
// next result is taken. A rerun reads it back, skips every image × kind already answered (accepted or rejected), and
// sends requests only for the rest. A line cut short by a kill is dropped and the file truncated to the last whole line.
import Foundation
import LlavaFormats

public struct JournalEntry: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case ok, rejected, failed }
    public var kind: CurationKind
    public var id: String
    public var status: Status
    public var sample: InstructSample?
    public var reason: String?
    public var reply: String?
    public var attempts: Int
    public var promptTokens: Int
    public var completionTokens: Int

    public var key: String { "\(kind.rawValue)/\(id)" }
    /// Accepted and rejected replies are final; a failed request is tried again on the next run.
    public var isFinal: Bool { status != .failed }
}

public actor CurationJournal {
    public let url: URL
    public private(set) var entries: [JournalEntry]
    private let handle: FileHandle

    public init(url: URL) throws {
        self.url = url
        let fm = FileManager.default
        var kept: [JournalEntry] = []
        if fm.fileExists(atPath: url.path) {
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw CurationError.unreadable(path: url.path, reason: error.localizedDescription)
            }
            var goodLength = 0
            var lineNumber = 0
            var start = data.startIndex
            while let newline = data[start...].firstIndex(of: UInt8(ascii: "\n")) {
                lineNumber += 1
                let line = data[start..<newline]
                if !line.isEmpty {
                    guard let entry = try? JSONDecoder().decode(JournalEntry.self, from: line) else {
                        throw CurationError.badRecord(path: url.path, line: lineNumber,
                                                      reason: "journal line is not a journal entry; move the output folder aside to start over")
                    }
                    kept.append(entry)
                }
                start = newline + 1
                goodLength = start - data.startIndex
            }
            if goodLength < data.count {   // the tail after the last newline was being written when the run died
                let h = try FileHandle(forWritingTo: url)
                try h.truncate(atOffset: UInt64(goodLength))
                try h.close()
            }
        } else {
            guard fm.createFile(atPath: url.path, contents: nil) else {
                throw CurationError.unreadable(path: url.path, reason: "cannot create the journal")
            }
        }
        entries = kept
        do { handle = try FileHandle(forWritingTo: url) } catch {
            throw CurationError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        _ = try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    public func append(_ entry: JournalEntry) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try encoder.encode(entry)
        line.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: line)
        try handle.synchronize()
        entries.append(entry)
    }

    /// The final entry for each key (a later entry wins over an earlier failed one).
    public func finalEntries() -> [String: JournalEntry] {
        var result: [String: JournalEntry] = [:]
        for entry in entries where entry.isFinal { result[entry.key] = entry }
        return result
    }
}
