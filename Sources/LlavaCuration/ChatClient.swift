// A client for OpenAI-compatible chat completions (POST {base}/chat/completions), shared by curation and the judge.
// Retries 429, 408, 5xx, timeouts, dropped connections and unreadable bodies with exponential backoff and jitter,
// waiting what a Retry-After header asks instead when there is one; any other 4xx fails at once (retrying a bad key or a
// wrong model name only wastes time). Token usage and request counts are summed in `meter`.
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

public struct ChatCompletion: Sendable, Equatable {
    public var text: String
    public var finishReason: String?
    public var promptTokens: Int
    public var completionTokens: Int
    /// HTTP requests this completion took (1 + retries).
    public var attempts: Int

    public init(text: String, finishReason: String?, promptTokens: Int, completionTokens: Int, attempts: Int) {
        self.text = text; self.finishReason = finishReason
        self.promptTokens = promptTokens; self.completionTokens = completionTokens; self.attempts = attempts
    }
}

public struct ChatClientOptions: Sendable {
    public var timeout: Double = 300          // seconds for one request, head and body
    public var maxRetries: Int = 6
    public var backoffBase: Double = 1        // first retry waits about this long; doubles after
    /// The longest `timeout` honoured (a week); longer ones are cut to it.
    public static let longestTimeout: Double = 7 * 24 * 3600
    public var backoffCap: Double = 60
    public var maxRetryAfter: Double = 300    // a Retry-After larger than this is clipped
    public var connections: Int = 8
    public init() {}
}

/// A request that failed for good: what went wrong last, and how many HTTP requests were spent on it.
public struct ChatRequestError: Error, CustomStringConvertible {
    public var error: CurationError
    public var attempts: Int
    public var description: String { attempts > 1 ? "\(error) (after \(attempts) attempts)" : error.description }
    /// The status codes that mean every request will fail alike (bad key, no such model or path).
    public var isFatal: Bool {
        if case .http(let status, _) = error { return [401, 403, 404].contains(status) }
        return false
    }
}

/// Totals over every request a client made.
public actor UsageMeter {
    public private(set) var requests = 0
    public private(set) var retries = 0
    public private(set) var failedRequests = 0
    public private(set) var promptTokens = 0
    public private(set) var completionTokens = 0
    public init() {}
    func request() { requests += 1 }
    func retry() { retries += 1 }
    func failure() { failedRequests += 1 }
    func usage(prompt: Int, completion: Int) { promptTokens += prompt; completionTokens += completion }
}

/// What pipelines need from a chat endpoint.
public protocol ChatCompleting: Sendable {
    func complete(_ messages: [ChatMessage], temperature: Double?, maxTokens: Int?) async throws -> ChatCompletion
}

public final class OpenAIChatClient: ChatCompleting {
    public let url: String
    public let model: String
    let apiKey: String?
    public let options: ChatClientOptions
    public let meter = UsageMeter()
    let http: HTTPClient

    /// `endpoint` is the API base (`http://127.0.0.1:8080/v1`) or the full `…/chat/completions` address.
    public init(endpoint: String, model: String, apiKey: String?, options: ChatClientOptions = ChatClientOptions()) throws {
        var base = endpoint.trimmingCharacters(in: .whitespaces)
        guard let parsed = URL(string: base), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https",
              parsed.host != nil else {
            throw CurationError.badEndpoint("\(endpoint) is not an http(s) URL")
        }
        while base.hasSuffix("/") { base.removeLast() }
        url = base.hasSuffix("/chat/completions") ? base : base + "/chat/completions"
        self.model = model
        self.apiKey = apiKey
        self.options = options
        var config = HTTPClient.Configuration()
        config.connectionPool = .init(idleTimeout: .seconds(60),
                                      concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, options.connections))
        // A refused connection comes back to our retry loop (counted, with backoff) instead of being retried
        // silently inside the pool until the deadline.
        config.connectionPool.retryConnectionEstablishment = false
        config.timeout.connect = .seconds(Int64(min(options.timeout, 30).rounded(.up)))
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    struct Attempt: Error {
        var error: CurationError
        var retryable: Bool
        var retryAfter: Double?
    }

