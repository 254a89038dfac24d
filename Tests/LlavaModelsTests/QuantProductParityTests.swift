// Q4_K / Q5_K / Q6_K products against llama.cpp's own results (Tools/make_kquant_fixtures.py: ggml's CPU backend
// through its C API, the same numbers from an AVX2 and an AVX-512 build): vec_dot for 1 and 3 activation rows, the
// tiled path for 8 and 13, bit for bit at every CPU level this machine runs. The repacked-Q4_K modes (gemv, gemm)
// agree across levels and are the float product to int8 rounding; which mode a product takes follows llama.cpp.
// Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 in the row layout likewise (vec_dot, and tinyBLAS's identical sums).
import CKernels
import Foundation
import LlavaFormats
import LlavaTensor
import Testing

@Suite struct QuantProductParityTests {
    static let types: [(String, GGMLType, Int32)] = [("q4_K", .q4_K, Int32(LLAVA_KQ_Q4_K)),
                                                     ("q5_K", .q5_K, Int32(LLAVA_KQ_Q5_K)),
                                                     ("q6_K", .q6_K, Int32(LLAVA_KQ_Q6_K))]
    let rows = 24, cols = 768
    static let fixture = Fixtures.root.appendingPathComponent("quant-products/products.safetensors").path

    /// ours(type, mode, tokens) at the current level: [tokens, rows]
    func product(_ w: UnsafeRawPointer, _ code: Int32, _ mode: Int32, _ x: UnsafePointer<Float>, tokens: Int,
                 rowBytes: Int) -> [Float] {
        let stride = cols / 256 * 292
        var acts = [UInt8](repeating: 0, count: tokens * stride)
        var y = [Float](repeating: .nan, count: tokens * rows)
        acts.withUnsafeMutableBytes { a in
            for t in 0..<tokens { llava_quantize_q8_K(x + t * cols, a.baseAddress! + t * stride, Int32(cols)) }
            y.withUnsafeMutableBufferPointer { yp in
                llava_gemm_k(code, mode, w, rowBytes, a.baseAddress!, stride, Int32(tokens), yp.baseAddress!, rows,
                             0, Int32(rows), Int32(cols))
            }
        }
        return y
    }

    /// The fixture file, its activations [13, cols] and the `name` weight's bytes (checked to be rows x cols of `type`).
    func fixture(_ name: String, _ type: GGMLType) throws
        -> (MappedFile, SafetensorsFile, Tensor, UnsafeRawPointer) {
        let mapped = try MappedFile(path: Self.fixture)
        let file = try SafetensorsFile(file: mapped)
        let info = try #require(file.tensors[name + ".weight"])
        #expect(info.byteCount == rows * type.rowBytes(cols))
        return (mapped, file, try file.tensor("x"), UnsafeRawPointer(mapped.base + info.offset))
    }

    @Test(arguments: [0, 1, 2])
    func llamaCppResultsAtEveryLevel(_ which: Int) throws {
        let (name, type, code) = Self.types[which]
        let (mapped, file, x, w) = try fixture(name, type)
        for tokens in [1, 3, 8, 13] {
            let expected = try file.tensor("\(name).y\(tokens)").scalars
            let mode = Int32(tokens >= 8 ? LLAVA_KQ_TILED : LLAVA_KQ_VECDOT)
            for level in CPULevel.executable {
                let ours = CPULevel.with(level) {
                    product(w, code, mode, x.data, tokens: tokens, rowBytes: type.rowBytes(cols))
                }
                let same = zip(ours, expected).allSatisfy { $0.bitPattern == $1.bitPattern }
                let worst = zip(ours, expected).map { abs($0 - $1) }.max() ?? 0
                #expect(same, "\(name), \(tokens) rows, \(level): up to \(worst) from llama.cpp")
            }
            // The repacked-layout modes: the same at every level, and the float product within int8 rounding.
            if type == .q4_K {
                for mode in [Int32(LLAVA_KQ_GEMV), Int32(LLAVA_KQ_GEMM)] {
                    let reference = CPULevel.with(.portable) {
                        product(w, code, mode, x.data, tokens: tokens, rowBytes: type.rowBytes(cols))
                    }
                    for level in CPULevel.executable where level != .portable {
                        let ours = CPULevel.with(level) {
                            product(w, code, mode, x.data, tokens: tokens, rowBytes: type.rowBytes(cols))
                        }
                        let same = zip(ours, reference).allSatisfy { $0.bitPattern == $1.bitPattern }
                        #expect(same, "mode \(mode) \(level)")
                    }
                    let worst = zip(reference, expected).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 1
                    #expect(worst < 1e-4, "mode \(mode) vs vec_dot: \(worst)")
                }
            }
        }
        // And through WeightMatrix (what a model uses): Q5_K and Q6_K as llama.cpp computes them unrepacked.
        if type != .q4_K {
            let m = WeightMatrix.quantized(QuantizedMatrix(type: type, rows: rows, cols: cols, data: w, owner: mapped))
            for tokens in [1, 13] {
                let xt = Tensor(shape: [tokens, cols], values: Array(x.scalars.prefix(tokens * cols)))
                let expected = try file.tensor("\(name).y\(tokens)").scalars
                #expect(m.apply(xt).scalars.map(\.bitPattern) == expected.map(\.bitPattern))
            }
        }
    }

    @Test(arguments: [GGMLType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0])
    func blockTypesGiveLlamaCppResultsAtEveryLevel(_ type: GGMLType) throws {
        let name = "\(type)".lowercased()
        let (mapped, file, x, data) = try fixture(name, type)
        let m = WeightMatrix.quantized(QuantizedMatrix(type: type, rows: rows, cols: cols, data: data, owner: mapped))
        for tokens in [1, 3, 8, 13] {
            let xt = Tensor(shape: [tokens, cols], values: Array(x.scalars.prefix(tokens * cols)))
            let expected = try file.tensor("\(name).y\(tokens)").scalars
            for level in CPULevel.executable {
                let ours = CPULevel.with(level) { m.apply(xt).scalars }
                let worst = zip(ours, expected).map { abs($0 - $1) }.max() ?? 0
                #expect(ours.map(\.bitPattern) == expected.map(\.bitPattern),
                        "\(name), \(tokens) rows, \(level): \(worst)")
            }
        }
    }

    /// The mode per product follows llama.cpp's dispatch: Q4_K with whole groups of 8 rows is repacked (4-row gemm
    /// groups, the rest through gemv); everything else goes tiled from 8 activation rows up.
    @Test func modesFollowLlamaCpp() {
        func modes(_ t: GGMLType, rows: Int, _ tokens: Int) -> [String] {
            WeightMatrix.kQuantModes(type: t, rows: rows, tokens: tokens).map { "\($0.range.count)x\($0.mode)" }
        }
        let (gemv, gemm, tiled, vec) = (LLAVA_KQ_GEMV, LLAVA_KQ_GEMM, LLAVA_KQ_TILED, LLAVA_KQ_VECDOT)
        #expect(modes(.q4_K, rows: 64, 1) == ["1x\(gemv)"])
        #expect(modes(.q4_K, rows: 64, 3) == ["3x\(gemv)"])
        #expect(modes(.q4_K, rows: 64, 10) == ["8x\(gemm)", "2x\(gemv)"])
        #expect(modes(.q4_K, rows: 60, 10) == ["10x\(tiled)"])
        #expect(modes(.q6_K, rows: 64, 7) == ["7x\(vec)"])
        #expect(modes(.q5_K, rows: 64, 8) == ["8x\(tiled)"])
    }
}
