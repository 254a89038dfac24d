// LLaVA-Instruct data: a JSON array of {"id", "image", "conversations": [{"from": "human"|"gpt", "value"}]},
// the format of LLaVA's llava_instruct_150k.json and blip_laion_cc_sbu_558k.json. Written by curation, read by training.
import Foundation

public struct InstructSample: Codable, Sendable, Equatable, Hashable {
    public struct Turn: Codable, Sendable, Equatable, Hashable {
        public var from: String   // "human" or "gpt"
        public var value: String
        public init(from: String, value: String) { self.from = from; self.value = value }
    }
    public var id: String
    public var image: String?
    public var conversations: [Turn]

    public init(id: String, image: String?, conversations: [Turn]) {
        self.id = id; self.image = image; self.conversations = conversations
    }

    public static let imageMarker = "<image>"

    enum CodingKeys: String, CodingKey { case id, image, conversations }

    /// Some published files spell the id as a number; it is read as its decimal text.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let n = try? c.decode(Int.self, forKey: .id) { id = String(n) } else { id = try c.decode(String.self, forKey: .id) }
        image = try c.decodeIfPresent(String.self, forKey: .image)
        conversations = try c.decode([Turn].self, forKey: .conversations)
    }

    /// Pretty-printed with sorted keys, so the same samples always give the same bytes.
    public static func encode(_ samples: [InstructSample]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(samples)
    }

    public static func decode(_ data: Data, path: String) throws -> [InstructSample] {
        do { return try JSONDecoder().decode([InstructSample].self, from: data) } catch {
            throw InstructDataError(path: path, reason: "not LLaVA-Instruct JSON (an array of {id, image, conversations}): \(error)")
        }
    }
}

public struct InstructDataError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}
