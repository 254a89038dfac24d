// GGUF reading against llama.cpp's own gguf-py (Tools/make_gguf_fixtures.py): metadata of every
// value type, each block format dequantised bit-identically, our quantisers byte-identical to
// ggml's reference ones; and crafted files that lie, each a typed error.
import Foundation
import LlavaFormats
import LlavaTensor
import Testing

let ggufFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/gguf")

@Suite struct GGUFTests {
    static let blockTypes = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]

    func open() throws -> (GGUFFile, SafetensorsFile) {
        (try GGUFFile(path: ggufFixtures.appendingPathComponent("blocks.gguf").path),
         try SafetensorsFile(path: ggufFixtures.appendingPathComponent("blocks.safetensors").path))
    }

    @Test func metadataOfEveryType() throws {
        let (g, _) = try open()
        #expect(g.version == 3)
        let m = g.metadata
        #expect(m["test.u8"] == .u8(200) && m["test.i8"] == .i8(-100))
        #expect(m["test.u16"] == .u16(60000) && m["test.i16"] == .i16(-30000))
        #expect(m["test.u32"] == .u32(4_000_000_000) && m["test.i32"] == .i32(-2_000_000_000))
        #expect(m["test.u64"] == .u64((1 << 40) + 3) && m["test.i64"] == .i64(-(1 << 40) - 3))
        #expect(m["test.f32"] == .f32(0.15625) && m["test.f64"] == .f64(-2.5e-300))
        #expect(m["test.bool"] == .bool(true) && m["test.string"] == .string("héllo ✨"))
        #expect(m["test.ints"]?.array?.compactMap(\.int) == [1, -2, 3])
        #expect(m["test.strings"]?.array?.compactMap(\.string) == ["a", "bc", ""])
        #expect(m["test.nested"]?.array?.map { $0.array?.compactMap(\.int) ?? [] } == [[1, 2], [3]])
        #expect(m["general.architecture"]?.string == "llama")
    }

    @Test(arguments: blockTypes)
    func dequantisesLikeGGML(_ name: String) throws {
        let (g, ref) = try open()
        let info = try #require(g.tensors["t." + name])
        #expect(info.dims == [512, 2])
        let expected = try ref.tensor("deq." + name)
        let out = Tensor(zeros: [2, 512])
        Dequantize.row(info.type, g.raw(info), out.data, count: 1024)
        var differing = 0
        for i in 0..<1024 where out[flat: i].bitPattern != expected[flat: i].bitPattern { differing += 1 }
        #expect(differing == 0, "\(name): \(differing) values differ")
    }

    @Test(arguments: ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"])
    func quantisesLikeGGMLReference(_ name: String) throws {
        let (g, ref) = try open()
        let info = try #require(g.tensors["t." + name])
        let src = try ref.tensor("src." + name)
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: info.byteCount, alignment: 16)
        defer { bytes.deallocate() }
        Quantize.row(info.type, src.data, bytes, count: 1024)
        let theirs = UnsafeRawBufferPointer(start: g.raw(info), count: info.byteCount)
        let mine = UnsafeRawBufferPointer(start: bytes, count: info.byteCount)
        #expect(Array(mine) == Array(theirs))
    }

    @Test(arguments: ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "F16"])
    func quantisedDotMatchesDequantisedDot(_ name: String) throws {
        let (g, _) = try open()
        let info = try #require(g.tensors["t." + name])
        let m = QuantizedMatrix(type: info.type, rows: 2, cols: 512, data: g.raw(info), owner: g)
        let x = Tensor(shape: [1, 512], values: (0..<512).map { Float(sin(Double($0) * 0.37)) })
        let y = WeightMatrix.quantized(m).apply(x)
        let deq = Tensor(zeros: [2, 512])
        Dequantize.row(info.type, g.raw(info), deq.data, count: 1024)
        for r in 0..<2 {
            var exact: Double = 0, scale: Double = 0
            for i in 0..<512 { exact += Double(deq[flat: r * 512 + i]) * Double(x[flat: i]); scale += abs(Double(deq[flat: r * 512 + i])) }
            // The activation is int8-quantised as ggml does it: about 1/254 of each term's size.
            #expect(abs(Double(y[flat: r]) - exact) < scale / 100, "\(name) row \(r): \(y[flat: r]) vs \(exact)")
        }
    }

    @Test(arguments: [GGMLType.q4_0, .q4_1, .q8_0])
    func batchedKernelsEqualOneRowAtATime(_ type: GGMLType) throws {
        // The prefill tiles (4 rows x 4 tokens) must give each (row, token) exactly what the single-row kernel gives.
        let rows = 10, cols = 512
        let w = Tensor(shape: [rows, cols], values: (0..<(rows * cols)).map { Float(sin(Double($0) * 0.7)) * 0.3 })
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: rows * type.rowBytes(cols), alignment: 64)
        defer { bytes.deallocate() }
        for r in 0..<rows { Quantize.row(type, w.data + r * cols, bytes + r * type.rowBytes(cols), count: cols) }
        let m = WeightMatrix.quantized(QuantizedMatrix(type: type, rows: rows, cols: cols, data: UnsafeRawPointer(bytes), owner: nil))
        let x = Tensor(shape: [9, cols], values: (0..<(9 * cols)).map { Float(cos(Double($0) * 0.013)) })
        let batch = m.apply(x)
        var differing = 0
        for t in 0..<9 {
            let one = m.apply(x.rows(t, 1))
            for r in 0..<rows where one[flat: r].bitPattern != batch[flat: t * rows + r].bitPattern { differing += 1 }
        }
        #expect(differing == 0, "\(type): \(differing) outputs differ")
    }

    func crafted(_ mutate: (inout [UInt8]) -> Void) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: ggufFixtures.appendingPathComponent("blocks.gguf")))
        mutate(&bytes)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("crafted-\(UUID().uuidString).gguf")
        try Data(bytes).write(to: url)
        return url.path
    }

    @Test func version2Reads() throws {
        let p = try crafted { $0[4] = 2 }
        #expect(try GGUFFile(path: p).version == 2)
    }

    @Test func lyingFilesAreTypedErrors() throws {
        let badMagic = try crafted { $0[0] = 0x58 }
        #expect(throws: GGUFError.notGGUF(badMagic)) { try GGUFFile(path: badMagic) }
        let v9 = try crafted { $0[4] = 9 }
        #expect(throws: GGUFError.unsupportedVersion(v9, 9)) { try GGUFFile(path: v9) }
        let truncated = try crafted { $0.removeLast(600) }
        #expect(throws: GGUFError.self) { try GGUFFile(path: truncated) }
        let cutHeader = try crafted { $0.removeLast($0.count - 100) }
        #expect(throws: GGUFError.self) { try GGUFFile(path: cutHeader) }
        let hugeCount = try crafted { for i in 8..<16 { $0[i] = 0xFF } }
        #expect(throws: GGUFError.self) { try GGUFFile(path: hugeCount) }
        // The first key's length claims more bytes than the file has.
        let longKey = try crafted { for i in 24..<31 { $0[i] = 0x7F } }
        #expect(throws: GGUFError.self) { try GGUFFile(path: longKey) }
        let empty = try crafted { $0 = [] }
        #expect(throws: GGUFError.self) { try GGUFFile(path: empty) }
    }

    /// A GGUF v3 file with no metadata and one tensor "t" of the given dims and ggml type, its data `data`.
    func oneTensor(dims: [UInt64], type: UInt32, data: [UInt8]) throws -> String {
        var b = [UInt8]("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        u32(3); u64(1); u64(0)
        u64(1); b.append(UInt8(ascii: "t"))
        u32(UInt32(dims.count)); dims.forEach(u64); u32(type); u64(0)
        while b.count % 32 != 0 { b.append(0) }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("one-\(UUID().uuidString).gguf")
        try Data(b + data).write(to: url)
        return url.path
    }

    @Test func dimensionsWhoseProductOverflowsAreAnError() throws {
        let fine = try oneTensor(dims: [4, 2], type: 0, data: [UInt8](repeating: 0, count: 32))
        #expect(try GGUFFile(path: fine).tensors["t"]?.byteCount == 32)
        // Each dimension is within the per-dimension cap (2^40); the element count 2^64 is not an Int.
        let square = try oneTensor(dims: [1 << 32, 1 << 32], type: 0, data: [0, 0, 0, 0])
        #expect(throws: GGUFError.corrupt(square, "tensor t dimensions [4294967296, 4294967296] overflow")) {
            try GGUFFile(path: square)
        }
        // 2^62 F32 elements count fine, their bytes do not.
        let bytes = try oneTensor(dims: [1 << 31, 1 << 31], type: 0, data: [0, 0, 0, 0])
        #expect(throws: GGUFError.corrupt(bytes, "tensor t dimensions [2147483648, 2147483648] overflow")) {
            try GGUFFile(path: bytes)
        }
    }
}
