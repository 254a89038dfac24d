// Decoding matches PIL's Image.open(f).convert("RGB") byte for byte on JPEG (4:2:0, 4:4:4, gray)
// and PNG (RGB, RGBA, palette, gray, gray+alpha, 16-bit gray and RGB); broken files are errors.
import Foundation
import LlavaFormats
import LlavaVision
import Testing

let visionFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/llava-hf")

let imageNames = ["astronaut-16.png", "astronaut.png", "camera-16.png", "camera-gray.jpg", "camera-gray.png",
                  "camera-la.png", "chelsea.jpg", "coffee-palette.png", "coffee-rgba.png", "rocket-444.jpg"]

@Suite struct ImageDecoderTests {
    @Test(arguments: imageNames)
    func decodesLikePIL(_ name: String) throws {
        let ref = try SafetensorsFile(path: visionFixtures.appendingPathComponent("images.safetensors").path)
        let info = try #require(ref.tensors[name])
        let expected = [UInt8](ref.file.bytes(info.offset, info.byteCount))
        let image = try ImageDecoder.decode(path: visionFixtures.appendingPathComponent("images/" + name).path)
        #expect([image.height, image.width, 3] == info.shape)
        var differing = 0, worst = 0
        for i in 0..<min(expected.count, image.pixels.count) where expected[i] != image.pixels[i] {
            differing += 1
            worst = max(worst, abs(Int(expected[i]) - Int(image.pixels[i])))
        }
        #expect(differing == 0, "\(name): \(differing) samples differ, worst by \(worst)")
    }

    func temp(_ bytes: [UInt8], _ ext: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("img-\(UUID().uuidString).\(ext)")
        try Data(bytes).write(to: url)
        return url.path
    }

    @Test func truncatedJPEGIsAnError() throws {
        let full = [UInt8](try Data(contentsOf: visionFixtures.appendingPathComponent("images/chelsea.jpg")))
        let path = try temp(Array(full.prefix(full.count / 2)), "jpg")
        #expect(throws: ImageError.corrupt(path, "file is truncated")) { try ImageDecoder.decode(path: path) }
    }

    @Test func truncatedAndCorruptPNGAreErrors() throws {
        let full = [UInt8](try Data(contentsOf: visionFixtures.appendingPathComponent("images/astronaut.png")))
        let cut = try temp(Array(full.prefix(full.count / 2)), "png")
        #expect(throws: ImageError.self) { try ImageDecoder.decode(path: cut) }
        var flipped = full
        for i in 40..<80 { flipped[i] ^= 0x5A }
        let bad = try temp(flipped, "png")
        #expect(throws: ImageError.self) { try ImageDecoder.decode(path: bad) }
    }

    @Test func textFileIsNotAnImage() throws {
        let path = try temp(Array("this is not a picture\n".utf8), "jpg")
        #expect(throws: ImageError.unknownFormat(path)) { try ImageDecoder.decode(path: path) }
        #expect(throws: ImageError.notFound("/nonexistent.png")) { try ImageDecoder.decode(path: "/nonexistent.png") }
        let empty = try temp([], "png")
        #expect(throws: ImageError.unknownFormat(empty)) { try ImageDecoder.decode(path: empty) }
    }

    @Test func jpegHeaderWithGarbageBodyIsAnError() throws {
        let path = try temp([0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 0x41, count: 200), "jpg")
        #expect(throws: ImageError.self) { try ImageDecoder.decode(path: path) }
    }
}
