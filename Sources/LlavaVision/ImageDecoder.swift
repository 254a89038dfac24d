// JPEG and PNG files to RGB exactly as PIL's Image.open(...).convert("RGB") gives them:
// JPEG through libjpeg-turbo (islow DCT, fancy upsampling), PNG through libpng; gray is replicated,
// alpha is dropped (not composited), palette is looked up, 16-bit RGB keeps the high byte and
// 16-bit gray (one channel) is clipped to 255 (PIL's I;16 -> L conversion). Transparency — an alpha channel, or a
// tRNS chunk on palette, gray or RGB (8-bit) — is kept beside the pixels as `RGBImage.alpha`: whether it is
// composited is the model's processor's choice (HF composites over white, mtmd and the original LLaVA do not).
import CImageCodecs
import Foundation

public enum ImageError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case unknownFormat(String)
    case corrupt(String, String)
    case unsupported(String, String)
    /// The header declares more pixels than allowed: (name, width, height, limit).
    case tooLarge(String, Int, Int, Int)

    public var description: String {
        switch self {
        case .notFound(let p): return "image not found: \(p)"
        case .unknownFormat(let p): return "\(p) is not a JPEG or PNG image"
        case .corrupt(let p, let why): return "corrupt image \(p): \(why)"
        case .unsupported(let p, let why): return "unsupported image \(p): \(why)"
        case .tooLarge(let p, let w, let h, let limit):
            return "image \(p) is \(w)x\(h) pixels, over the limit of \(limit) pixels"
        }
    }
}

public enum ImageDecoder {
    /// The most pixels an image may declare unless a caller allows more: PIL's own decompression-bomb threshold
    /// (Image.MAX_IMAGE_PIXELS, 89,478,485: ~270 MB as 8-bit RGB). A PNG of a few KB can declare 16 GiB of pixels.
    public static let defaultMaxPixels = 89_478_485

    public static func decode(path: String, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        guard let data = FileManager.default.contents(atPath: path) else { throw ImageError.notFound(path) }
        return try decode(data: data, name: path, maxPixels: maxPixels)
    }

    public static func decode(data: Data, name: String = "image",
                              maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        let bytes = [UInt8](data)
        var raw = llava_decoded_image()
        let limit = UInt64(max(0, maxPixels))
        let status: Int32
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF {
            status = bytes.withUnsafeBufferPointer { llava_decode_jpeg($0.baseAddress, $0.count, limit, &raw) }
        } else if bytes.count >= 8 && bytes[0] == 0x89 && bytes[1] == 0x50 && bytes[2] == 0x4E && bytes[3] == 0x47 {
            status = bytes.withUnsafeBufferPointer { llava_decode_png($0.baseAddress, $0.count, limit, &raw) }
        } else {
            throw ImageError.unknownFormat(name)
        }
        defer { llava_image_free(&raw) }
        if status == 2 { throw ImageError.tooLarge(name, Int(raw.width), Int(raw.height), maxPixels) }
        if status != 0 {
            let message = withUnsafeBytes(of: raw.message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            throw ImageError.corrupt(name, message.isEmpty ? "decoder failed" : message)
        }
        let w = Int(raw.width), h = Int(raw.height), c = Int(raw.channels), bps = Int(raw.bytes_per_sample)
        guard w > 0, h > 0, let src = raw.pixels else { throw ImageError.corrupt(name, "empty image") }
        var out = [UInt8](repeating: 0, count: w * h * 3)
        let n = w * h
        var alpha: [UInt8]? = nil
        // One sample as PIL would reduce it to 8 bits: high byte for colour, clip for 16-bit gray.
        func sample(_ i: Int, gray16: Bool) -> UInt8 {
            if bps == 1 { return src[i] }
            let v = Int(src[2 * i]) << 8 | Int(src[2 * i + 1])
            return gray16 ? UInt8(min(v, 255)) : UInt8(v >> 8)
        }
        switch c {
        case 1, 2:
            for p in 0..<n {
                let g = sample(p * c, gray16: c == 1)
                out[3 * p] = g; out[3 * p + 1] = g; out[3 * p + 2] = g
            }
            if c == 2 { alpha = (0..<n).map { sample($0 * 2 + 1, gray16: false) } }
        case 3, 4:
            for p in 0..<n {
                for k in 0..<3 { out[3 * p + k] = sample(p * c + k, gray16: false) }
            }
            if c == 4 { alpha = (0..<n).map { sample($0 * 4 + 3, gray16: false) } }
        default:
            throw ImageError.unsupported(name, "\(c) channels")
        }
        return RGBImage(width: w, height: h, pixels: out, alpha: alpha)
    }
}
