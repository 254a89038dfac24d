// `llava serve` in process, over real HTTP on loopback, with the tiny llava-hf test model: answers equal the
// generator's, streams reassemble, concurrent clients stay apart, every error has OpenAI's shape and status,
// a client that leaves frees its slot, and a resent history reuses the KV cache and the image features.
import AsyncHTTPClient
import Foundation
import Hummingbird
import ServiceLifecycle
import LlavaGeneration
import LlavaModels
import LlavaServer
import LlavaVision
import Logging
import LlavaTokenizer
import NIOCore
import NIOHTTP1
import Testing

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/llava-hf")
let smolPath = (ProcessInfo.processInfo.environment["SWIFT_LLAVA_CACHE"] ?? (NSHomeDirectory() + "/.cache/swift-llava"))
    + "/SmolLM2-135M-Instruct.Q4_1.gguf"
let sharedModel: LlavaModel = {
    do { return try CheckpointLoader.loadLlavaHF(folder: fixtures.appendingPathComponent("tiny-gqa-crop").path) } catch {
        fatalError("tiny test model: \(error)")
    }
}()

func imageDataURI(_ name: String) throws -> (uri: String, data: Data) {
    let data = try Data(contentsOf: fixtures.appendingPathComponent("images/\(name)"))
    let mime = name.hasSuffix(".png") ? "image/png" : "image/jpeg"
    return ("data:\(mime);base64," + data.base64EncodedString(), data)
}

/// A server on a free port, and a client for it.
final class Harness: @unchecked Sendable {
    let server: LlavaServer
    let task: Task<Void, Error>
    let group: ServiceGroup
    let port: Int
    let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)

    init(model: LlavaModel = sharedModel, _ configure: (inout ServerOptions) -> Void = { _ in }) async throws {
        var options = ServerOptions()
        options.port = 0
        options.modelName = "tiny"
        configure(&options)
        server = LlavaServer(model: model, options: options)
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        var quiet = Logger(label: "test-server")
        quiet.logLevel = .critical
        let app = server.application(logger: quiet) { port in continuation.yield(port); continuation.finish() }
        // Graceful shutdown, not task cancellation (which can trap in NIO with a connection still queued: apple/swift-nio#3481).
        let group = ServiceGroup(configuration: .init(services: [app], logger: quiet))
        self.group = group
        task = Task { try await group.run() }
        var p = 0
        for await value in stream { p = value }
        port = p
    }

    func stop() async {
        try? await http.shutdown()
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    func request(_ path: String, method: HTTPMethod = .POST, body: Data? = nil, headers: [(String, String)] = []) async throws
        -> (status: Int, headers: HTTPHeaders, body: String) {
        var r = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        r.method = method
        r.headers.add(name: "Content-Type", value: "application/json")
        for (k, v) in headers { r.headers.add(name: k, value: v) }
        if let body { r.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await http.execute(r, timeout: .seconds(120))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return (Int(response.status.code), response.headers, String(buffer: bytes))
    }

    func chat(_ object: [String: Any], headers: [(String, String)] = []) async throws -> (status: Int, headers: HTTPHeaders, json: [String: Any]) {
        let r = try await request("/v1/chat/completions", body: try JSONSerialization.data(withJSONObject: object), headers: headers)
        let json = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any]) ?? [:]
        return (r.status, r.headers, json)
    }
}

