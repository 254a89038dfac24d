// An 8-bit RGB image, row-major, interleaved: what PIL's Image.convert("RGB") holds (alpha dropped, tRNS ignored,
// as llama.cpp's stb_image load and the original LLaVA's loader see a picture), plus the image's alpha plane when
// it had transparency, for the processors that composite it (HF transformers' convert_to_rgb).

public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// [height, width, 3]
    public var pixels: [UInt8]
    /// [height, width] opacity (255 opaque): present when the file had an alpha channel or a tRNS chunk.
    public var alpha: [UInt8]?

    public init(width: Int, height: Int, pixels: [UInt8], alpha: [UInt8]? = nil) {
        precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)x\(height)")
        precondition(alpha.map { $0.count == width * height } ?? true, "RGBImage: alpha plane of the wrong size")
        self.width = width
        self.height = height
        self.pixels = pixels
        self.alpha = alpha
    }

    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8)) {
        self.width = width
        self.height = height
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { p[3 * i] = fill.0; p[3 * i + 1] = fill.1; p[3 * i + 2] = fill.2 }
        pixels = p
        alpha = nil
    }

    /// The image over opaque white, as HF's convert_to_rgb makes it: PIL's Image.alpha_composite(white, rgba) in its
    /// 7-bit fixed point. With an opaque white destination the coefficients are exactly a * 128 and (255 - a) * 128,
    /// and a fully transparent pixel is the white itself (checked against Pillow 13 for every colour and alpha).
    public func compositedOverWhite() -> RGBImage {
        guard let alpha else { return self }
        var out = pixels
        for p in 0..<(width * height) {
            let a = UInt32(alpha[p])
            for k in 0..<3 {
                if a == 0 { out[3 * p + k] = 255; continue }
                let t = UInt32(pixels[3 * p + k]) * a * 128 + 255 * (255 - a) * 128 + (0x80 << 7)
                out[3 * p + k] = UInt8((((t >> 8) + t) >> 8) >> 7)
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}
