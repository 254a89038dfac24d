// Dot products of one quantised weight row with a quantised activation vector, block by block
// as ggml's CPU vec_dot_* functions define them (integer sums inside a block, scales applied per
// block or sub-block). This is what llama.cpp computes for every quantised matrix product.

public enum QuantDot {
    @inline(__always) static func u8(_ p: UnsafeRawPointer, _ o: Int) -> Int32 { Int32(p.load(fromByteOffset: o, as: UInt8.self)) }

    /// Σ w[i] * x[i] over `n` elements of a `type` row at `w`.
    public static func dot(_ type: GGMLType, _ w: UnsafeRawPointer, _ a: borrowing QuantizedActivation,
                           _ q: UnsafePointer<Int8>, _ f: UnsafePointer<Float>, _ scales: UnsafePointer<Float>,
                           _ sums: UnsafePointer<Float>, _ ksums: UnsafePointer<Int32>, n: Int) -> Float {
        var sumf: Float = 0
        switch type {
        case .f32:
            let p = w.assumingMemoryBound(to: Float.self)
            for i in 0..<n { sumf += p[i] * f[i] }
        case .f16:
            var s: Double = 0
            for i in 0..<n { s += Double(HalfBits.toFloat(w.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) * Double(f[i]) }
            sumf = Float(s)
        case .bf16:
            var s: Double = 0
            for i in 0..<n { s += Double(Float(bitPattern: UInt32(w.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)) * Double(f[i]) }
            sumf = Float(s)
        case .q8_0:
            // ggml (x86): per block d = dw*dx; 8 lanes of 4-element integer sums; acc = fma(d, lane, acc).
            var acc = SIMD8<Float>(repeating: 0)
            for ib in 0..<(n / 32) {
                let b = w + 34 * ib, y = UnsafeRawPointer(q + 32 * ib)
                let lanes = laneSums(SIMD16<Int16>(truncatingIfNeeded: b.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)),
                                     SIMD16<Int16>(truncatingIfNeeded: b.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)), y)
                let d = HalfBits.toFloat(b.loadUnaligned(as: UInt16.self)) * scales[ib]
                acc = acc.addingProduct(SIMD8<Float>(repeating: d), SIMD8<Float>(lanes))
            }
            sumf = hsum8(acc)
        case .q4_0:
            var acc = SIMD8<Float>(repeating: 0)
            for ib in 0..<(n / 32) {
                let b = w + 18 * ib, y = UnsafeRawPointer(q + 32 * ib)
                let qs = b.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
                let lanes = laneSums(SIMD16<Int16>(truncatingIfNeeded: qs & 0x0F) &- 8, SIMD16<Int16>(truncatingIfNeeded: qs &>> 4) &- 8, y)
                let d = HalfBits.toFloat(b.loadUnaligned(as: UInt16.self)) * scales[ib]
                acc = acc.addingProduct(SIMD8<Float>(repeating: d), SIMD8<Float>(lanes))
            }
            sumf = hsum8(acc)
        case .q4_1:
            // ggml (x86): acc = fma(dw*dx, lanes, acc); the min term summed separately, added last.
            var acc = SIMD8<Float>(repeating: 0)
            var summs: Float = 0
            for ib in 0..<(n / 32) {
                let b = w + 20 * ib, y = UnsafeRawPointer(q + 32 * ib)
                let qs = b.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
                let lanes = laneSums(SIMD16<Int16>(truncatingIfNeeded: qs & 0x0F), SIMD16<Int16>(truncatingIfNeeded: qs &>> 4), y)
                let d = HalfBits.toFloat(b.loadUnaligned(as: UInt16.self)), m = HalfBits.toFloat(b.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
                summs += m * sums[ib]
                acc = acc.addingProduct(SIMD8<Float>(repeating: d * scales[ib]), SIMD8<Float>(lanes))
            }
            sumf = hsum8(acc) + summs
        case .q5_0, .q5_1:
            let withMin = type == .q5_1, bytes = withMin ? 24 : 22, hOff = withMin ? 4 : 2
            for ib in 0..<(n / 32) {
                let b = w + bytes * ib, y = q + 32 * ib
                let qh = b.loadUnaligned(fromByteOffset: hOff, as: UInt32.self)
                var sumi: Int32 = 0
                for j in 0..<16 {
                    let v = u8(b, hOff + 4 + j)
                    let h0 = Int32((qh >> UInt32(j)) << 4 & 0x10), h1 = Int32((qh >> UInt32(j + 12)) & 0x10)
                    let off: Int32 = withMin ? 0 : 16
                    sumi &+= (((v & 0xF) | h0) - off) * Int32(y[j]) + (((v >> 4) | h1) - off) * Int32(y[j + 16])
                }
                let d = HalfBits.toFloat(b.loadUnaligned(as: UInt16.self))
                if withMin {
                    sumf += (d * scales[ib]) * Float(sumi) + HalfBits.toFloat(b.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * sums[ib]
                } else {
                    sumf += Float(sumi) * (d * scales[ib])
                }
            }
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K:
            sumf = kDot(type, w, q, scales, ksums, n: n)
        default:
            preconditionFailure("no dot product for \(type)")
        }
        return sumf
    }

    /// Eight integer sums of four consecutive products each: weights w0 (elements 0..<16) and w1
    /// (16..<32) against 32 int8 activations at y — what dpbusd / maddubs+madd leave in each lane.
    @inline(__always)
    static func laneSums(_ w0: SIMD16<Int16>, _ w1: SIMD16<Int16>, _ y: UnsafeRawPointer) -> SIMD8<Int32> {
        let y0 = SIMD16<Int32>(truncatingIfNeeded: y.loadUnaligned(as: SIMD16<Int8>.self))
        let y1 = SIMD16<Int32>(truncatingIfNeeded: y.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self))
        let p0 = SIMD16<Int32>(truncatingIfNeeded: w0) &* y0, p1 = SIMD16<Int32>(truncatingIfNeeded: w1) &* y1
        let s0 = p0.evenHalf &+ p0.oddHalf, s1 = p1.evenHalf &+ p1.oddHalf   // pairs
        return SIMD8<Int32>(lowHalf: s0.evenHalf &+ s0.oddHalf, highHalf: s1.evenHalf &+ s1.oddHalf)
    }

    /// ggml's hsum_float_8: (x[i] + x[i+4]), then pairs, then the last two.
    @inline(__always) static func hsum8(_ x: SIMD8<Float>) -> Float {
        let r0 = x[4] + x[0], r1 = x[5] + x[1], r2 = x[6] + x[2], r3 = x[7] + x[3]
        return (r0 + r2) + (r1 + r3)
    }

    /// k-quants against Q8_K: per 256-block, d * dx * Σ scale_j Σ q*y  -  dmin * dx * Σ min_j Σ y.
    static func kDot(_ type: GGMLType, _ w: UnsafeRawPointer, _ q: UnsafePointer<Int8>, _ scales: UnsafePointer<Float>,
                     _ ksums: UnsafePointer<Int32>, n: Int) -> Float {
        var sumf: Float = 0
        var vals = [Int32](repeating: 0, count: 256)
        for ib in 0..<(n / 256) {
            let y = q + 256 * ib, dy = scales[ib], bs = ksums + 16 * ib
            switch type {
            case .q4_K, .q5_K:
                let bytes = type == .q4_K ? 144 : 176
                let b = w + bytes * ib
                let d = HalfBits.toFloat(b.loadUnaligned(as: UInt16.self)), dmin = HalfBits.toFloat(b.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
                let sc = b + 4
                let ql = b + (type == .q4_K ? 16 : 48), qh = b + 16
                var sumi: Int32 = 0, summ: Int32 = 0
                for j in 0..<8 {
                    let (s, m) = Dequantize.scaleMinK4(j, sc)
                    let base = (j / 2) * 32, high = j % 2 == 1
                    var dotj: Int32 = 0
                    for l in 0..<32 {
                        let byte = u8(ql, base + l)
                        var v = high ? byte >> 4 : byte & 0xF
                        if type == .q5_K && (u8(qh, l) >> Int32(j)) & 1 != 0 { v += 16 }
                        dotj &+= v * Int32(y[32 * j + l])
                    }
                    sumi &+= Int32(s) * dotj
                    summ &+= Int32(m) * (bs[2 * j] + bs[2 * j + 1])
                }
                sumf += d * dy * Float(sumi) - dmin * dy * Float(summ)
            case .q6_K:
                let b = w + 210 * ib
                let d = HalfBits.toFloat(b.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
                let ql = b, qh = b + 128, sc = b + 192
                for half in 0..<2 {
                    for l in 0..<32 {
                        let h = u8(qh, 32 * half + l), a = u8(ql, 64 * half + l), c = u8(ql, 64 * half + l + 32)
                        vals[128 * half + l] = ((a & 0xF) | ((h & 3) << 4)) - 32
                        vals[128 * half + l + 32] = ((c & 0xF) | (((h >> 2) & 3) << 4)) - 32
                        vals[128 * half + l + 64] = ((a >> 4) | (((h >> 4) & 3) << 4)) - 32
                        vals[128 * half + l + 96] = ((c >> 4) | (((h >> 6) & 3) << 4)) - 32
                    }
                }
                var sumi: Int32 = 0
                for s in 0..<16 {
                    var dotj: Int32 = 0
                    for l in 0..<16 { dotj &+= vals[16 * s + l] * Int32(y[16 * s + l]) }
                    sumi &+= Int32(sc.load(fromByteOffset: s, as: Int8.self)) * dotj
                }
                sumf += d * dy * Float(sumi)
            case .q2_K:
                let b = w + 84 * ib
                let d = HalfBits.toFloat(b.loadUnaligned(fromByteOffset: 80, as: UInt16.self))
                let dmin = HalfBits.toFloat(b.loadUnaligned(fromByteOffset: 82, as: UInt16.self))
                var sumi: Int32 = 0, summ: Int32 = 0
                var isx = 0, pos = 0
                for chunk in 0..<2 {
                    for shift in stride(from: 0, to: 8, by: 2) {
                        for half in 0..<2 {
                            let s = u8(b, isx); isx += 1
                            var dotj: Int32 = 0
                            for l in 0..<16 { dotj &+= ((u8(b, 16 + 32 * chunk + 16 * half + l) >> Int32(shift)) & 3) * Int32(y[pos + l]) }
                            sumi &+= (s & 0xF) * dotj
                            summ &+= (s >> 4) * bs[pos / 16]
                            pos += 16
                        }
                    }
                }
                sumf += d * dy * Float(sumi) - dmin * dy * Float(summ)
            case .q3_K:
                let b = w + 110 * ib
                let d = HalfBits.toFloat(b.loadUnaligned(fromByteOffset: 108, as: UInt16.self))
                let scl = Dequantize.kScales3(b + 96)
                var sumi: Int32 = 0
                var isx = 0, pos = 0
                var m: Int32 = 1
                for chunk in 0..<2 {
                    for shift in stride(from: 0, to: 8, by: 2) {
                        for half in 0..<2 {
                            var dotj: Int32 = 0
                            for l in 0..<16 {
                                let lq = (u8(b, 32 + 32 * chunk + 16 * half + l) >> Int32(shift)) & 3
                                let hbit = u8(b, 16 * half + l) & m
                                dotj &+= (lq - (hbit != 0 ? 0 : 4)) * Int32(y[pos + l])
                            }
                            sumi &+= (Int32(scl[isx]) - 32) * dotj
                            isx += 1; pos += 16
                        }
                        m <<= 1
                    }
                }
                sumf += d * dy * Float(sumi)
            default: break
            }
        }
        return sumf
    }
}
