// Pillow's Image.resize for 8-bit images (libImaging/Resample.c), reproduced to the bit:
// separable convolution, horizontal pass first into an 8-bit intermediate, then vertical;
// filter support scaled by the reduction factor (this is PIL's antialiasing); coefficients
// normalised in double, then turned into 22-bit fixed point with rounding and clipping per pass.

public enum ResampleFilter: Int, Sendable {
    case nearest = 0, lanczos = 1, bilinear = 2, bicubic = 3, box = 4, hamming = 5

    var support: Double {
        switch self {
        case .nearest, .box: return 0.5
        case .bilinear, .hamming: return 1
        case .bicubic: return 2
        case .lanczos: return 3
        }
    }

    func weight(_ x0: Double) -> Double {
        let x = abs(x0)
        switch self {
        case .box, .nearest: return (x0 > -0.5 && x0 <= 0.5) ? 1 : 0
        case .bilinear: return x < 1 ? 1 - x : 0
        case .hamming:
            if x0 == 0 { return 1 }
            if x >= 1 { return 0 }
            let px = x * Double.pi
            return sin(px) / px * (0.54 + 0.46 * cos(px))
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        case .lanczos:
            func sinc(_ v: Double) -> Double { v == 0 ? 1 : sin(v * Double.pi) / (v * Double.pi) }
            return (-3 < x0 && x0 < 3) ? sinc(x0) * sinc(x0 / 3) : 0
        }
    }
}

import Foundation

public enum PILResample {
    static let precisionBits = 32 - 8 - 2

    /// Per output index: first input index, tap count, and fixed-point weights (ksize per row).
    struct Coefficients {
        var bounds: [(Int, Int)]
        var weights: [Int32]
        var ksize: Int
    }

    static func coefficients(inSize: Int, outSize: Int, filter: ResampleFilter) -> Coefficients {
        let in0 = 0.0, in1 = Double(inSize)
        let scale = (in1 - in0) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = filter.support * filterScale
        let ksize = Int(ceil(support)) * 2 + 1
        var bounds: [(Int, Int)] = []
        var weights = [Int32](repeating: 0, count: outSize * ksize)
        var k = [Double](repeating: 0, count: ksize)
        for xx in 0..<outSize {
            let center = in0 + (Double(xx) + 0.5) * scale
            let ss = 1.0 / filterScale
            var xmin = Int(center - support + 0.5)   // C's (int) truncation
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            var ww = 0.0
            for x in 0..<xmax {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for x in 0..<xmax {
                let v = ww != 0 ? k[x] / ww : k[x]
                let f = v * Double(1 << precisionBits)
                weights[xx * ksize + x] = Int32(v < 0 ? Int(-0.5 + f) : Int(0.5 + f))
            }
            bounds.append((xmin, xmax))
        }
        return Coefficients(bounds: bounds, weights: weights, ksize: ksize)
    }

    @inline(__always)
    static func clip8(_ v: Int) -> UInt8 {
        let s = v >> precisionBits
        return s < 0 ? 0 : (s > 255 ? 255 : UInt8(s))
    }

    /// PIL's `image.resize((width, height), resample)` with no box and no reducing_gap.
    public static func resize(_ image: RGBImage, width: Int, height: Int, filter: ResampleFilter = .bicubic) -> RGBImage {
        if width == image.width && height == image.height { return image }
        var current = image
        let vertical = coefficients(inSize: image.height, outSize: height, filter: filter)
        if width != image.width {
            // Only the input rows the vertical pass will read.
            let first = vertical.bounds.first.map { $0.0 } ?? 0
            let last = vertical.bounds.last.map { $0.0 + $0.1 } ?? image.height
            let rows = height != image.height ? (first, last) : (0, image.height)
            current = horizontal(image, width: width, rows: rows, filter: filter)
            if height != image.height {
                current = verticalPass(current, height: height, coeffs: vertical, rowOffset: rows.0)
            }
            return current
        }
        return verticalPass(image, height: height, coeffs: vertical, rowOffset: 0)
    }

    static func horizontal(_ im: RGBImage, width: Int, rows: (Int, Int), filter: ResampleFilter) -> RGBImage {
        let c = coefficients(inSize: im.width, outSize: width, filter: filter)
        let outH = rows.1 - rows.0
        var out = [UInt8](repeating: 0, count: width * outH * 3)
        im.pixels.withUnsafeBufferPointer { src in
            for y in 0..<outH {
                let srcRow = (y + rows.0) * im.width * 3
                for xx in 0..<width {
                    let (xmin, xmax) = c.bounds[xx]
                    let kb = xx * c.ksize
                    var s0 = 1 << (precisionBits - 1), s1 = s0, s2 = s0
                    for x in 0..<xmax {
                        let w = Int(c.weights[kb + x])
                        let p = srcRow + (x + xmin) * 3
                        s0 += Int(src[p]) * w; s1 += Int(src[p + 1]) * w; s2 += Int(src[p + 2]) * w
                    }
                    let o = (y * width + xx) * 3
                    out[o] = clip8(s0); out[o + 1] = clip8(s1); out[o + 2] = clip8(s2)
                }
            }
        }
        return RGBImage(width: width, height: outH, pixels: out)
    }

    static func verticalPass(_ im: RGBImage, height: Int, coeffs c: Coefficients, rowOffset: Int) -> RGBImage {
        var out = [UInt8](repeating: 0, count: im.width * height * 3)
        let stride = im.width * 3
        im.pixels.withUnsafeBufferPointer { src in
            for yy in 0..<height {
                let (ymin, ymax) = c.bounds[yy]
                let kb = yy * c.ksize
                for x in 0..<stride {
                    var s = 1 << (precisionBits - 1)
                    for y in 0..<ymax {
                        s += Int(src[(y + ymin - rowOffset) * stride + x]) * Int(c.weights[kb + y])
                    }
                    out[yy * stride + x] = clip8(s)
                }
            }
        }
        return RGBImage(width: im.width, height: height, pixels: out)
    }
}
