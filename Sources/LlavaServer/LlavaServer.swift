// `llava serve`: the OpenAI-compatible HTTP API (chat completions with images, streaming, models, health) and the
// web chat page, on Hummingbird. Each request is checked, its images decoded and its prompt tokenized before it takes
// a slot; generation runs on the slot's own thread, never on the server's event loops or the cooperative pool.
import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import LlavaGeneration
import LlavaModels
import LlavaTokenizer
import LlavaVision
import Logging
import NIOCore

public struct ServerOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var apiKey: String?
    public var parallel = 1
    public var queueLimit = 16
    public var contextSize = 4096
    public var maxBodyBytes = 32 << 20
    public var allowRemoteImages = false
    /// The most pixels an uploaded image may declare (a tiny PNG can declare gigabytes of them).
    public var maxImagePixels = ImageDecoder.defaultMaxPixels
    public var modelName = "llava"
    public init() {}
}

/// Set from one side (a client gone), read by the generation loop before every token.
final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// A value computed on a slot's queue and read by the request's task once the continuation resumes. The lock
/// is what orders the write before the read for ThreadSanitizer, which does not see the ordering the concurrency
/// runtime gives a continuation on Linux (swiftlang/swift#57803).
final class Handoff<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value?
    func put(_ v: Value) { lock.lock(); stored = v; lock.unlock() }
    func take() -> Value? { lock.lock(); defer { lock.unlock() }; return stored }
}

public final class LlavaServer: Sendable {
    public let model: LlavaModel
    public let options: ServerOptions
    public let pool: SlotPool
    let http: HTTPClient?
    let created = Int(Date().timeIntervalSince1970)

