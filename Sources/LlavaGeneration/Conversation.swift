// A conversation with a model, turn by turn, as mlx-swift-lm's ChatSession offers it: `respond(to:images:)` gives the
// whole answer, `stream(to:images:)` its text piece by piece as an AsyncThrowingStream (cancel the consuming task and
// generation stops at the next token). The KV cache and the image features stay between turns (ChatSession), so a
// turn computes only the positions the cache does not already hold, and an image is encoded once.
import Foundation
import LlavaModels
import LlavaTokenizer
import LlavaVision

public final class Conversation: @unchecked Sendable {   // turns are serialised by `lock`
    public let model: LlavaModel
    /// Sampling, length and stop strings for every turn (change between turns as needed).
    public var options: GenerationOptions
    /// The turns so far (the system message first, when there is one); read while a turn runs, it waits for it.
    public var messages: [ChatMessage] { lock.lock(); defer { lock.unlock() }; return history }
    /// The last turn's result: its text, tokens, timings, how many prompt positions came from the cache, and
    /// finish reason ("cancelled" when a stream's consumer left). Read while a turn runs, it waits for it.
    public var lastResult: GenerationResult? { lock.lock(); defer { lock.unlock() }; return last }
    private var history: [ChatMessage]
    private var last: GenerationResult?
    private var images: [ChatSession.Image] = []
    private let session: ChatSession
    private let lock = NSLock()

    /// `contextSize` positions of KV cache are held for the whole conversation (at most the model's).
    public init(model: LlavaModel, system: String? = nil, options: GenerationOptions = GenerationOptions(),
                contextSize: Int = 4096) {
        self.model = model
        self.options = options
        history = system.map { [ChatMessage(role: .system, text: $0)] } ?? []
        session = ChatSession(model: model, contextSize: contextSize)
    }

    /// Images encoded so far (an image sent again is not counted again).
    public var imagesEncoded: Int { session.imagesEncoded }

    /// One turn: the user's text and the images it shows, the answer as a whole; `onText` sees it as it is made.
    /// A turn that fails leaves the conversation as it was.
    @discardableResult
    public func respond(to text: String, images newImages: [RGBImage] = [], shouldStop: () -> Bool = { false },
                        onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        lock.lock()
        defer { lock.unlock() }
        var turn = history
        turn.append(ChatMessage(role: .user, text: text, images: newImages.count))
        let all = images + newImages.map { ChatSession.Image($0) }
        let r = try session.generate(prompt: model.chatTemplate.render(turn), images: all, options: options,
                                     shouldStop: shouldStop, onText: onText)
        turn.append(ChatMessage(role: .assistant, text: r.text.trimmingCharacters(in: .whitespaces)))
        history = turn
        images = all
        last = r
        return r
    }

    /// One turn, its text streamed. Generation runs on its own thread (it is long, blocking work that must not hold
    /// a thread of Swift's cooperative pool); ending the stream early — the consuming task cancelled, or the loop
    /// left — stops it at the next token, and the answer so far is kept as the assistant's turn.
    public func stream(to text: String, images newImages: [RGBImage] = []) -> AsyncThrowingStream<String, Error> {
        AsyncThrowingStream { continuation in
            let stop = StopFlag()
            continuation.onTermination = { _ in stop.set() }
            let worker = Thread { [self] in
                do {
                    try respond(to: text, images: newImages, shouldStop: { stop.isSet }) { continuation.yield($0) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            worker.stackSize = 8 << 20
            worker.start()
        }
    }

    /// Forgets the turns (keeping the system message); the cache's rows are reused as far as a new prompt matches.
    public func reset() {
        lock.lock()
        defer { lock.unlock() }
        history = history.first?.role == .system ? [history[0]] : []
        images = []
        last = nil
    }
}

/// A flag set from one thread and read from another.
final class StopFlag: @unchecked Sendable {   // guarded by `lock`
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
