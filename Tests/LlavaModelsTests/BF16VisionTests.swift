// The opt-in bf16 vision path (oneDNN, AVX512-BF16) against HF transformers: its image features may be no further
// from the float32 features than PyTorch's own bf16 run of the same model is (Tools/make_bf16_fixtures.py), with a
// margin of 2x for rounding in other places; and the path really runs (its features are not the f32 ones).
import Foundation
import LlavaFormats
import LlavaModels
import LlavaTensor
import Testing

@Suite("bf16 vision path")
struct BF16VisionTests {
    /// Where bf16 products cannot run (no oneDNN, no AVX512-BF16, or a lower CPU level in force) asking for them is a
    /// typed error naming what is missing — checked on every machine, at the avx2 level here.
    @Test func refusedWhereItCannotRun() throws {
        let f32 = try CheckpointLoader.loadLlavaHF(folder: Fixtures.path(Fixtures.models[0]))
        try CPULevel.with(.avx2) {
            #expect(!BF16Matrix.isAvailable)
            #expect(BF16Matrix(Tensor(zeros: [8, 16]), tokens: 2) == nil)
            let error = try #require(throws: ModelError.self) { try f32.with(visionPrecision: .bf16) }
            #expect("\(error)".contains("AVX512-BF16"))
        }
    }

    /// Runs where the CPU has AVX512-BF16 (and oneDNN is linked); where it has not, the test above is what applies and
    /// this one has nothing to measure, so it is not run (it is disabled, not passed).
    @Test(.enabled(if: BF16Matrix.isAvailable, "needs AVX512-BF16 and oneDNN"), arguments: Fixtures.models)
    func featuresAsCloseToF32AsPyTorchBF16(_ name: String) throws {
        let f32 = try CheckpointLoader.loadLlavaHF(folder: Fixtures.path(name))
        let model = try f32.with(visionPrecision: .bf16)
        let ref = try SafetensorsFile(path: Fixtures.path(name + ".safetensors"))
        let torchBF16 = try SafetensorsFile(path: Fixtures.path(name + ".bf16.safetensors")).tensor("one-image.image_features")
        let vision = try #require(model.vision)
        let side = vision.tower.config.imageSize
        let pixels = try ref.tensor("one-image.pixel_values").reshaped([3, side, side])
        let ours = try model.imageFeatures(pixels: pixels)
        let reference = try ref.tensor("one-image.image_features")
        func relative(_ a: Tensor) -> Float {
            maxAbsDiff(UnsafeBufferPointer(a.buffer), UnsafeBufferPointer(reference.buffer)) / reference.buffer.map(abs).max()!
        }
        let oursError = relative(ours), torchError = relative(torchBF16)
        print("bf16 vision \(name): ours \(oursError), PyTorch bf16 \(torchError) (relative to the f32 features' largest value)")
        #expect(oursError <= 2 * torchError, "bf16 features \(oursError) from f32, PyTorch's bf16 \(torchError)")
        #expect(oursError > 0, "the bf16 path did not run")
        let f32Features = try f32.imageFeatures(pixels: pixels)
        #expect(maxAbsDiff(UnsafeBufferPointer(f32Features.buffer), UnsafeBufferPointer(reference.buffer)) < 1e-4)
    }

    /// A bf16 matrix built for a row count takes any other: whole pieces exactly as a run of that count gives them,
    /// a short piece padded; all within bf16's rounding of the float32 product.
    @Test(.enabled(if: BF16Matrix.isAvailable, "needs AVX512-BF16 and oneDNN"))
    func anyRowCount() throws {
        var rng = SplitMix64(seed: 4)
        func values(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Double(rng.next() % 2001) / 1000 - 1) } }
        let w = Tensor(shape: [48, 64], values: values(48 * 64)), bias = Tensor(shape: [48], values: values(48))
        let m = try #require(BF16Matrix(w, tokens: 4))
        let x = Tensor(shape: [9, 64], values: values(9 * 64))
        let y = m.apply(x, bias: bias)
        #expect(y.shape == [9, 48])
        let head = m.apply(Tensor(shape: [4, 64], values: Array(x.scalars.prefix(4 * 64))), bias: bias)
        #expect(y.scalars.prefix(4 * 48) == head.scalars[...])
        let exact = Ops.linear(x, w, bias)
        let worst = zip(y.scalars, exact.scalars).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 0.1 && worst > 0, "bf16 vs f32: \(worst)")
        let one = m.apply(Tensor(shape: [1, 64], values: Array(x.scalars.suffix(64))), bias: bias)
        #expect(one.scalars[...] == y.scalars.suffix(48))
    }
}
