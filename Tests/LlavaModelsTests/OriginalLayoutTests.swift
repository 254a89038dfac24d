// The original LLaVA release layout (Tools/make_original_llava_fixture.py): LLaMA checkpoint with mm_* keys
// and model.mm_projector.{0,2}, SentencePiece tokenizer.model, CLIP tower in its own folder. The prompt is
// conv llava_v1 with LLaVA's chunk-by-chunk tokenisation; numbers are HF transformers' on the same weights.
import Foundation
import LlavaFormats
import LlavaGeneration
import LlavaModels
import LlavaTensor
import LlavaTokenizer
import LlavaVision
import Testing

@Suite struct OriginalLayoutTests {
    static let root = Fixtures.root.appendingPathComponent("original-llava")

    func load() throws -> LlavaModel {
        try CheckpointLoader.loadOriginal(folder: Self.root.appendingPathComponent("llava-v1.5-tiny").path,
                                         visionTower: Self.root.appendingPathComponent("clip-vit-tiny").path)
    }

    @Test func promptIdsPixelsLogitsAndGreedyTokens() throws {
        let model = try load()
        let ref = try SafetensorsFile(path: Self.root.appendingPathComponent("reference.safetensors").path)
        let prompt = model.prompt(user: ref.metadata["question"] ?? "", system: nil, images: 1, raw: false)
        #expect(prompt == ref.metadata["prompt"])
        let ids = try model.tokenize(prompt, images: 1)
        let refIds = try ref.integers("input_ids").map { $0 == -200 ? model.imagePlaceholder : $0 }
        #expect(ids == refIds)
        let rgb = try ImageDecoder.decode(path: Fixtures.path("images/chelsea.jpg"))
        let pixels = try model.pixelValues(rgb)
        let refPixels = try ref.tensor("pixel_values")
        #expect(maxAbsDiff(UnsafeBufferPointer(pixels.buffer), UnsafeBufferPointer(refPixels.buffer)) < 1e-6)
        let features = try model.imageFeatures(pixels: pixels)
        let x = try model.embeddings(ids: ids, imageFeatures: [features])
        let logits = model.language.logits(try model.language.forward(x, cache: KVCache(config: model.language.config, capacity: ids.count)))
        let d = maxAbsDiff(UnsafeBufferPointer(logits.buffer), UnsafeBufferPointer(try ref.tensor("logits").buffer))
        #expect(d < 1e-4, "logits differ by \(d)")
        print("original layout: logits max abs diff \(d)")
        let r = try Generator(model: model).generate(prompt: prompt, images: [rgb], options: GenerationOptions(maxTokens: 16))
        #expect(r.tokenIds == (try ref.integers("greedy")))
    }

    @Test func withoutTheVisionTowerItSaysWhatToPass() throws {
        let folder = Self.root.appendingPathComponent("llava-v1.5-tiny").path
        #expect(throws: LoadError.needsVisionTower(config: folder + "/config.json", tower: "clip-vit-tiny")) {
            try LlavaModel.load(folder)
        }
    }

    @Test func corruptSentencePieceModelIsAnError() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).model")
        try Data([0x0A, 0xFF, 0xFF, 0x01]).write(to: url)
        #expect(throws: TokenizerError.self) { try SentencePieceModel.load(path: url.path) }
    }

    /// Found by fuzzing (scripts/fuzz.sh sentencepiece): a piece whose type varint is 2^64 - 1 trapped converting it
    /// to Int. The type is an int32 enum in sentencepiece_model.proto, read as protobuf does (low 32 bits); a value
    /// that names no type is a normal piece.
    @Test func aPieceTypeBeyondInt32IsReadAsProtobufDoes() throws {
        func piece(_ text: String, type: [UInt8]) -> [UInt8] {
            let inner = [0x0A, UInt8(text.utf8.count)] + Array(text.utf8) + [0x18] + type
            return [0x0A, UInt8(inner.count)] + inner
        }
        let huge: [UInt8] = Array(repeating: 0xFF, count: 9) + [0x01]
        let bytes = piece("<unk>", type: [2]) + piece("<s>", type: [3]) + piece("</s>", type: [3]) + piece("a", type: huge)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("huge-type-\(UUID().uuidString).model")
        try Data(bytes).write(to: url)
        let tok = try SentencePieceModel.load(path: url.path)
        #expect(tok.tokens == ["<unk>", "<s>", "</s>", "a"])
        #expect(tok.types == [.unknown, .control, .control, .normal])
    }
}

