// Parity with HF transformers on the tiny checkpoints Tools/make_llava_fixtures.py writes:
// ids identical, pixels within one 8-bit level, image features and logits within 1e-4,
// 16 greedy tokens identical.
import Foundation
import LlavaFormats
import LlavaGeneration
import LlavaModels
import LlavaTensor
import LlavaVision
import Testing

struct Case: Sendable, CustomStringConvertible {
    let model: String
    let name: String
    var description: String { "\(model)/\(name)" }
}

let parityCases: [Case] = Fixtures.models.flatMap { m in
    ["one-image", "two-images", "text-only"].map { Case(model: m, name: $0) }
}

final class Loaded: @unchecked Sendable {
    let model: LlavaModel
    let reference: SafetensorsFile
    let prompts: [String: (String, [String])]

    init(_ name: String) throws {
        model = try CheckpointLoader.loadLlavaHF(folder: Fixtures.path(name))
        reference = try SafetensorsFile(path: Fixtures.path(name + ".safetensors"))
        let meta = try JSONValue.parse(Data((reference.metadata["prompts"] ?? "{}").utf8))
        var p: [String: (String, [String])] = [:]
        for (k, v) in meta.object ?? [:] {
            p[k] = (v.array?[0].string ?? "", v.array?[1].array?.compactMap { $0.string } ?? [])
        }
        prompts = p
    }

    nonisolated(unsafe) static var cache: [String: Loaded] = [:]
    static let lock = NSLock()
    static func get(_ name: String) throws -> Loaded {
        lock.lock(); defer { lock.unlock() }
        if let l = cache[name] { return l }
        let l = try Loaded(name)
        cache[name] = l
        return l
    }
}

@Suite struct LlavaHFParityTests {
    @Test(arguments: parityCases)
    func inputIdsMatchTheProcessor(_ c: Case) throws {
        let l = try Loaded.get(c.model)
        let (prompt, images) = try #require(l.prompts[c.name])
        let ids = try l.model.tokenize(prompt, images: images.count)
        #expect(ids == (try l.reference.integers("\(c.name).input_ids")))
    }

    @Test(arguments: parityCases)
    func chatTemplateMatchesHF(_ c: Case) throws {
        let l = try Loaded.get(c.model)
        let (_, images) = try #require(l.prompts[c.name])
        let text = l.model.prompt(user: "Describe it.", system: nil, images: images.count, raw: false)
        let ids = l.model.tokenizer.encode(text, addSpecialTokens: true)
        #expect(ids == (try l.reference.integers("\(c.name).template_ids")))
    }

    @Test(arguments: parityCases.filter { $0.name != "text-only" })
    func pixelValuesAndImageFeatures(_ c: Case) throws {
        let l = try Loaded.get(c.model)
        let (_, images) = try #require(l.prompts[c.name])
        let refPixels = try l.reference.tensor("\(c.name).pixel_values")
        let refFeatures = try l.reference.tensor("\(c.name).image_features")
        let perImage = refPixels.count / images.count
        let rowsPerImage = refFeatures.flatRows / images.count
        let std = try #require(l.model.vision).processor.config.std.min() ?? 1
        for (i, name) in images.enumerated() {
            let rgb = try ImageDecoder.decode(path: Fixtures.path("images/" + name))
            let pixels = try l.model.pixelValues(rgb)
            #expect(pixels.count == perImage)
            let ref = UnsafeBufferPointer(start: refPixels.data + i * perImage, count: perImage)
            let dp = maxAbsDiff(UnsafeBufferPointer(pixels.buffer), ref)
            #expect(dp <= 1.0 / 255.0 / std + 1e-6, "pixels differ by \(dp) (\(name))")
            // Features from the reference pixels, so this checks the tower alone.
            let refPix = Tensor(zeros: pixels.shape)
            refPix.data.update(from: refPixels.data + i * perImage, count: perImage)
            let f = try l.model.imageFeatures(pixels: refPix)
            let rf = UnsafeBufferPointer(start: refFeatures.data + i * rowsPerImage * f.columns, count: rowsPerImage * f.columns)
            let df = maxAbsDiff(UnsafeBufferPointer(f.buffer), rf)
            #expect(df < 1e-4, "image features differ by \(df)")
            print("parity \(c) image \(name): pixels \(dp), features \(df)")
        }
    }

    /// Features of the reference pixel values, one tensor per image.
    func referenceFeatures(_ l: Loaded, _ c: Case) throws -> [Tensor] {
        let (_, images) = try #require(l.prompts[c.name])
        if images.isEmpty { return [] }
        let refPixels = try l.reference.tensor("\(c.name).pixel_values")
        let per = refPixels.count / images.count
        let side = try #require(l.model.vision).tower.config.imageSize
        return try (0..<images.count).map { i in
            let p = Tensor(zeros: [3, side, side])
            p.data.update(from: refPixels.data + i * per, count: per)
            return try l.model.imageFeatures(pixels: p)
        }
    }

    @Test(arguments: parityCases)
    func logitsWithin1e4(_ c: Case) throws {
        let l = try Loaded.get(c.model)
        let ids = try l.reference.integers("\(c.name).input_ids")
        let x = try l.model.embeddings(ids: ids, imageFeatures: try referenceFeatures(l, c))
        let cache = KVCache(config: l.model.language.config, capacity: ids.count)
        let logits = l.model.language.logits(try l.model.language.forward(x, cache: cache))
        let ref = try l.reference.tensor("\(c.name).logits")
        #expect(logits.shape == ref.shape)
        let d = maxAbsDiff(UnsafeBufferPointer(logits.buffer), UnsafeBufferPointer(ref.buffer))
        #expect(d < 1e-4, "logits differ by \(d)")
        print("parity \(c): logits max abs diff \(d)")
    }

    @Test(arguments: parityCases)
    func greedyTokensIdentical(_ c: Case) throws {
        let l = try Loaded.get(c.model)
        let ids = try l.reference.integers("\(c.name).input_ids")
        let gen = Generator(model: l.model)
        let r = try gen.generate(ids: ids, imageFeatures: try referenceFeatures(l, c),
                                 options: GenerationOptions(maxTokens: 16))
        #expect(r.tokenIds == (try l.reference.integers("\(c.name).greedy")))
    }

    @Test func stepwiseDecodeEqualsFullForward() throws {
        let l = try Loaded.get("tiny-gqa-crop")
        let ids = try l.reference.integers("text-only.input_ids")
        let lm = l.model.language
        let full = lm.logits(try lm.forward(try lm.embed(ids), cache: KVCache(config: lm.config, capacity: ids.count)))
        let cache = KVCache(config: lm.config, capacity: ids.count)
        _ = try lm.forward(try lm.embed(Array(ids.prefix(5))), cache: cache)
        var worst: Float = 0
        for t in 5..<ids.count {
            let step = lm.logits(try lm.forward(try lm.embed([ids[t]]), cache: cache))
            let row = UnsafeBufferPointer(start: full.data + t * full.columns, count: full.columns)
            worst = max(worst, maxAbsDiff(UnsafeBufferPointer(step.buffer), row))
        }
        #expect(worst < 1e-5)
    }
}
