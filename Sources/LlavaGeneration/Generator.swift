// The generation loop: encode images, prefill the prompt in one batch, then decode token by
// token through the KV cache until EOS, a stop string, the token limit or the context's end.
import Foundation
import LlavaModels
import LlavaTensor
import LlavaVision

public struct GenerationOptions: Sendable {
    public var maxTokens = 256
    public var sampling = SamplingOptions()
    public var stop: [String] = []
    public var contextLength: Int? = nil
    /// Keep going past end-of-sequence tokens (benchmarks decode a fixed count).
    public var ignoreEOS = false

    public init(maxTokens: Int = 256, sampling: SamplingOptions = SamplingOptions(), stop: [String] = [], contextLength: Int? = nil) {
        self.maxTokens = maxTokens; self.sampling = sampling; self.stop = stop; self.contextLength = contextLength
    }
}

public struct GenerationResult: Sendable {
    public var text: String
    public var tokenIds: [Int]
    public var promptTokens: Int
    public var finishReason: String   // "stop" (EOS or stop string) or "length"
    public var imageEncodeMs: Double
    public var prefillMs: Double
    public var decodeMs: Double
    /// Prompt positions taken from a reused KV cache instead of being computed.
    public var cachedTokens = 0

    public var prefillTokensPerSecond: Double { prefillMs > 0 ? Double(promptTokens) / (prefillMs / 1000) : 0 }
    public var decodeTokensPerSecond: Double {
        tokenIds.count > 1 && decodeMs > 0 ? Double(tokenIds.count - 1) / (decodeMs / 1000) : 0
    }
}

public final class Generator: @unchecked Sendable {
    public let model: LlavaModel
    public init(model: LlavaModel) { self.model = model }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e6 }

    /// Encodes images to projected features (one tensor per image).
    public func encodeImages(_ images: [RGBImage]) throws -> [Tensor] {
        try images.map { try model.imageFeatures(pixels: try model.pixelValues($0)) }
    }

    /// Runs a prompt (already templated) with images; `onText` receives text as it is produced.
    public func generate(prompt: String, images: [RGBImage], options: GenerationOptions,
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        let ids = try model.tokenize(prompt, images: images.count)
        let t0 = Self.now()
        let features = try encodeImages(images)
        let t1 = Self.now()
        return try generate(ids: ids, imageFeatures: features, options: options, imageEncodeMs: t1 - t0, onText: onText)
    }

    /// `cache`, when given, holds keys and values from an earlier call whose first `reuse` positions equal this
    /// prompt's (a chat resending its history); only the rest of the prompt is computed. `shouldStop` is asked before
    /// every token (a client that went away); a stop ends generation with finish reason "cancelled".
    public func generate(ids: [Int], imageFeatures: [Tensor], options: GenerationOptions, imageEncodeMs: Double = 0,
                         cache given: KVCache? = nil, reuse: Int = 0, shouldStop: () -> Bool = { false },
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        let lm = model.language
        let limit = min(options.contextLength ?? lm.config.maxPositions, lm.config.maxPositions, given?.capacity ?? .max)
        guard ids.count < limit else { throw ModelError.contextOverflow(needed: ids.count + 1, limit: limit) }
        // Room for this request only: a full 8k-position cache of a small model outweighs its weights.
        // (maxTokens capped first: Int.max would overflow the sum.)
        let room = min(max(1, options.maxTokens), limit)
        let cache = given ?? KVCache(config: lm.config, capacity: min(limit, ids.count + room))
        // At least the last prompt position is computed: its logits start the answer.
        let reused = given == nil ? 0 : max(0, min(reuse, ids.count - 1, cache.length))
        cache.truncate(to: reused)
        let tPrefill = Self.now()
        let all = try model.embeddings(ids: ids, imageFeatures: imageFeatures)
        // With llama.cpp's arithmetic the prompt goes in as mtmd decodes it: the text before an image, the image and
        // the text after as separate batches, since the ubatches decide its flash-attention kernels (a text run
        // under 64 tokens takes the one-chunk kernel, f16 Q). Elsewhere one call.
        let segments = lm.numerics.llamaCppArithmetic && !imageFeatures.isEmpty
            ? model.promptSegments(ids: ids, imageRows: imageFeatures.map(\.flatRows)) : [0..<ids.count]
        var hidden = Tensor(zeros: [1, lm.config.hiddenSize])
        for r in segments where r.upperBound > reused {
            let lo = max(r.lowerBound, reused)
            let h = try lm.forward(all.rows(lo, r.upperBound - lo), cache: cache)
            hidden = h.rows(h.flatRows - 1, 1)
        }
        var logits = lm.logits(hidden)
        let prefillMs = Self.now() - tPrefill

        var sampler = Sampler(options: options.sampling)
        var eos = Set(lm.config.eosIds)
        eos.formUnion(model.tokenizer.eosIds)
        var streamer = TextStreamer(stripLeadingSpace: model.tokenizer.stripsLeadingSpace)
        var generated: [Int] = []
        var finish = "length"
        var emitted = 0  // characters of streamer.text already passed to onText
        let holdBack = options.stop.map(\.count).max() ?? 0
        let tDecode = Self.now()
        var tFirst = tDecode
        while generated.count < options.maxTokens {
            if shouldStop() { finish = "cancelled"; break }
            let next = sampler.sample(UnsafeBufferPointer(logits.buffer), previous: ids + generated)
            if eos.contains(next) && !options.ignoreEOS { finish = "stop"; break }
            generated.append(next)
            if generated.count == 1 { tFirst = Self.now() }
            if !model.tokenizer.isSpecial(next) { _ = streamer.push(model.tokenizer.bytes(for: next)) }
            // Stop strings: cut the text where one begins, and never emit a prefix of it.
            if let cut = options.stop.compactMap({ streamer.text.range(of: $0)?.lowerBound }).min() {
                let kept = String(streamer.text[..<cut])
                if kept.count > emitted { onText(String(kept.dropFirst(emitted))) }
                return GenerationResult(text: kept, tokenIds: generated, promptTokens: ids.count, finishReason: "stop",
                                        imageEncodeMs: imageEncodeMs, prefillMs: prefillMs, decodeMs: Self.now() - tFirst,
                                        cachedTokens: reused)
            }
            let safe = streamer.text.count - holdBack
            if safe > emitted {
                onText(String(streamer.text.dropFirst(emitted).prefix(safe - emitted)))
                emitted = safe
            }
            if generated.count >= options.maxTokens { break }
            if cache.length >= cache.capacity { finish = "length"; break }
            let h = try lm.forward(try lm.embed([next]), cache: cache)
            logits = lm.logits(h)
        }
        _ = streamer.flush()
        if streamer.text.count > emitted { onText(String(streamer.text.dropFirst(emitted))) }
        return GenerationResult(text: streamer.text, tokenIds: generated, promptTokens: ids.count, finishReason: finish,
                                imageEncodeMs: imageEncodeMs, prefillMs: prefillMs, decodeMs: Self.now() - tFirst,
                                cachedTokens: reused)
    }
}
