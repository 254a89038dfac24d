// A POST /v1/chat/completions body, read and checked field by field: messages (string content or parts: `text`,
// `image_url`), system messages, sampling (`temperature`, `top_p`, `seed`), `max_tokens` / `max_completion_tokens`,
// `stop`, `stream`. Every wrong type is a 400 that names the field.
import Foundation
import LlavaTokenizer

public struct ChatCompletionRequest: Sendable {
    public struct Message: Sendable {
        public var role: ChatMessage.Role
        public var text: String
        public var imageURLs: [String]
    }
    public var model: String?
    public var messages: [Message]
    public var temperature: Float = 1
    public var topP: Float = 1
    public var maxTokens: Int?
    public var stop: [String] = []
    public var seed: UInt64?
    public var stream = false
    public var includeUsageInStream = false

    public static func parse(_ data: Data) throws -> ChatCompletionRequest {
        guard let any = try? JSONSerialization.jsonObject(with: data) else {
            throw APIError.invalid("the body is not valid JSON")
        }
        guard let o = any as? [String: Any] else { throw APIError.invalid("the body must be a JSON object") }
        func number(_ key: String) throws -> Double? {
            guard let v = o[key], !(v is NSNull) else { return nil }
            guard let n = v as? NSNumber else { throw APIError.invalid("\(key) must be a number", param: key) }
            return n.doubleValue
        }
        var r = ChatCompletionRequest(messages: [])
        if let m = o["model"], !(m is NSNull) {
            guard let s = m as? String else { throw APIError.invalid("model must be a string", param: "model") }
            r.model = s
        }
        guard let messages = o["messages"] as? [Any], !messages.isEmpty else {
            throw APIError.invalid("messages must be a non-empty array", param: "messages")
        }
        for (i, item) in messages.enumerated() {
            let param = "messages[\(i)]"
            guard let m = item as? [String: Any] else { throw APIError.invalid("\(param) must be an object", param: param) }
            guard let roleName = m["role"] as? String else { throw APIError.invalid("\(param).role must be a string", param: param) }
            let role: ChatMessage.Role
            switch roleName {
            case "system", "developer": role = .system
            case "user": role = .user
            case "assistant": role = .assistant
            default: throw APIError.invalid("\(param).role \"\(roleName)\" is not system, user or assistant", param: param)
            }
            var text = "", urls: [String] = []
            switch m["content"] {
            case let s as String: text = s
            case let parts as [Any]:
                var texts: [String] = []
                for (j, part) in parts.enumerated() {
                    let pp = "\(param).content[\(j)]"
                    guard let p = part as? [String: Any], let type = p["type"] as? String else {
                        throw APIError.invalid("\(pp) must be an object with a type", param: pp)
                    }
                    switch type {
                    case "text":
                        guard let t = p["text"] as? String else { throw APIError.invalid("\(pp).text must be a string", param: pp) }
                        texts.append(t)
                    case "image_url":
                        let url = (p["image_url"] as? [String: Any])?["url"] as? String ?? p["image_url"] as? String
                        guard let url else { throw APIError.invalid("\(pp).image_url.url must be a string", param: pp) }
                        guard role == .user else { throw APIError.invalid("images go in user messages (\(pp))", param: pp) }
                        urls.append(url)
                    default:
                        throw APIError.invalid("\(pp) has unsupported type \"\(type)\" (text or image_url)", param: pp)
                    }
                }
                text = texts.joined(separator: "\n")
            case nil, is NSNull:
                guard role == .assistant else { throw APIError.invalid("\(param).content is missing", param: param) }
            default:
                throw APIError.invalid("\(param).content must be a string or an array of parts", param: param)
            }
            r.messages.append(Message(role: role, text: text, imageURLs: urls))
        }
        guard r.messages.contains(where: { $0.role == .user }) else { throw APIError.invalid("messages need a user message", param: "messages") }
        if let t = try number("temperature") {
            guard t >= 0, t <= 2 else { throw APIError.invalid("temperature must be between 0 and 2", param: "temperature") }
            r.temperature = Float(t)
        }
        if let p = try number("top_p") {
            guard p > 0, p <= 1 else { throw APIError.invalid("top_p must be in (0, 1]", param: "top_p") }
            r.topP = Float(p)
        }
        for key in ["max_completion_tokens", "max_tokens"] {
            if let n = try number(key) {
                guard n >= 1, n == n.rounded(), n < 1e9 else { throw APIError.invalid("\(key) must be a positive integer", param: key) }
                r.maxTokens = Int(n)
                break
            }
        }
        if let s = try number("seed") {
            guard s == s.rounded(), abs(s) < 9e18 else { throw APIError.invalid("seed must be an integer", param: "seed") }
            r.seed = UInt64(bitPattern: Int64(s))
        }
        switch o["stop"] {
        case nil, is NSNull: break
        case let s as String: r.stop = [s]
        case let list as [Any]:
            guard let strings = list as? [String], strings.count <= 4 else { throw APIError.invalid("stop must be a string or up to 4 strings", param: "stop") }
            r.stop = strings.filter { !$0.isEmpty }
        default: throw APIError.invalid("stop must be a string or an array of strings", param: "stop")
        }
        if let s = o["stream"], !(s is NSNull) {
            guard let b = s as? Bool else { throw APIError.invalid("stream must be a boolean", param: "stream") }
            r.stream = b
        }
        if let options = o["stream_options"] as? [String: Any], let usage = options["include_usage"] as? Bool {
            r.includeUsageInStream = usage
        }
        return r
    }
}
