// Q4_0 regrouped 8 rows at a time: the same weights (dequantised bit for bit) and the same products as the row
// layout — llama.cpp's repacked sums in both; Q4_1 (regrouped only where AVX-512 VNNI runs) with vec_dot's sums.
// The layout follows the CPU level in force (regrouped only where its fast kernels run), and the row kernels give the
// same bits at every level this machine can execute (portable, avx2 tiles, AVX-512 VNNI tiles).
import Foundation
import LlavaTensor
import Testing

@Suite struct RepackTests {
    struct LCG { var s: UInt64; mutating func next() -> UInt64 { s = s &* 6364136223846793005 &+ 1442695040888963407; return s >> 33 } }

    func randomMatrix(rows: Int, cols: Int, seed: UInt64, type: GGMLType = .q4_0) -> [UInt8] {
        var rng = LCG(s: seed)
        let values = (0..<rows * cols).map { _ in Float(Double(rng.next() % 20001) / 10000 - 1) }
        let rowBytes = type.rowBytes(cols)
        var bytes = [UInt8](repeating: 0, count: rows * rowBytes)
        values.withUnsafeBufferPointer { v in
            bytes.withUnsafeMutableBytes { b in
                for r in 0..<rows { Quantize.row(type, v.baseAddress! + r * cols, b.baseAddress! + r * rowBytes, count: cols) }
            }
        }
        return bytes
    }

    func randomActivations(_ tokens: Int, _ cols: Int, _ rng: inout LCG) -> Tensor {
        Tensor(shape: [tokens, cols], values: (0..<tokens * cols).map { _ in Float(Double(rng.next() % 2001) / 1000 - 1) })
    }

    /// Every row dequantises to the same floats in both layouts.
    func expectSameRows(_ plain: QuantizedMatrix, _ packed: QuantizedMatrix) {
        var a = [Float](repeating: 0, count: plain.cols), b = a
        for r in 0..<plain.rows {
            a.withUnsafeMutableBufferPointer { plain.dequantizeRow(r, into: $0.baseAddress!) }
            b.withUnsafeMutableBufferPointer { packed.dequantizeRow(r, into: $0.baseAddress!) }
            #expect(a == b, "row \(r)")
        }
    }

    @Test(arguments: [GGMLType.q4_0])
    func sameWeightsAndProducts(_ type: GGMLType) {
        // 20 blocks a row: a 32-token block's activation sums take the kernel's heap buffer, 13 tokens its stack one.
        let rows = 24, cols = 640
        let bytes = randomMatrix(rows: rows, cols: cols, seed: 3, type: type)
        for level in CPULevel.executable {
            CPULevel.with(level) {
                bytes.withUnsafeBytes { raw in
                    let plain = QuantizedMatrix(type: type, rows: rows, cols: cols, data: raw.baseAddress!, owner: nil,
                                                llamaRepacks: true)
                    let packed = plain.repackedForSpeed()
                    // Regrouped wherever a fast kernel reads it: AVX-512 VNNI's or AVX2's.
                    #expect(packed.layout == (level.rawValue >= CPULevel.avx2.rawValue ? .grouped8 : .rows), "\(level)")
                    expectSameRows(plain, packed)
                    // A matrix llama.cpp multiplies as it is (a tied head) keeps the row layout and vec_dot's sums.
                    let asIs = QuantizedMatrix(type: type, rows: rows, cols: cols, data: raw.baseAddress!, owner: nil)
                    #expect(asIs.repackedForSpeed().layout == .rows)
                    var rng = LCG(s: 9)
                    for tokens in [1, 3, 8, 13, 70] {
                        let x = randomActivations(tokens, cols, &rng)
                        // Regrouped or not, llama.cpp's repacked sums: the same bits. Portable computes them too.
                        let y0 = WeightMatrix.quantized(plain).apply(x), y1 = WeightMatrix.quantized(packed).apply(x)
                        let yp = CPULevel.with(.portable) { WeightMatrix.quantized(plain).apply(x) }
                        #expect(y0.scalars.map(\.bitPattern) == y1.scalars.map(\.bitPattern), "\(level), \(tokens)")
                        #expect(yp.scalars.map(\.bitPattern) == y1.scalars.map(\.bitPattern), "\(level), \(tokens)")
                        // ... which are not vec_dot's lanes, but the same product to float rounding.
                        let yv = WeightMatrix.quantized(asIs).apply(x)
                        var worst: Float = 0
                        for i in 0..<y0.count {
                            worst = max(worst, abs(y0.data[i] - yv.data[i]) / max(1, abs(yv.data[i])))
                        }
                        #expect(worst < 1e-5, "\(level), tokens \(tokens): \(worst)")
                    }
                }
            }
        }
        // Rows not a multiple of 8: kept as they are.
        let odd = randomMatrix(rows: 12, cols: 64, seed: 1)
        odd.withUnsafeBytes { raw in
            #expect(QuantizedMatrix(type: .q4_0, rows: 12, cols: 64, data: raw.baseAddress!, owner: nil).repackedForSpeed().layout == .rows)
        }
    }