    public func complete(_ messages: [ChatMessage], temperature: Double?, maxTokens: Int?) async throws -> ChatCompletion {
        var body: [String: Any] = [
            "model": model,
            "messages": messages.map { ["role": $0.role, "content": $0.content] },
        ]
        if let temperature { body["temperature"] = temperature }
        if let maxTokens { body["max_tokens"] = maxTokens }
        let payload = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])

        var attempt = 0
        while true {
            try Task.checkCancellation()
            attempt += 1
            await meter.request()
            do {
                var result = try await send(payload)
                result.attempts = attempt
                await meter.usage(prompt: result.promptTokens, completion: result.completionTokens)
                return result
            } catch let failure as Attempt {
                guard failure.retryable, attempt <= options.maxRetries else {
                    await meter.failure()
                    throw ChatRequestError(error: failure.error, attempts: attempt)
                }
                await meter.retry()
                let wait = failure.retryAfter.map { min($0, options.maxRetryAfter) } ?? backoff(retry: attempt)
                try await Task.sleep(nanoseconds: UInt64(max(0, wait) * 1e9))
            }
        }
    }

    /// Equal jitter: half the exponential step for sure, the other half at random, so clients that failed together
    /// do not retry together.
    func backoff(retry: Int) -> Double {
        let step = min(options.backoffCap, options.backoffBase * pow(2, Double(retry - 1)))
        return step / 2 + Double.random(in: 0...(step / 2))
    }

    func send(_ payload: Data) async throws -> ChatCompletion {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        if let apiKey, !apiKey.isEmpty { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        request.body = .bytes(ByteBuffer(bytes: payload))
        // Clamped: the deadline and the sleep are integer milli- and nanoseconds (inf or 1e30 s would trap).
        let timeout = options.timeout.isNaN ? ChatClientOptions.longestTimeout
            : min(max(options.timeout, 0.001), ChatClientOptions.longestTimeout)
        let prepared = request
        let (status, headers, bytes): (UInt, HTTPHeaders, ByteBuffer)
        do {
            (status, headers, bytes) = try await withThrowingTaskGroup(of: (UInt, HTTPHeaders, ByteBuffer)?.self) { group in
                group.addTask {
                    let response = try await self.http.execute(prepared, deadline: .now() + .milliseconds(Int64(timeout * 1000)))
                    let body = try await response.body.collect(upTo: 64 << 20)
                    return (response.status.code, response.headers, body)
                }
                group.addTask {
                    try await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                guard let first else { throw Attempt(error: .timedOut(seconds: timeout), retryable: true) }
                return first
            }
        } catch let attempt as Attempt {
            throw attempt
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw Attempt(error: .timedOut(seconds: timeout), retryable: true)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw Attempt(error: .transport(String(describing: error)), retryable: true)
        }
        let text = String(buffer: bytes)
        guard (200..<300).contains(status) else {
            let retryable = status == 429 || status == 408 || status == 409 || status >= 500
            throw Attempt(error: .http(status: Int(status), body: text), retryable: retryable,
                          retryAfter: headers.first(name: "Retry-After").flatMap(Self.parseRetryAfter))
        }
        do {
            return try Self.parseCompletion(Data(text.utf8))
        } catch let error as CurationError {
            // A 200 with a body that is not a completion is a server hiccup more often than not.
            throw Attempt(error: error, retryable: true)
        }
    }

    /// Retry-After is either delay-seconds or an HTTP-date.
    static func parseRetryAfter(_ value: String) -> Double? {
        let v = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(v), seconds.isFinite, seconds >= 0 { return seconds }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: v) else { return nil }
        return max(0, date.timeIntervalSinceNow)
    }

    static func parseCompletion(_ data: Data) throws -> ChatCompletion {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CurationError.malformedResponse("body is not a JSON object: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        guard let choices = object["choices"] as? [[String: Any]], let first = choices.first,
              let message = first["message"] as? [String: Any] else {
            throw CurationError.malformedResponse("no choices[0].message")
        }
        guard let content = message["content"] as? String else {
            throw CurationError.malformedResponse("choices[0].message.content is not a string")
        }
        let usage = object["usage"] as? [String: Any]
        return ChatCompletion(text: content, finishReason: first["finish_reason"] as? String,
                              promptTokens: (usage?["prompt_tokens"] as? NSNumber)?.intValue ?? 0,
                              completionTokens: (usage?["completion_tokens"] as? NSNumber)?.intValue ?? 0,
                              attempts: 1)
    }
}
