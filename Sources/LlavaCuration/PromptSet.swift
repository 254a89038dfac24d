// The three kinds of instruction data and the prompts that ask a text-only teacher for them.
// The built-in system messages and few-shot examples are swift-llava's own; `load(folder:)` reads a folder in the
// original LLaVA release's layout (system_message.txt, NNN_caps.txt, NNN_conv.txt) so its prompts can be used instead.
import Foundation

public enum CurationKind: String, CaseIterable, Sendable, Codable {
    case conversation, detail, complex

    /// Subfolder name in the original release's prompt layout.
    public var folderName: String {
        switch self {
        case .conversation: return "conversation"
        case .detail: return "detail_description"
        case .complex: return "complex_reasoning"
        }
    }
    /// Conversations are written from captions alone; descriptions and reasoning also see the boxes.
    public var usesBoxes: Bool { self != .conversation }
    public var outputFileName: String { "\(rawValue).json" }
}

public struct ChatMessage: Codable, Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

public struct PromptSet: Sendable, Equatable {
    public struct Example: Sendable, Equatable {
        public var context: String
        public var response: String
    }
    public var system: String
    public var examples: [Example]

    public init(system: String, examples: [Example]) { self.system = system; self.examples = examples }

    /// System message, then each example as a user turn (its context) and an assistant turn (its response),
    /// then the image's context as the last user turn.
    public func messages(context: String) -> [ChatMessage] {
        var messages = [ChatMessage(role: "system", content: system)]
        for example in examples {
            messages.append(ChatMessage(role: "user", content: example.context))
            messages.append(ChatMessage(role: "assistant", content: example.response))
        }
        messages.append(ChatMessage(role: "user", content: context))
        return messages
    }

    /// A folder with `system_message.txt` and pairs `NNN_caps.txt` / `NNN_conv.txt`, examples in file-name order.
    public static func load(folder: URL) throws -> PromptSet {
        func read(_ url: URL) throws -> String {
            guard let data = try? Data(contentsOf: url) else {
                throw CurationError.badPromptFolder(path: folder.path, reason: "cannot read \(url.lastPathComponent)")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw CurationError.badPromptFolder(path: folder.path, reason: "\(url.lastPathComponent) is not UTF-8")
            }
            return text
        }
        let system = try read(folder.appendingPathComponent("system_message.txt"))
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder.path) } catch {
            throw CurationError.badPromptFolder(path: folder.path, reason: "not a readable folder")
        }
        let capsNames = names.filter { $0.hasSuffix("_caps.txt") }.sorted()
        var examples: [Example] = []
        for caps in capsNames {
            let stem = String(caps.dropLast("_caps.txt".count))
            let conv = "\(stem)_conv.txt"
            guard names.contains(conv) else {
                throw CurationError.badPromptFolder(path: folder.path, reason: "\(caps) has no matching \(conv)")
            }
            examples.append(Example(context: try read(folder.appendingPathComponent(caps)),
                                    response: try read(folder.appendingPathComponent(conv))))
        }
        if system.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw CurationError.badPromptFolder(path: folder.path, reason: "system_message.txt is empty")
        }
        return PromptSet(system: system, examples: examples)
    }

    /// A folder holding `conversation/`, `detail_description/` and `complex_reasoning/`; only the kinds asked for are read.
    public static func load(root: URL, kinds: [CurationKind]) throws -> [CurationKind: PromptSet] {
        var sets: [CurationKind: PromptSet] = [:]
        for kind in kinds { sets[kind] = try load(folder: root.appendingPathComponent(kind.folderName)) }
        return sets
    }

    public static func builtIn(_ kind: CurationKind) -> PromptSet {
        switch kind {
        case .conversation: return BuiltInPrompts.conversation
        case .detail: return BuiltInPrompts.detail
        case .complex: return BuiltInPrompts.complex
        }
    }
}
