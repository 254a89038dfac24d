// A scripted OpenAI-compatible chat server on loopback for tests: real HTTP (Hummingbird), replies decided by a
// test's handler — including the faults a real model cannot produce on demand (429 with Retry-After, 500s, slow
// replies, bodies that are not JSON). Every request is recorded.
import Foundation
import Hummingbird
import ServiceLifecycle
import Logging
import NIOCore

public struct RecordedRequest: Sendable {
    public struct Message: Sendable { public let role: String; public let content: String }
    public let model: String
    public let messages: [Message]
    public let maxTokens: Int?
    public let authorization: String?
    /// The last user message: what the request is about.
    public var key: String { messages.last(where: { $0.role == "user" })?.content ?? "" }
    public var system: String { messages.first(where: { $0.role == "system" })?.content ?? "" }
}

public indirect enum ScriptedReply: Sendable {
    case completion(String, finishReason: String = "stop", promptTokens: Int = 11, completionTokens: Int = 7)
    case status(Int, body: String = "{\"error\": {\"message\": \"scripted\"}}", retryAfter: String? = nil)
    case raw(String)                      // 200 with this body verbatim
    case delayed(Double, ScriptedReply)   // wait this many seconds, then reply
}

public actor RequestLog {
    public private(set) var requests: [(request: RecordedRequest, time: Date)] = []
    /// How many earlier requests had the same system message and the same last user message.
    func record(_ r: RecordedRequest) -> Int {
        let earlier = requests.filter { $0.request.key == r.key && $0.request.system == r.system }.count
        requests.append((r, Date()))
        return earlier
    }
    public func count(key: String) -> Int { requests.filter { $0.request.key == key }.count }
    public func keys() -> [String] { requests.map(\.request.key) }
}

public final class ScriptedChatServer: Sendable {
    public let port: Int
    public let log: RequestLog
    private let task: Task<Void, Error>
    private let group: ServiceGroup
    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// `handler` gets the request and how many earlier requests were the same (system message and key).
    public static func start(_ handler: @escaping @Sendable (RecordedRequest, Int) async -> ScriptedReply) async throws -> ScriptedChatServer {
        let log = RequestLog()
        let router = Router()
        router.post("/v1/chat/completions") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 16 << 20)
            guard let object = try? JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8)) as? [String: Any],
                  let messages = object["messages"] as? [[String: Any]] else {
                return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: "{\"error\": {\"message\": \"bad request\"}}")))
            }
            let recorded = RecordedRequest(
                model: object["model"] as? String ?? "",
                messages: messages.map { .init(role: $0["role"] as? String ?? "", content: $0["content"] as? String ?? "") },
                maxTokens: (object["max_tokens"] as? NSNumber)?.intValue,
                authorization: request.headers[.authorization])
            let earlier = await log.record(recorded)
            var reply = await handler(recorded, earlier)
            while case .delayed(let seconds, let next) = reply {
                try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                reply = next
            }
            switch reply {
            case .completion(let text, let finish, let p, let c):
                let payload: [String: Any] = [
                    "id": "chatcmpl-test", "object": "chat.completion", "model": recorded.model,
                    "choices": [["index": 0, "message": ["role": "assistant", "content": text], "finish_reason": finish]],
                    "usage": ["prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c],
                ]
                let data = try JSONSerialization.data(withJSONObject: payload)
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(bytes: data)))
            case .status(let code, let text, let retryAfter):
                var headers: HTTPFields = [.contentType: "application/json"]
                if let retryAfter { headers[.retryAfter] = retryAfter }
                return Response(status: .init(code: code), headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
            case .raw(let text):
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
            case .delayed:
                return Response(status: .internalServerError)
            }
        }
        var quietLogger = Logger(label: "scripted-chat-server")
        quietLogger.logLevel = .critical
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in
                                  continuation.yield(channel.localAddress?.port ?? 0)
                                  continuation.finish()
                              }, logger: quietLogger)
        // Stopped by a graceful shutdown, not by cancelling the task: cancelling while an accepted connection is still
        // queued traps in NIO ("Deinited NIOAsyncWriter without calling finish()", apple/swift-nio#3481).
        let group = ServiceGroup(configuration: .init(services: [app], logger: quietLogger))
        let task = Task { try await group.run() }
        var port = 0
        for await p in stream { port = p }
        return ScriptedChatServer(port: port, log: log, task: task, group: group)
    }

    init(port: Int, log: RequestLog, task: Task<Void, Error>, group: ServiceGroup) {
        self.port = port; self.log = log; self.task = task; self.group = group
    }

    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

/// A teacher that answers in LLaVA's forms from the image's first caption: prose when asked for a description,
/// Question/Answer blocks otherwise. Deterministic, so two runs give the same samples.
public func scriptedTeacherReply(_ request: RecordedRequest) -> String {
    let firstCaption = request.key.split(separator: "\n").first.map(String.init) ?? ""
    if request.system.contains("Describe the photo in detail") || request.system.contains("describe the scene in a detailed manner") {
        return "The photo shows this: \(firstCaption)"
    }
    return "Question:\nWhat does the photo show?\n===\nAnswer:\n\(firstCaption)\n===\nQuestion:\nIs it clear?\n===\nAnswer:\nYes."
}
