// RGB images to PNG (libpng) or JPEG (libjpeg-turbo) files, written under a temporary name and renamed, so a
// stopped run never leaves half an image. The synthetic scene generator is its user.
import CImageCodecs
import Foundation

public enum ImageFileFormat: String, Sendable, Codable, CaseIterable {
    case png, jpeg
    public var fileExtension: String { self == .png ? "png" : "jpg" }
}

public enum ImageEncoder {
    /// The file's bytes. `quality` (1...100) is JPEG's.
    public static func encode(_ image: RGBImage, format: ImageFileFormat, quality: Int = 90) throws -> Data {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var length = 0
        var message = [CChar](repeating: 0, count: 200)
        let status: Int32 = image.pixels.withUnsafeBufferPointer { px in
            message.withUnsafeMutableBufferPointer { msg in
                switch format {
                case .png:
                    return llava_encode_png(px.baseAddress, Int32(image.width), Int32(image.height), &out, &length,
                                            msg.baseAddress)
                case .jpeg:
                    return llava_encode_jpeg(px.baseAddress, Int32(image.width), Int32(image.height),
                                             Int32(min(100, max(1, quality))), &out, &length, msg.baseAddress)
                }
            }
        }
        defer { llava_buffer_free(out) }
        guard status == 0, let out else {
            let text = String(decoding: message.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ImageError.unsupported("\(format.rawValue) encoder", text.isEmpty ? "encoder failed" : text)
        }
        return Data(bytes: out, count: length)
    }

    /// Writes `image` to `url` atomically (a temporary name beside it, then a rename).
    public static func write(_ image: RGBImage, to url: URL, format: ImageFileFormat, quality: Int = 90) throws {
        let data = try encode(image, format: format, quality: quality)
        try data.write(to: url, options: .atomic)
    }
}
