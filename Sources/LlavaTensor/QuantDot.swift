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
        // Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 go through CKernels (WeightMatrix.applyKernel), Q4_K / Q5_K / Q6_K too
        // (applyKQuant), in ggml's arithmetic; what stays here is Q2_K and Q3_K.
        case .q2_K, .q3_K:
            sumf = kDot(type, w, q, scales, ksums, n: n)
        default:
            preconditionFailure("no dot product for \(type)")
        }
        return sumf
    }

    /// Q2_K and Q3_K against Q8_K: per 256-block, d * dx * Σ scale_j Σ q*y  -  dmin * dx * Σ min_j Σ y.
    /// (Q4_K, Q5_K and Q6_K have llama.cpp's own arithmetic in CKernels kquants.c.)
    static func kDot(_ type: GGMLType, _ w: UnsafeRawPointer, _ q: UnsafePointer<Int8>, _ scales: UnsafePointer<Float>,
                     _ ksums: UnsafePointer<Int32>, n: Int) -> Float {
        var sumf: Float = 0
        for ib in 0..<(n / 256) {
            let y = q + 256 * ib, dy = scales[ib], bs = ksums + 16 * ib
            switch type {
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
