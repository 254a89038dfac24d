// Chat templates, implemented natively (no Jinja): recognised from the checkpoint's template text.
// llava-1.5 (llava-hf's chat_template): "[system ]USER: <image>\n… {text} ASSISTANT: {reply} USER: … ASSISTANT:".

public struct ChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable { case system, user, assistant }
    public var role: Role
    public var text: String
    public var images: Int

    public init(role: Role, text: String, images: Int = 0) {
        self.role = role; self.text = text; self.images = images
    }
}

public enum ChatTemplate: String, Sendable, CaseIterable {
    case llava15 = "llava-1.5"

    /// Recognises a Jinja template text; nil if it is not one we implement.
    public static func recognise(_ jinja: String) -> ChatTemplate? {
        if jinja.contains("ASSISTANT:") && (jinja.contains("USER") || jinja.contains(".upper()")) { return .llava15 }
        return nil
    }

    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        switch self {
        case .llava15:
            for m in messages {
                if m.role != .system { out += m.role.rawValue.uppercased() + ": " }
                out += String(repeating: "<image>\n", count: m.images)
                out += m.text + " "
            }
            if addGenerationPrompt { out += "ASSISTANT:" }
        }
        return out
    }
}
