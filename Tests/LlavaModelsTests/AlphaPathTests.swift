// Transparency per loading path, as each path's reference treats it: a llava-hf folder composites over white
// (transformers' convert_to_rgb; pixel values equal HF's processor on an RGBA PNG), a GGUF pair drops alpha
// (llama.cpp's mtmd decodes with stb_image asking for 3 channels) and so does the original release's layout
// (its loader's Image.open(f).convert("RGB")): there, the RGBA image gives the pixel values of its RGB alone.
import Foundation
import LlavaFormats
import LlavaModels
import LlavaTensor
import LlavaVision
import Testing

@Suite struct AlphaPathTests {
    func rgba() throws -> RGBImage {
        let image = try ImageDecoder.decode(path: Fixtures.path("images/coffee-rgba.png"))
        try #require(image.alpha != nil)
        return image
    }

    func opaque(_ image: RGBImage) -> RGBImage { RGBImage(width: image.width, height: image.height, pixels: image.pixels) }

    func same(_ a: Tensor, _ b: Tensor) -> Bool {
        a.shape == b.shape && maxAbsDiff(UnsafeBufferPointer(a.buffer), UnsafeBufferPointer(b.buffer)) == 0
    }

    @Test func llavaHFFolderCompositesAsTransformers() throws {
        let model = try CheckpointLoader.loadLlavaHF(folder: Fixtures.path("tiny-gqa-crop"))
        let pixels = try model.pixelValues(try rgba())
        let ref = try SafetensorsFile(path: Fixtures.path("alpha.safetensors")).tensor("coffee-rgba.png.tiny-gqa-crop")
        #expect(pixels.shape == ref.shape)
        #expect(maxAbsDiff(UnsafeBufferPointer(pixels.buffer), UnsafeBufferPointer(ref.buffer)) <= 1e-6)
        #expect(!same(pixels, try model.pixelValues(opaque(try rgba()))))
    }

    @Test func ggufPairDropsAlphaAsMtmd() throws {
        let (lm, mm) = try convert("tiny-gqa-crop", type: .f32)
        let model = try CheckpointLoader.loadGGUF(model: lm.path, mmproj: mm.path)
        #expect(model.vision?.processor.config.compositeAlpha == false)
        #expect(same(try model.pixelValues(try rgba()), try model.pixelValues(opaque(try rgba()))))
    }

    @Test func originalLayoutDropsAlphaAsItsLoader() throws {
        let root = Fixtures.root.appendingPathComponent("original-llava")
        let model = try CheckpointLoader.loadOriginal(folder: root.appendingPathComponent("llava-v1.5-tiny").path,
                                                      visionTower: root.appendingPathComponent("clip-vit-tiny").path)
        #expect(model.vision?.processor.config.compositeAlpha == false)
        #expect(same(try model.pixelValues(try rgba()), try model.pixelValues(opaque(try rgba()))))
    }
}
