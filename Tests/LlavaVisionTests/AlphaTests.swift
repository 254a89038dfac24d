// Transparent PNGs (RGBA, gray+alpha, palette with tRNS, gray and RGB with a tRNS key) decoded as each reference
// sees them (Tools/make_alpha_fixtures.py, transformers 5.24 + Pillow 13): the RGB pixels are PIL's
// convert("RGB") (what llama.cpp's mtmd and the original LLaVA use), the composite over white is transformers'
// convert_to_rgb byte for byte, and a llava-hf folder's processor output equals HF's PIL-backend processor's.
import Foundation
import LlavaFormats
import LlavaVision
import Testing

let alphaImageNames = ["coffee-rgba.png", "camera-la-alpha.png", "coffee-palette-trns.png", "camera-gray-trns.png",
                       "astronaut-rgb-trns.png"]

@Suite struct AlphaTests {
    static let reference = Result { try SafetensorsFile(path: visionFixtures.appendingPathComponent("alpha.safetensors").path) }

    func bytes(_ key: String) throws -> [UInt8] {
        let ref = try Self.reference.get()
        let info = try #require(ref.tensors[key], "\(key) missing from alpha.safetensors")
        return [UInt8](ref.file.bytes(info.offset, info.byteCount))
    }

    func decode(_ name: String) throws -> RGBImage {
        try ImageDecoder.decode(path: visionFixtures.appendingPathComponent("images/" + name).path)
    }

    @Test(arguments: alphaImageNames)
    func rgbIsPILsConvertAndTheCompositeIsTransformers(_ name: String) throws {
        let image = try decode(name)
        #expect(image.alpha != nil, "\(name): the transparency was lost")
        #expect(image.alpha?.contains { $0 < 255 } == true, "\(name): no pixel is transparent")
        #expect(image.pixels == (try bytes(name + ".rgb")), "\(name): RGB differs from PIL's convert(\"RGB\")")
        let hf = try bytes(name + ".hf")
        let composite = image.compositedOverWhite()
        #expect(composite.alpha == nil)
        let differing = zip(composite.pixels, hf).filter { $0 != $1 }.count
        #expect(composite.pixels.count == hf.count && differing == 0, "\(name): \(differing) samples differ from HF")
        #expect(composite.pixels != image.pixels, "\(name): compositing changed nothing, the fixture proves nothing")
    }

    @Test(arguments: alphaImageNames, ["tiny-gqa-crop", "tiny-dinov2"])
    func processorMatchesHF(_ name: String, _ folder: String) throws {
        let json = try JSONValue.parse(try Data(contentsOf: visionFixtures.appendingPathComponent(folder + "/preprocessor_config.json")))
        let config = try ImageProcessorConfig(json: json)
        #expect(config.compositeAlpha)
        let pixels = CLIPImageProcessor(config: config).process(try decode(name))
        let ref = try Self.reference.get().tensor("\(name).\(folder)")
        #expect(pixels.shape == ref.shape)
        var worst: Float = 0
        for i in 0..<min(pixels.count, ref.count) { worst = max(worst, abs(pixels.data[i] - ref.data[i])) }
        #expect(worst <= 1e-6, "\(name) through \(folder): pixel values differ from HF's by \(worst)")
        // Without compositing the same image is far off: the fixture tells the two apart.
        var dropped = config
        dropped.compositeAlpha = false
        let plain = CLIPImageProcessor(config: dropped).process(try decode(name))
        var apart: Float = 0
        for i in 0..<min(plain.count, ref.count) { apart = max(apart, abs(plain.data[i] - ref.data[i])) }
        #expect(apart > 0.1)
    }

    @Test func opaqueImagesCarryNoAlphaAndCompositingLeavesThemAlone() throws {
        let jpeg = try decode("chelsea.jpg")
        #expect(jpeg.alpha == nil)
        #expect(jpeg.compositedOverWhite() == jpeg)
        let rgb = try decode("astronaut.png")
        #expect(rgb.alpha == nil)
    }
}
