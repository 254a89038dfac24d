// `llava convert` round trips: the GGUF pair it writes from a llava-hf folder gives the folder's
// numbers (image features to 1e-4, logits to the f16 KV cache's precision, HF's greedy tokens), and
// llama.cpp itself loads the files: our run of them gives llama.cpp's tokens
// (recorded by Tools/make_convert_fixtures.py) for f32, f16, q8_0 and q4_0 language models.
import Foundation
import LlavaFormats
import LlavaGeneration
import LlavaModels
import LlavaTensor
import LlavaTokenizer
import Testing

struct ConvertCase: Sendable, CustomStringConvertible {
    let model: String, type: String, prompt: String
    let promptTokens: [Int], greedy: [Int]
    var description: String { "\(model) \(type)" }
}

let convertCases: [ConvertCase] = {
    let url = Fixtures.root.appendingPathComponent("llamacpp/converted.json")
    guard let d = FileManager.default.contents(atPath: url.path), let j = try? JSONValue.parse(d) else { return [] }
    return (j.array ?? []).map { c in
        ConvertCase(model: c["model"]?.string ?? "", type: c["type"]?.string ?? "", prompt: c["prompt"]?.string ?? "",
                    promptTokens: c["prompt_tokens"]?.array?.compactMap(\.int) ?? [],
                    greedy: c["greedy"]?.array?.compactMap(\.int) ?? [])
    }
}()

func convert(_ model: String, type: GGMLType, visionType: GGMLType = .f16) throws -> (URL, URL) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("convert-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let lm = dir.appendingPathComponent("lm.gguf"), mm = dir.appendingPathComponent("mmproj.gguf")
    try Converter.convertLlavaHF(folder: Fixtures.path(model), languageModel: lm, mmproj: mm, type: type, visionType: visionType)
    return (lm, mm)
}

@Suite struct ConvertTests {
    static let types: [String: GGMLType] = ["f32": .f32, "f16": .f16, "q8_0": .q8_0, "q4_0": .q4_0]

    @Test func fixturesPresent() { #expect(convertCases.count == 12) }

    @Test(arguments: convertCases)
    func llamaCppTokensOnConvertedFiles(_ c: ConvertCase) throws {
        let (lm, mm) = try convert(c.model, type: try #require(Self.types[c.type]))
        let model = flashOff(try CheckpointLoader.loadGGUF(model: lm.path, mmproj: mm.path))   // recorded -fa off
        let tok = try #require(model.tokenizer as? GGUFTokenizer)
        #expect(tok.encode(c.prompt, addSpecialTokens: true, parseSpecial: false) == c.promptTokens)
        let r = try Generator(model: model).generate(ids: c.promptTokens, imageFeatures: [],
                                                     options: GenerationOptions(maxTokens: c.greedy.count))
        #expect(r.tokenIds == c.greedy)
    }

    @Test(arguments: Fixtures.models)
    func roundTripGivesTheFoldersNumbers(_ name: String) throws {
        let (lm, mm) = try convert(name, type: .f32, visionType: .f32)
        let model = try CheckpointLoader.loadGGUF(model: lm.path, mmproj: mm.path)
        let ref = try SafetensorsFile(path: Fixtures.path(name + ".safetensors"))
        let vision = try #require(model.vision)
        let side = vision.tower.config.imageSize
        let pixels = try ref.tensor("one-image.pixel_values").reshaped([3, side, side])
        let features = try model.imageFeatures(pixels: pixels)
        let refFeatures = try ref.tensor("one-image.image_features")
        let df = maxAbsDiff(UnsafeBufferPointer(features.buffer), UnsafeBufferPointer(refFeatures.buffer))
        #expect(df < 1e-4, "features differ by \(df)")
        // Image positions: the GGUF vocabulary has no image token, so placeholders stand there.
        let hfImageToken = try ref.integers("one-image.input_ids").first { $0 >= model.language.config.vocabSize - 2 }
        let ids = try ref.integers("one-image.input_ids").map { $0 == hfImageToken ? model.imagePlaceholder : $0 }
        let x = try model.embeddings(ids: ids, imageFeatures: [features])
        let logits = model.language.logits(try model.language.forward(x, cache: KVCache(config: model.language.config, capacity: ids.count)))
        let dl = maxAbsDiff(UnsafeBufferPointer(logits.buffer), UnsafeBufferPointer(try ref.tensor("one-image.logits").buffer))
        #expect(dl < 2e-2, "logits differ by \(dl)")   // llama.cpp numerics: K, V and probabilities in f16
        print("convert round trip \(name): features \(df), logits \(dl)")
        let r = try Generator(model: model).generate(ids: ids, imageFeatures: [features], options: GenerationOptions(maxTokens: 16))
        #expect(r.tokenIds == (try ref.integers("one-image.greedy")))
    }

    @Test func permutationMatchesLlamaCppsConverter() {
        // 1 head, head_dim 4: rows (h0: 0 1 | 2 3) -> 0 2 1 3
        let w = Tensor(shape: [4, 1], values: [0, 1, 2, 3])
        #expect(Converter.permuteForRope(w, heads: 1).scalars == [0, 2, 1, 3])
    }

    @Test func refusesUnknownTypes() throws {
        let dir = FileManager.default.temporaryDirectory
        #expect(throws: ConfigError.self) {
            try Converter.convertLlavaHF(folder: Fixtures.path("tiny-gqa-crop"), languageModel: dir.appendingPathComponent("a.gguf"),
                                         mmproj: dir.appendingPathComponent("b.gguf"), type: .q6_K)
        }
    }
}