    public init(model: LlavaModel, options: ServerOptions) {
        self.model = model
        self.options = options
        let context = max(2, min(options.contextSize, model.language.config.maxPositions))
        pool = SlotPool(model: model, parallel: max(1, options.parallel), queueLimit: max(0, options.queueLimit), contextSize: context)
        http = options.allowRemoteImages ? HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup) : nil
    }

    var contextSize: Int { max(2, min(options.contextSize, model.language.config.maxPositions)) }

    public func shutdown() async { try? await http?.shutdown() }

    /// The Hummingbird application; `onServerRunning` gets the bound port (useful with port 0).
    public func application(logger: Logger? = nil, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router(context: ConnectionContext.self)
        router.get("/health") { _, _ in
            let s = await self.pool.stats()
            return jsonResponse(["status": "ok", "model": self.options.modelName, "slots_idle": s.idle, "slots_busy": s.busy,
                                 "queued": s.queued, "served": s.served, "cancelled": s.cancelled, "rejected": s.rejected])
        }
        router.get("/v1/models") { request, _ in
            if let denied = self.unauthorised(request) { return denied.response }
            return jsonResponse(["object": "list", "data": [["id": self.options.modelName, "object": "model",
                                                             "created": self.created, "owned_by": "swift-llava"]]])
        }
        router.post("/v1/chat/completions") { request, context in
            do { return try await self.chatCompletions(request, connection: context.channel) } catch let error as APIError {
                return error.response
            }
        }
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                     body: .init(byteBuffer: ByteBuffer(string: WebChatPage.html(modelName: self.options.modelName))))
        }
        var quiet = Logger(label: "llava-serve")
        quiet.logLevel = .warning
        // Each connection gets its own ClientGoneHandler (the closure runs once per connection).
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [ClientGoneHandler()])
        return Application(router: router, server: .http1(configuration: http1),
                           configuration: .init(address: .hostname(options.host, port: options.port),
                                                serverName: "swift-llava"),
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
                           logger: logger ?? quiet)
    }

    func unauthorised(_ request: Request) -> APIError? {
        guard let key = options.apiKey, !key.isEmpty else { return nil }
        guard request.headers[.authorization] == "Bearer \(key)" else {
            return APIError(status: 401, message: "missing or wrong API key (Authorization: Bearer …)", code: "invalid_api_key")
        }
        return nil
    }

    func chatCompletions(_ request: Request, connection: (any Channel)? = nil) async throws -> Response {
        if let denied = unauthorised(request) { throw denied }
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: options.maxBodyBytes) } catch is NIOTooManyBytesError {
            throw APIError(status: 413, message: "the request body is over \(options.maxBodyBytes) bytes", code: "request_too_large")
        }
        let req = try ChatCompletionRequest.parse(Data(body.readableBytesView))
        if let name = req.model, !name.isEmpty, name != options.modelName {
            // OpenAI answers a model it does not have with 404 and code model_not_found.
            throw APIError(status: 404, message: "model \"\(name)\" is not served here; this server has "
                           + "\"\(options.modelName)\"", param: "model", code: "model_not_found")
        }
        let urls = req.messages.flatMap(\.imageURLs)
        if !urls.isEmpty && model.vision == nil { throw APIError.invalid("this model has no vision part; it takes text only", param: "messages") }
        var images: [ChatSession.Image] = []
        for (i, url) in urls.enumerated() {
            images.append(try await ImageSource.load(url, index: i, allowRemote: options.allowRemoteImages, http: http,
                                                     maxPixels: options.maxImagePixels))
        }
        let prompt = model.chatTemplate.render(req.messages.map { ChatMessage(role: $0.role, text: $0.text, images: $0.imageURLs.count) })
        let ids: [Int]
        do { ids = try model.tokenize(prompt, images: images.count) } catch { throw APIError.invalid("\(error)", param: "messages") }
        guard ids.count < contextSize else {
            throw APIError.invalid("the prompt is \(ids.count) tokens; the context holds \(contextSize)", param: "messages", code: "context_length_exceeded")
        }
        let room = contextSize - ids.count
        let sampling = SamplingOptions(temperature: req.temperature, topP: req.topP, seed: req.seed ?? UInt64.random(in: 0...UInt64.max))
        let generation = GenerationOptions(maxTokens: min(req.maxTokens ?? room, room), sampling: sampling, stop: req.stop)
        let slot = try await pool.acquire(ids: ids, images: images)
        let id = "chatcmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
        return req.stream ? stream(slot: slot, ids: ids, images: images, generation: generation, id: id, includeUsage: req.includeUsageInStream)
            : try await complete(slot: slot, ids: ids, images: images, generation: generation, id: id, connection: connection)
    }

    func usage(_ r: GenerationResult) -> [String: Any] {
        ["prompt_tokens": r.promptTokens, "completion_tokens": r.tokenIds.count, "total_tokens": r.promptTokens + r.tokenIds.count,
         "prompt_tokens_details": ["cached_tokens": r.cachedTokens]]
    }

    func complete(slot: SlotPool.Slot, ids: [Int], images: [ChatSession.Image], generation: GenerationOptions, id: String,
                  connection: (any Channel)? = nil) async throws -> Response {
        let flag = CancelFlag()
        // Nothing is written before the answer is whole, so a client that leaves is seen only by its connection:
        // its FIN (ClientGoneHandler) or the connection closing, checked at every token; it stops there and frees
        // the slot.
        let client = try? await connection?.pipeline.handler(type: ClientGoneHandler.self).get()
        let stopped = CancelFlag()
        let gone: @Sendable () -> Bool = {
            let left = client?.gone.isSet == true || connection.map({ !$0.isActive }) == true
            guard flag.isSet || left else { return false }
            stopped.set()
            return true
        }
        let handoff = Handoff<Result<GenerationResult, Error>>()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                slot.queue.async {
                    handoff.put(Result {
                        try slot.session.generate(ids: ids, images: images, options: generation, shouldStop: gone)
                    })
                    continuation.resume()
                }
            }
        } onCancel: { flag.set() }
        await pool.release(slot, cancelled: stopped.isSet)
        let r: GenerationResult
        switch handoff.take() {
        case .success(let value): r = value
        case .failure(let error): throw APIError(status: 500, message: "generation failed: \(error)", type: "server_error")
        case nil: throw APIError(status: 500, message: "generation ended without a result", type: "server_error")
        }
        return jsonResponse([
            "id": id, "object": "chat.completion", "created": Int(Date().timeIntervalSince1970), "model": options.modelName,
            "choices": [["index": 0, "message": ["role": "assistant", "content": r.text], "finish_reason": r.finishReason]],
            "usage": usage(r),
        ])
    }

    enum StreamEvent: Sendable { case text(String), done(GenerationResult), failed(String) }

    func stream(slot: SlotPool.Slot, ids: [Int], images: [ChatSession.Image], generation: GenerationOptions, id: String,
                includeUsage: Bool) -> Response {
        let flag = CancelFlag()
        let (events, continuation) = AsyncStream.makeStream(of: StreamEvent.self)
        let pool = self.pool
        slot.queue.async {
            do {
                let r = try slot.session.generate(ids: ids, images: images, options: generation, shouldStop: { flag.isSet }) {
                    continuation.yield(.text($0))
                }
                continuation.yield(.done(r))
            } catch {
                continuation.yield(.failed("\(error)"))
            }
            continuation.finish()
            Task { await pool.release(slot, cancelled: flag.isSet) }
        }
        let created = Int(Date().timeIntervalSince1970), name = options.modelName
        @Sendable func chunk(_ delta: [String: Any], finish: String? = nil, usage: [String: Any]? = nil) -> ByteBuffer {
            var o: [String: Any] = ["id": id, "object": "chat.completion.chunk", "created": created, "model": name,
                                    "choices": usage == nil ? [["index": 0, "delta": delta, "finish_reason": finish as Any? ?? NSNull()]] : []]
            if let usage { o["usage"] = usage }
            let data = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return ByteBuffer(string: "data: " + String(decoding: data, as: UTF8.self) + "\n\n")
        }
        let usageOf = self.usage
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                        body: ResponseBody { writer in
            do {
                try await withTaskCancellationHandler {
                    try await writer.write(chunk(["role": "assistant", "content": ""]))
                    for await event in events {
                        switch event {
                        case .text(let t): try await writer.write(chunk(["content": t]))
                        case .done(let r):
                            try await writer.write(chunk([:], finish: r.finishReason))
                            if includeUsage { try await writer.write(chunk([:], usage: usageOf(r))) }
                        case .failed(let message):
                            let error = ["error": ["message": "generation failed: \(message)", "type": "server_error"]]
                            let data = (try? JSONSerialization.data(withJSONObject: error)) ?? Data()
                            try await writer.write(ByteBuffer(string: "data: " + String(decoding: data, as: UTF8.self) + "\n\n"))
                        }
                    }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    try await writer.finish(nil)
                } onCancel: { flag.set() }
            } catch {
                flag.set()   // the client went away: free the slot at the next token
                throw error
            }
        })
    }
}

/// The request context of the server's routes: Hummingbird's basic one plus the connection, whose state is how a
/// client that left before the response head is noticed while its answer is being computed.
public struct ConnectionContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
