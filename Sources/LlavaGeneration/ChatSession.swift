// One conversation slot for a server: a KV cache kept from request to request, what each cached position holds,
// and the features of the images it has seen. A chat that resends its history (as every OpenAI client does) has
// only its new turn computed; images it resends are not encoded again.
import Foundation
import LlavaModels
import LlavaTensor
import LlavaVision

public final class ChatSession: @unchecked Sendable {   // used by one request at a time (the server's slot)
    /// An image and a digest of its bytes: equal digests are taken to be the same picture.
    public struct Image: Sendable {
        public var digest: String
        public var image: RGBImage
        public init(digest: String, image: RGBImage) { self.digest = digest; self.image = image }
        /// An image known by its pixels (and size and opacity): the same picture from another file is the same image.
        public init(_ image: RGBImage) {
            // The planes digested where they are (no joined copy of a large photo on every turn).
            let opacity = image.alpha.map { "a" + Self.digest($0) } ?? ""
            self.init(digest: Self.digest(image.pixels) + opacity + "-\(image.width)x\(image.height)", image: image)
        }

        /// FNV-1a over the bytes, twice with different offsets, and the length: equal pictures, equal digests.
        public static func digest<C: Collection>(_ data: C) -> String where C.Element == UInt8 {
            var a: UInt64 = 0xCBF2_9CE4_8422_2325, b: UInt64 = 0x6C62_272E_07BB_0142
            for byte in data {
                a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
                b = (b ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            }
            return String(a, radix: 16) + String(b, radix: 16) + "-\(data.count)"
        }
    }

    enum Position: Hashable { case token(Int), image(String, Int) }

    public let generator: Generator
    public let cache: KVCache
    private var positions: [Position] = []            // what cache rows [0, cache.length) were computed from
    private var features: [(digest: String, value: Tensor)] = []   // most recent last
    private let maxCachedImages = 8
    /// Images this session has run through the vision tower (a resent image is not counted again).
    public private(set) var imagesEncoded = 0

    public init(model: LlavaModel, contextSize: Int) {
        generator = Generator(model: model)
        cache = KVCache(config: model.language.config, capacity: max(2, min(contextSize, model.language.config.maxPositions)))
    }

    var model: LlavaModel { generator.model }

    /// Positions a prompt would take: tokens, and each image's rows under its digest.
    func keys(ids: [Int], images: [Image]) -> [Position] {
        let placeholder = model.imagePlaceholder
        var seen = 0
        return ids.map { id in
            guard id == placeholder, !images.isEmpty else { return .token(id) }
            defer { seen += 1 }
            let image = min(seen / max(1, model.tokensPerImage), images.count - 1)
            return .image(images[image].digest, seen % max(1, model.tokensPerImage))
        }
    }

    /// How many leading positions of this prompt the cache already holds.
    public func reusablePrefix(ids: [Int], images: [Image]) -> Int {
        let wanted = keys(ids: ids, images: images)
        var n = 0
        while n < min(wanted.count, positions.count, cache.length) && wanted[n] == positions[n] { n += 1 }
        return n
    }

    func imageFeatures(_ image: Image) throws -> (Tensor, computed: Bool) {
        if let i = features.firstIndex(where: { $0.digest == image.digest }) {
            let hit = features.remove(at: i)
            features.append(hit)
            return (hit.value, false)
        }
        let value = try generator.encodeImages([image.image])[0]
        imagesEncoded += 1
        features.append((image.digest, value))
        if features.count > maxCachedImages { features.removeFirst() }
        return (value, true)
    }

    /// Generates for a templated prompt; the images are those its markers stand for, in order.
    public func generate(prompt: String, images: [Image], options: GenerationOptions, shouldStop: () -> Bool = { false },
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        try generate(ids: try model.tokenize(prompt, images: images.count), images: images, options: options,
                     shouldStop: shouldStop, onText: onText)
    }

    /// Generates for a tokenized prompt (`LlavaModel.tokenize`).
    public func generate(ids: [Int], images: [Image], options: GenerationOptions, shouldStop: () -> Bool = { false },
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        guard ids.count < cache.capacity else { throw ModelError.contextOverflow(needed: ids.count + 1, limit: cache.capacity) }
        let t0 = Double(DispatchTime.now().uptimeNanoseconds) / 1e6
        let feats = try images.map { try imageFeatures($0).0 }
        let encodeMs = Double(DispatchTime.now().uptimeNanoseconds) / 1e6 - t0
        let reuse = reusablePrefix(ids: ids, images: images)
        let wanted = keys(ids: ids, images: images)
        positions = Array(positions.prefix(reuse))   // a failure below must not leave stale rows marked valid
        let result = try generator.generate(ids: ids, imageFeatures: feats, options: options, imageEncodeMs: encodeMs,
                                            cache: cache, reuse: reuse, shouldStop: shouldStop, onText: onText)
        positions = Array((wanted + result.tokenIds.map { Position.token($0) }).prefix(cache.length))
        return result
    }
}