func content(_ json: [String: Any]) -> String? {
    ((json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
}

/// What the generator gives for the same conversation, computed without the server.
func expected(_ messages: [(role: String, text: String, images: [String])], maxTokens: Int) throws -> String {
    let model = sharedModel
    let rendered = model.chatTemplate.render(messages.map {
        ChatMessage(role: ChatMessage.Role(rawValue: $0.role) ?? .user, text: $0.text, images: $0.images.count)
    })
    let images = try messages.flatMap(\.images).map { try ImageDecoder.decode(path: fixtures.appendingPathComponent("images/\($0)").path) }
    return try Generator(model: model).generate(prompt: rendered, images: images, options: GenerationOptions(maxTokens: maxTokens)).text
}

func userMessage(_ text: String, image: String? = nil) throws -> [String: Any] {
    guard let image else { return ["role": "user", "content": text] }
    return ["role": "user", "content": [["type": "image_url", "image_url": ["url": try imageDataURI(image).uri]], ["type": "text", "text": text]]]
}

@Suite(.serialized) struct ServerTests {
    @Test func greedyAnswersEqualTheGeneratorAndStreamsReassemble() async throws {
        let h = try await Harness()
        let messages: [[String: Any]] = [["role": "system", "content": "Be brief."], try userMessage("What is in the image?", image: "chelsea.jpg")]
        let plain = try await h.chat(["model": "tiny", "messages": messages, "temperature": 0, "max_tokens": 12])
        #expect(plain.status == 200)
        let want = try expected([("system", "Be brief.", []), ("user", "What is in the image?", ["chelsea.jpg"])], maxTokens: 12)
        #expect(content(plain.json) == want)
        let usage = plain.json["usage"] as? [String: Any]
        #expect((usage?["completion_tokens"] as? Int) == 12 && (usage?["prompt_tokens"] as? Int) ?? 0 > sharedModel.tokensPerImage)
        #expect(((plain.json["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String) == "length")

        // The same request streamed: chunks in OpenAI's format, ending with [DONE], reassembling to the same text.
        let streamed = try await h.request("/v1/chat/completions", body: try JSONSerialization.data(withJSONObject: [
            "messages": messages, "temperature": 0, "max_tokens": 12, "stream": true, "stream_options": ["include_usage": true]]))
        #expect(streamed.status == 200 && streamed.headers.first(name: "content-type") == "text/event-stream")
        let events = streamed.body.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        #expect(events.last == "data: [DONE]")
        var text = "", finish: String?, sawUsage = false
        for event in events.dropLast() {
            #expect(event.hasPrefix("data: "))
            let chunk = try #require(try JSONSerialization.jsonObject(with: Data(event.dropFirst(6).utf8)) as? [String: Any])
            #expect(chunk["object"] as? String == "chat.completion.chunk")
            if let choice = (chunk["choices"] as? [[String: Any]])?.first {
                text += ((choice["delta"] as? [String: Any])?["content"] as? String) ?? ""
                if let f = choice["finish_reason"] as? String { finish = f }
            }
            if chunk["usage"] is [String: Any] { sawUsage = true }
        }
        #expect(text == want && finish == "length" && sawUsage)
        await h.stop()
    }

    @Test func aResentHistoryReusesTheCacheAndTheImage() async throws {
        let h = try await Harness()
        let first = try userMessage("Describe it.", image: "chelsea.jpg")
        let one = try await h.chat(["messages": [first], "temperature": 0, "max_tokens": 6])
        let answer = try #require(content(one.json))
        let messages: [[String: Any]] = [first, ["role": "assistant", "content": answer], ["role": "user", "content": "And the colours?"]]
        let two = try await h.chat(["messages": messages, "temperature": 0, "max_tokens": 6])
        let usage = try #require(two.json["usage"] as? [String: Any])
        let cached = try #require((usage["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int)
        let prompt = try #require(usage["prompt_tokens"] as? Int)
        #expect(cached > sharedModel.tokensPerImage && cached < prompt)   // the image and the first turn were not recomputed
        #expect(content(two.json) == (try expected([("user", "Describe it.", ["chelsea.jpg"]), ("assistant", answer, []),
                                                    ("user", "And the colours?", [])], maxTokens: 6)))
        await h.stop()

        // The session encodes a resent image once.
        let session = ChatSession(model: sharedModel, contextSize: 512)
        let image = ChatSession.Image(digest: "x", image: try ImageDecoder.decode(path: fixtures.appendingPathComponent("images/chelsea.jpg").path))
        let prompt1 = sharedModel.prompt(user: "Hi", system: nil, images: 1, raw: false)
        let r1 = try session.generate(prompt: prompt1, images: [image], options: GenerationOptions(maxTokens: 3))
        let r2 = try session.generate(prompt: prompt1 + r1.text + " USER: more ASSISTANT:", images: [image], options: GenerationOptions(maxTokens: 3))
        #expect(session.imagesEncoded == 1 && r2.cachedTokens > sharedModel.tokensPerImage)
    }

    @Test func concurrentClientsGetTheirOwnAnswers() async throws {
        let h = try await Harness { $0.parallel = 4; $0.queueLimit = 64 }
        let prompts = (0..<32).map { "Question number \($0): tell me about \(["cats", "dogs", "boats", "rain"][$0 % 4])." }
        var wanted: [String] = []
        for p in prompts { wanted.append(try expected([("user", p, [])], maxTokens: 8)) }
        let got = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for (i, p) in prompts.enumerated() {
                group.addTask { (i, content(try await h.chat(["messages": [["role": "user", "content": p]], "temperature": 0, "max_tokens": 8]).json)) }
            }
            var result = [String?](repeating: nil, count: prompts.count)
            for try await (i, text) in group { result[i] = text }
            return result
        }
        #expect(got == wanted.map { Optional($0) })
        let health = try JSONSerialization.jsonObject(with: Data(try await h.request("/health", method: .GET).body.utf8)) as? [String: Any]
        #expect((health?["served"] as? Int) == 32 && (health?["slots_idle"] as? Int) == 4)
        await h.stop()
    }

    @Test func errorsHaveOpenAIShapeAndStatus() async throws {
        let h = try await Harness { $0.maxBodyBytes = 1 << 20; $0.contextSize = 64; $0.apiKey = "sekret" }
        let auth = [("Authorization", "Bearer sekret")]
        func expectError(_ r: (status: Int, headers: HTTPHeaders, json: [String: Any]), _ status: Int, _ fragment: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(r.status == status, sourceLocation: sourceLocation)
            let error = r.json["error"] as? [String: Any]
            #expect((error?["message"] as? String)?.contains(fragment) == true, "\(r.json)", sourceLocation: sourceLocation)
            #expect(error?["type"] is String && error?.keys.contains("code") == true, sourceLocation: sourceLocation)
        }
        let ok: [String: Any] = ["messages": [["role": "user", "content": "hi"]], "max_tokens": 2]
        expectError(try await h.chat(ok), 401, "API key")
        expectError(try await h.chat(ok, headers: [("Authorization", "Bearer wrong")]), 401, "API key")
        #expect(try await h.request("/v1/models", method: .GET).status == 401)
        #expect(try await h.request("/v1/models", method: .GET, headers: auth).body.contains("\"tiny\""))

        let raw = try await h.request("/v1/chat/completions", body: Data("{not json".utf8), headers: auth)
        #expect(raw.status == 400 && raw.body.contains("not valid JSON"))
        expectError(try await h.chat(["messages": "hi"], headers: auth), 400, "messages")
        expectError(try await h.chat(["messages": [["role": "user", "content": 5]]], headers: auth), 400, "content")
        expectError(try await h.chat(ok.merging(["temperature": "hot"]) { $1 }, headers: auth), 400, "temperature")
        expectError(try await h.chat(ok.merging(["max_tokens": -1]) { $1 }, headers: auth), 400, "max_tokens")
        let unknown = try await h.chat(ok.merging(["model": "gpt-9"]) { $1 }, headers: auth)
        expectError(unknown, 404, "gpt-9")   // as OpenAI answers a model it does not have
        #expect((unknown.json["error"] as? [String: Any])?["code"] as? String == "model_not_found")
        expectError(try await h.chat(["messages": [["role": "user", "content": [["type": "image_url", "image_url": ["url": "data:image/png;base64,aGVsbG8="]]]]]], headers: auth),
                    400, "image")
        expectError(try await h.chat(["messages": [["role": "user", "content": [["type": "image_url", "image_url": ["url": "https://example.com/a.jpg"]]]]]], headers: auth),
                    400, "--allow-remote-images")
        expectError(try await h.chat(["messages": [["role": "user", "content": [["type": "image_url", "image_url": ["url": "/etc/passwd"]]]]]], headers: auth),
                    400, "data: URI")
        expectError(try await h.chat(["messages": [["role": "user", "content": String(repeating: "many words ", count: 100)]]], headers: auth),
                    400, "context")
        let big = try await h.request("/v1/chat/completions", body: Data(repeating: 0x20, count: 2 << 20), headers: auth)
        #expect(big.status == 413 && big.body.contains("\"error\""))
        await h.stop()
    }

    @Test func aFullQueueTurnsAwayAndALeavingClientFreesItsSlot() async throws {
        // SmolLM2 (a real 135M model, scripts/fetch-test-models.sh): slow enough that a 2000-token answer is still
        // being written when the client leaves.
        let smol = try CheckpointLoader.loadGGUF(model: smolPath, mmproj: nil, template: nil)
        let h = try await Harness(model: smol) { $0.parallel = 1; $0.queueLimit = 0; $0.modelName = "smol" }
        // A long streamed answer holds the only slot…
        var r = HTTPClientRequest(url: "http://127.0.0.1:\(h.port)/v1/chat/completions")
        r.method = .POST
        r.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: [
            "messages": [["role": "user", "content": "Tell me a very long story."]], "max_tokens": 2000, "stream": true,
            "temperature": 1, "seed": 1])))
        let response = try await h.http.execute(r, timeout: .seconds(60))
        var iterator = response.body.makeAsyncIterator()
        _ = try await iterator.next()   // the first chunk arrived: generation is under way
        // …so with no room to wait, the next request is turned away with Retry-After.
        let busy = try await h.chat(["messages": [["role": "user", "content": "hi"]], "max_tokens": 2])
        #expect(busy.status == 503 && busy.headers.first(name: "retry-after") == "1")
        // The streaming client leaves; its slot comes back without the 2000 tokens being generated.
        try await h.http.shutdown()
        let probe = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        let health = try await idleHealth(probe, port: h.port)
        #expect((health["slots_idle"] as? Int) == 1 && (health["cancelled"] as? Int) == 1, "\(health)")
        try await probe.shutdown()
        await h.group.triggerGracefulShutdown()
        _ = try? await h.task.value
    }

    @Test func aClientGoneBeforeTheResponseHeadFreesItsSlot() async throws {
        // A plain (not streamed) answer writes nothing until it is whole: the server must notice the closed
        // connection itself. 2000 tokens of SmolLM2 take ~10 s here; the client gives up after 0.5 s.
        let smol = try CheckpointLoader.loadGGUF(model: smolPath, mmproj: nil, template: nil)
        let h = try await Harness(model: smol) { $0.parallel = 1; $0.queueLimit = 0; $0.modelName = "smol" }
        var r = HTTPClientRequest(url: "http://127.0.0.1:\(h.port)/v1/chat/completions")
        r.method = .POST
        r.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: [
            "messages": [["role": "user", "content": "Tell me a very long story."]], "max_tokens": 2000,
            "temperature": 1, "seed": 1])))
        let started = Date()
        await #expect(throws: (any Error).self) { _ = try await h.http.execute(r, timeout: .milliseconds(500)) }
        try await h.http.shutdown()   // and its connection with it
        let probe = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        let health = try await idleHealth(probe, port: h.port)
        let freedAfter = Date().timeIntervalSince(started)
        #expect((health["slots_idle"] as? Int) == 1 && (health["cancelled"] as? Int) == 1, "\(health)")
        #expect(freedAfter < 4, "the slot came back after \(freedAfter) s: the 2000 tokens were generated")
        // The slot serves the next client.
        var q = HTTPClientRequest(url: "http://127.0.0.1:\(h.port)/v1/chat/completions")
        q.method = .POST
        q.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: [
            "messages": [["role": "user", "content": "hi"]], "max_tokens": 2])))
        let next = try await probe.execute(q, timeout: .seconds(30))
        #expect(next.status == .ok)
        try await probe.shutdown()
        await h.group.triggerGracefulShutdown()
        _ = try? await h.task.value
    }
}

/// Polls /health until the one slot is idle (at most ~5 s); returns the last health JSON.
func idleHealth(_ probe: HTTPClient, port: Int) async throws -> [String: Any] {
    var health: [String: Any] = [:]
    for _ in 0..<500 {
        let res = try await probe.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/health"), timeout: .seconds(10))
        let body = String(buffer: try await res.body.collect(upTo: 1 << 20))
        health = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:]
        if (health["slots_idle"] as? Int) == 1 { break }
        try await Task.sleep(nanoseconds: 10_000_000)
    }
    return health
}
