// The same checkpoint written in the other name spelling (model.language_model.*, model.vision_tower.*,
// model.multi_modal_projector.*, lm_head.*) and with F16 weights loads to the same numbers;
// a single-linear (LLaVA v1) projector computes W x + b.
import Foundation
import LlavaFormats
import LlavaModels
import LlavaTensor
import Testing

@Suite struct SpellingTests {
    /// Copies a fixture folder, rewriting its weights through `rename` in `dtype`.
    func rewrite(_ name: String, dtype: DType, rename: (String) -> String?) throws -> URL {
        let src = Fixtures.llavaHF.appendingPathComponent(name)
        let dst = FileManager.default.temporaryDirectory.appendingPathComponent("spelling-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dst, withIntermediateDirectories: true)
        for f in try FileManager.default.contentsOfDirectory(atPath: src.path) where !f.hasSuffix(".safetensors") && f != "model.safetensors.index.json" {
            try FileManager.default.copyItem(at: src.appendingPathComponent(f), to: dst.appendingPathComponent(f))
        }
        let store = try WeightStore(folder: src.path)
        var entries: [SafetensorsEntry] = []
        for canon in store.names {
            guard let newName = rename(canon) else { continue }
            let t = try store.tensor(canon)
            if dtype == .f16 {
                let bits = t.scalars.map { HalfFloat.f32ToF16($0).littleEndian }
                entries.append(bits.withUnsafeBufferPointer { SafetensorsEntry(name: newName, dtype: .f16, shape: t.shape, bytes: Data(buffer: $0)) })
            } else {
                entries.append(.float32(newName, t))
            }
        }
        try SafetensorsWriter.write(entries, to: dst.appendingPathComponent("model.safetensors"))
        return dst
    }

    func logits(_ folder: String) throws -> Tensor {
        let m = try CheckpointLoader.loadLlavaHF(folder: folder)
        let ref = try SafetensorsFile(path: Fixtures.path("tiny-gqa-crop.safetensors"))
        let ids = try ref.integers("one-image.input_ids")
        let pixels = try ref.tensor("one-image.pixel_values").reshaped([3, 32, 32])
        let x = try m.embeddings(ids: ids, imageFeatures: [try m.imageFeatures(pixels: pixels)])
        return m.language.logits(try m.language.forward(x, cache: KVCache(config: m.language.config, capacity: ids.count)))
    }

    @Test func transformers5ModelPrefixSpellingLoadsTheSameNumbers() throws {
        let dir = try rewrite("tiny-gqa-crop", dtype: .f32) { n in
            if n.hasPrefix("language_model.model.") { return "model.language_model." + n.dropFirst("language_model.model.".count) }
            if n.hasPrefix("language_model.lm_head.") { return "lm_head." + n.dropFirst("language_model.lm_head.".count) }
            if n.hasPrefix("vision_tower.vision_model.") { return "model.vision_tower." + n.dropFirst("vision_tower.vision_model.".count) }
            return "model." + n
        }
        let a = try logits(dir.path), b = try SafetensorsFile(path: Fixtures.path("tiny-gqa-crop.safetensors")).tensor("one-image.logits")
        #expect(maxAbsDiff(UnsafeBufferPointer(a.buffer), UnsafeBufferPointer(b.buffer)) < 1e-4)
    }

    @Test func f16WeightsLoad() throws {
        let dir = try rewrite("tiny-gqa-crop", dtype: .f16) { $0 }
        let a = try logits(dir.path), b = try SafetensorsFile(path: Fixtures.path("tiny-gqa-crop.safetensors")).tensor("one-image.logits")
        // f16 rounding of the weights moves logits a little, never far.
        let d = maxAbsDiff(UnsafeBufferPointer(a.buffer), UnsafeBufferPointer(b.buffer))
        #expect(d > 0 && d < 0.05, "f16 logits differ by \(d)")
    }

    @Test func missingTensorIsNamed() throws {
        let dir = try rewrite("tiny-gqa-crop", dtype: .f32) { $0.contains("layers.1.mlp.down_proj") ? nil : $0 }
        #expect(throws: SafetensorsError.self) { try CheckpointLoader.loadLlavaHF(folder: dir.path) }
    }

    @Test func v1LinearProjector() throws {
        let dir = try rewrite("tiny-gqa-crop", dtype: .f32) { $0.contains("linear_2") ? nil : $0 }
        // linear_1 maps vision width (32) to text width (64): usable on its own as v1's projector.
        let m = try CheckpointLoader.loadLlavaHF(folder: dir.path)
        #expect(try #require(m.vision).projector.kind == .linear)
        let store = try WeightStore(folder: dir.path)
        let w = try store.tensor("multi_modal_projector.linear_1.weight"), b = try store.tensor("multi_modal_projector.linear_1.bias")
        let x = Tensor(shape: [1, 32], values: (0..<32).map { Float($0) / 32 })
        let projector = try #require(m.vision).projector
        let y = projector(x)
        var expected = [Float](repeating: 0, count: 64)
        for o in 0..<64 { expected[o] = b[flat: o]; for i in 0..<32 { expected[o] += w[flat: o * 32 + i] * x[flat: i] } }
        #expect(zip(y.scalars, expected).allSatisfy { abs($0 - $1) < 1e-5 })
    }
}
