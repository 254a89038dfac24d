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

    /// A PNG declaring width x height (8-bit RGB) with correct CRCs: IHDR, one small IDAT of zeros (deflate), IEND;
    /// the few hundred bytes a decompression bomb is (its IDAT would inflate to the declared size).
    static func pngBomb(width: UInt32, height: UInt32) -> [UInt8] {
        func be(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(v >> (24 - 8 * UInt32($0)) & 0xFF) } }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            var crc: UInt32 = 0xFFFF_FFFF   // CRC-32 (IEEE), bit by bit
            for byte in body {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            return be(UInt32(data.count)) + body + be(~crc)
        }
        let zeros: [UInt8] = [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]   // zlib of one 0 byte
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        return signature + chunk("IHDR", be(width) + be(height) + [8, 2, 0, 0, 0]) + chunk("IDAT", zeros)
            + chunk("IEND", [])
    }

    @Test func imagesDeclaringTooManyPixelsAreRefusedBeforeDecoding() throws {
        // 100000 x 100000 RGB would take 30 GB: refused from the header, by the default limit (PIL's).
        let bomb = Data(Self.pngBomb(width: 100_000, height: 100_000))
        #expect(throws: ImageError.tooLarge("bomb", 100_000, 100_000, ImageDecoder.defaultMaxPixels)) {
            try ImageDecoder.decode(data: bomb, name: "bomb")
        }
        // A real 20 x 10 image in both formats: within a 200-pixel limit it decodes, under it it is refused.
        let small = RGBImage(width: 20, height: 10, pixels: (0..<600).map { UInt8($0 % 251) })
        for format in [ImageFileFormat.png, .jpeg] {
            let data = try ImageEncoder.encode(small, format: format)
            #expect(try ImageDecoder.decode(data: data, maxPixels: 200).width == 20)
            #expect(throws: ImageError.tooLarge("x", 20, 10, 199)) {
                try ImageDecoder.decode(data: data, name: "x", maxPixels: 199)
            }
        }
    }
}
