// JSON Lines reading and the append-only log that survives a kill mid-line.
import Foundation
import LlavaFormats
import Testing

@Suite struct JSONLinesTests {
    func temp() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jsonl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent("log.jsonl")
    }

    @Test func readNamesTheBadLine() throws {
        let url = try temp()
        try "{\"a\": 1}\n\n  \n{\"b\": 2}\n".write(to: url, atomically: true, encoding: .utf8)
        let rows = try JSONLines.read(url)
        #expect(rows.map(\.line) == [1, 4])
        #expect((rows[1].object["b"] as? Int) == 2)
        try "{\"a\": 1}\n[1, 2]\n".write(to: url, atomically: true, encoding: .utf8)
        #expect(throws: JSONLinesError(path: url.path, line: 2, reason: "not a JSON object")) { try JSONLines.read(url) }
    }

    @Test func appendLogDropsAnUnfinishedLastLine() throws {
        let url = try temp()
        do {
            let log = try AppendLog(url: url)
            #expect(log.lines.isEmpty)
            try log.append(Data("{\"n\": 1}".utf8))
            try log.append(Data("{\"n\": 2}\n".utf8))
        }
        // A process killed while writing leaves half a line.
        let h = try FileHandle(forWritingTo: url)
        _ = try h.seekToEnd()
        try h.write(contentsOf: Data("{\"n\": 3, \"te".utf8))
        try h.close()

        let log = try AppendLog(url: url)
        #expect(log.lines.map { String(decoding: $0, as: UTF8.self) } == ["{\"n\": 1}", "{\"n\": 2}"])
        try log.append(Data("{\"n\": 3}".utf8))
        #expect(try String(contentsOf: url, encoding: .utf8) == "{\"n\": 1}\n{\"n\": 2}\n{\"n\": 3}\n")
    }

    @Test func appendLogMakesItsFolderOrNamesWhyNot() throws {
        let url = try temp().deletingLastPathComponent().appendingPathComponent("new/deeper/reviews.jsonl")
        let log = try AppendLog(url: url)
        try log.append(Data("{\"n\": 1}".utf8))
        #expect(try String(contentsOf: url, encoding: .utf8) == "{\"n\": 1}\n")
        // A regular file where the folder should be: a typed error naming the log, not a trap.
        let blocked = try temp()
        try Data().write(to: blocked)
        let inside = blocked.appendingPathComponent("reviews.jsonl")
        #expect {
            try AppendLog(url: inside)
        } throws: { error in
            (error as? JSONLinesError)?.path == inside.path
                && "\(error)".contains("cannot create its folder")
        }
    }
}