    /// The row-layout kernels of every level give the very same bits (the integer lane sums are exact however they
    /// are made, and every level keeps ggml's fma order per lane and its horizontal sum): decode rows, 4x4 tiles and
    /// their remainders, for the three types the C kernels cover.
    @Test(arguments: [GGMLType.q4_0, .q4_1, .q8_0])
    func rowKernelsAgreeAtEveryLevel(_ type: GGMLType) {
        let rows = 38, cols = 640
        let bytes = randomMatrix(rows: rows, cols: cols, seed: 21, type: type)
        #expect(CPULevel.executable.contains(.portable) && CPULevel.executable.count >= 1)
        bytes.withUnsafeBytes { raw in
            let plain = QuantizedMatrix(type: type, rows: rows, cols: cols, data: raw.baseAddress!, owner: nil)
            var rng = LCG(s: 4)
            for tokens in [1, 2, 4, 7, 37] {
                let x = randomActivations(tokens, cols, &rng)
                let reference = CPULevel.with(.portable) { WeightMatrix.quantized(plain).apply(x) }
                for level in CPULevel.executable where level != .portable {
                    let y = CPULevel.with(level) { WeightMatrix.quantized(plain).apply(x) }
                    let same = (0..<y.count).allSatisfy { y.data[$0].bitPattern == reference.data[$0].bitPattern }
                    #expect(same, "\(type) at \(level), \(tokens) tokens")
                }
                // And the values are the dot products (within int8 activation rounding of the float product).
                let exact = (0..<rows).map { r -> [Float] in
                    var w = [Float](repeating: 0, count: cols)
                    w.withUnsafeMutableBufferPointer { plain.dequantizeRow(r, into: $0.baseAddress!) }
                    return (0..<tokens).map { t in (0..<cols).reduce(Float(0)) { $0 + w[$1] * x.data[t * cols + $1] } }
                }
                var worst: Float = 0
                for r in 0..<rows {
                    for t in 0..<tokens { worst = max(worst, abs(reference.data[t * rows + r] - exact[r][t])) }
                }
                #expect(worst < 0.3, "\(type): \(worst) from the float product")
            }
        }
    }

    /// LLAVA_CPU_LEVEL's names, and a thread's level never above the CPU's.
    @Test func levelsParseAndClamp() {
        #expect(CPULevel.allCases.map(\.description) == ["portable", "neon", "avx2", "avxvnni", "avx512"])
        #expect(CPULevel.executable.first == .portable && CPULevel.executable.last == CPULevel.detected)
        let best = CPULevel.detected
        #expect(CPULevel.with(.avx512) { CPULevel.current.rawValue } <= best.rawValue)
        #expect(CPULevel.with(.portable) { CPULevel.current } == .portable)
        #expect(CPULevel.with(.neon) { CPULevel.current } == (best == .neon ? .neon : .portable))
    }

    /// Q4_1 and Q8_0 keep vec_dot's lanes in the regrouped layout: every product bit for bit the row kernels' (which
    /// the llama.cpp token tests pin down), for one token (decode) and for token tiles with remainders (prefill);
    /// Q8_0's portable fallback for that layout too (Q4_1's regrouped products exist only for AVX-512 VNNI).
    @Test(.enabled(if: CPULevel.executable.contains(.avx512), "the regrouped kernels need AVX-512 VNNI"),
          arguments: [GGMLType.q4_1, .q8_0])
    func regroupedIsExact(_ type: GGMLType) {
        let rows = 40, cols = 576
        let bytes = randomMatrix(rows: rows, cols: cols, seed: type == .q4_1 ? 5 : 8, type: type)
        bytes.withUnsafeBytes { raw in
            let plain = QuantizedMatrix(type: type, rows: rows, cols: cols, data: raw.baseAddress!, owner: nil)
            let packed = CPULevel.with(.avx512) { plain.repackedForSpeed() }
            #expect(packed.layout == .grouped8)
            expectSameRows(plain, packed)
            var rng = LCG(s: type == .q4_1 ? 11 : 12)
            for tokens in [1, 2, 3, 4, 5, 8, 9, 67] {
                let x = randomActivations(tokens, cols, &rng)
                let y0 = CPULevel.with(.avx512) { WeightMatrix.quantized(plain).apply(x) }
                let y1 = CPULevel.with(.avx512) { WeightMatrix.quantized(packed).apply(x) }
                #expect(y0.scalars.map(\.bitPattern) == y1.scalars.map(\.bitPattern), "\(type), tokens \(tokens)")
                if type == .q8_0 {
                    let yp = CPULevel.with(.portable) { WeightMatrix.quantized(packed).apply(x) }
                    #expect(yp.scalars.map(\.bitPattern) == y1.scalars.map(\.bitPattern), "portable, tokens \(tokens)")
                }
            }
        }
    }
}
