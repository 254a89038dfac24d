// Chat templates, implemented natively (no Jinja engine): recognised from a checkpoint's template
// text (HF chat_template, GGUF tokenizer.chat_template) or chosen by name.
//   llava-1.5  llava-hf's: "[system ]USER: <image>\n… {text} ASSISTANT: {reply} USER: … ASSISTANT:"
//   chatml     "<|im_start|>{role}\n{content}<|im_end|>\n" … "<|im_start|>assistant\n", with the
//              template's own default system message when it has one (SmolLM2's does)
//   vicuna     llama.cpp's built-in: "{system}\n\nUSER: {text}\nASSISTANT: {reply}</s>\n" … "ASSISTANT:"
//   llava-v1   the original LLaVA repository's conv "llava_v1" (Vicuna v1): "{system} USER: <image>\n{text}
//              ASSISTANT: {reply}</s>USER: … ASSISTANT:", with its default system sentence
//   llama2     llama.cpp's built-in (system variant): "[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{text} [/INST]"
// Images go first in a user turn, one "<image>\n" each.

public struct ChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable { case system, user, assistant }
    public var role: Role
    public var text: String
    public var images: Int

    public init(role: Role, text: String, images: Int = 0) {
        self.role = role; self.text = text; self.images = images
    }
}

public struct ChatTemplate: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case llava15 = "llava-1.5", llavaV1 = "llava-v1", chatml, vicuna, llama2 }
    public let kind: Kind
    /// Used when the conversation has no system message of its own.
    public let defaultSystem: String?

    public init(_ kind: Kind, defaultSystem: String? = nil) { self.kind = kind; self.defaultSystem = defaultSystem }

    public static let llava15 = ChatTemplate(.llava15)
    public static let llavaV1System = "A chat between a curious human and an artificial intelligence assistant. "
        + "The assistant gives helpful, detailed, and polite answers to the human's questions."
    public static var names: [String] { Kind.allCases.map(\.rawValue) }

    public init?(name: String) {
        guard let k = Kind(rawValue: name) else { return nil }
        self.init(k, defaultSystem: k == .llavaV1 ? ChatTemplate.llavaV1System : nil)
    }

    /// Recognises a Jinja template text; nil if it is not one we implement.
    public static func recognise(_ jinja: String) -> ChatTemplate? {
        if jinja.contains("<|im_start|>") {
            var system: String? = nil
            // A default system turn written into the template itself.
            let marker = "<|im_start|>system\n"
            if jinja.contains("!= 'system'") || jinja.contains("!= \"system\""),
               let start = jinja.range(of: marker), let end = jinja.range(of: "<|im_end|>", range: start.upperBound..<jinja.endIndex) {
                let text = String(jinja[start.upperBound..<end.lowerBound])
                if !text.contains("{{") && !text.contains("{%") { system = text }
            }
            return ChatTemplate(.chatml, defaultSystem: system)
        }
        if jinja.contains("[INST]") { return ChatTemplate(.llama2) }
        if jinja.contains("ASSISTANT:") && (jinja.contains("USER") || jinja.contains(".upper()")) {
            // llava-hf writes roles with .upper(); Vicuna templates end turns with </s> or eos_token.
            if jinja.contains(".upper()") || !(jinja.contains("</s>") || jinja.contains("eos_token")) { return .llava15 }
            return ChatTemplate(.vicuna)
        }
        return nil
    }

    public func render(_ input: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var messages = input
        if let s = defaultSystem, messages.first?.role != .system {
            messages.insert(ChatMessage(role: .system, text: s), at: 0)
        }
        func content(_ m: ChatMessage) -> String { String(repeating: "<image>\n", count: m.images) + m.text }
        var out = ""
        switch kind {
        case .llava15:
            for m in messages {
                if m.role != .system { out += m.role.rawValue.uppercased() + ": " }
                out += content(m) + " "
            }
            if addGenerationPrompt { out += "ASSISTANT:" }
        case .llavaV1:
            // conv_vicuna_v1.get_prompt(): system + " ", then "ROLE: msg" + (" " after users, "</s>" after replies).
            for m in messages {
                switch m.role {
                case .system: out += m.text + " "
                case .user: out += "USER: " + content(m) + " "
                case .assistant: out += "ASSISTANT: " + m.text + "</s>"
                }
            }
            if addGenerationPrompt { out += "ASSISTANT:" }
        case .chatml:
            for m in messages { out += "<|im_start|>\(m.role.rawValue)\n\(content(m))<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .vicuna:
            for m in messages {
                switch m.role {
                case .system: out += m.text + "\n\n"
                case .user: out += "USER: " + content(m) + "\n"
                case .assistant: out += "ASSISTANT: " + m.text + "</s>\n"
                }
            }
            if addGenerationPrompt { out += "ASSISTANT:" }
        case .llama2:
            var inside = true
            out += "[INST] "
            for m in messages {
                if !inside { inside = true; out += "[INST] " }
                switch m.role {
                case .system: out += "<<SYS>>\n\(m.text)\n<</SYS>>\n\n"
                case .user: out += content(m) + " [/INST]"
                case .assistant: out += m.text + "</s>"; inside = false
                }
            }
        }
        return out
    }
}
