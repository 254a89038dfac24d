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
    private let log: AppendLog

    public init(url: URL) throws {
        self.url = url
        log = try AppendLog(url: url)
        entries = try log.lines.enumerated().map { index, line in
            guard let entry = try? JSONDecoder().decode(JournalEntry.self, from: line) else {
                throw CurationError.badRecord(path: url.path, line: index + 1,
                                              reason: "journal line is not a journal entry; move the output folder aside to start over")
            }
            return entry
        }
    }

    public func append(_ entry: JournalEntry) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try log.append(try encoder.encode(entry))
        entries.append(entry)
    }

    /// The final entry for each key (a later entry wins over an earlier failed one).
    public func finalEntries() -> [String: JournalEntry] {
        var result: [String: JournalEntry] = [:]
        for entry in entries where entry.isFinal { result[entry.key] = entry }
        return result
    }
}
