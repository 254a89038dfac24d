// safetensors reading and writing, and every way a file can lie: each is a typed error, not a crash.
import Foundation
import LlavaFormats
import LlavaTensor
import Testing

func tempURL(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)-\(name)")
}

/// A file with the given header JSON and data bytes.
func craft(_ header: String, data: [UInt8]) throws -> String {
    var bytes = [UInt8]()
    let h = Array(header.utf8)
    withUnsafeBytes(of: UInt64(h.count).littleEndian) { bytes.append(contentsOf: $0) }
    bytes += h + data
    let url = tempURL("x.safetensors")
    try Data(bytes).write(to: url)
    return url.path
}

@Suite struct SafetensorsTests {
    @Test func roundTripF32AndI64() throws {
        let url = tempURL("rt.safetensors")
        try SafetensorsWriter.write([.float32("a", shape: [2, 2], [1, 2, 3, 4]), .int64("ids", shape: [3], [7, -1, 9])],
                                    metadata: ["format": "pt"], to: url)
        let f = try SafetensorsFile(path: url.path)
        #expect(try f.tensor("a").scalars == [1, 2, 3, 4])
        #expect(try f.tensor("a").shape == [2, 2])
        #expect(try f.integers("ids") == [7, -1, 9])
        #expect(f.metadata["format"] == "pt")
        // Writing again replaces the file.
        try SafetensorsWriter.write([.float32("b", shape: [1], [5])], to: url)
        #expect(try SafetensorsFile(path: url.path).tensor("b").scalars == [5])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
            .filter { $0.contains(".tmp-") && $0.contains(url.lastPathComponent) }
        #expect(leftovers.isEmpty)
    }

    @Test func f16AndBF16Widen() throws {
        // 1.0, -2.0 in f16 (0x3C00, 0xC000) and 0.5 in bf16 (0x3F00)
        let p = try craft(#"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}}"#,
                          data: [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x3F])
        let f = try SafetensorsFile(path: p)
        #expect(try f.tensor("h").scalars == [1, -2])
        #expect(try f.tensor("b").scalars == [0.5])
    }

    @Test func halfConversionsRoundTrip() {
        for v: Float in [0, 1, -1, 0.1, 65504, 6e-8, -3.14159] {
            let back = HalfFloat.f16ToF32(HalfFloat.f32ToF16(v))
            #expect(abs(back - v) <= abs(v) * 1e-3 + 6e-8)
        }
        #expect(HalfFloat.bf16ToF32(HalfFloat.f32ToBF16(1.5)) == 1.5)
    }

    @Test func lyingFilesAreTypedErrors() throws {
        let tooShort = tempURL("short"); try Data([1, 2, 3]).write(to: tooShort)
        #expect(throws: SafetensorsError.tooSmall(tooShort.path, 3)) { try SafetensorsFile(path: tooShort.path) }

        var absurd = [UInt8](); withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { absurd.append(contentsOf: $0) }
        let absurdURL = tempURL("absurd"); try Data(absurd + [0x7b, 0x7d]).write(to: absurdURL)
        #expect(throws: SafetensorsError.badHeaderLength(absurdURL.path, 1 << 40, 10)) { try SafetensorsFile(path: absurdURL.path) }

        let notJSON = try craft("{nope", data: [])
        #expect(throws: SafetensorsError.badHeader(notJSON, "header is not JSON")) { try SafetensorsFile(path: notJSON) }

        let outOfRange = try craft(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: [0, 0, 0, 0])
        #expect(throws: SafetensorsError.self) { try SafetensorsFile(path: outOfRange) }

        let sizeLie = try craft(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))
        #expect(throws: SafetensorsError.self) { try SafetensorsFile(path: sizeLie) }

        let unknown = try craft(#"{"w":{"dtype":"F8_E9","shape":[1],"data_offsets":[0,1]}}"#, data: [0])
        #expect(throws: SafetensorsError.unknownDType(unknown, "w", "F8_E9")) { try SafetensorsFile(path: unknown) }

        let negative = try craft(#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        #expect(throws: SafetensorsError.self) { try SafetensorsFile(path: negative) }

        #expect(throws: FileError.notFound("/no/such/file.safetensors")) { try SafetensorsFile(path: "/no/such/file.safetensors") }

        // 2^39 x 2^23 elements fit an Int, their 4-byte size does not: an error, not an overflow trap.
        let huge = try craft(#"{"w":{"dtype":"F32","shape":[549755813888,8388608],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        #expect(throws: SafetensorsError.badTensor(huge, "w", "shape [549755813888, 8388608] of F32 overflows")) {
            try SafetensorsFile(path: huge)
        }
    }

    @Test func truncatedRealFileIsAnError() throws {
        let url = tempURL("big.safetensors")
        try SafetensorsWriter.write([.float32("a", shape: [64], [Float](repeating: 1, count: 64))], to: url)
        let d = try Data(contentsOf: url)
        try d.prefix(d.count - 10).write(to: url)
        #expect(throws: SafetensorsError.self) { try SafetensorsFile(path: url.path) }
    }
}
