// Images in chat requests: `data:` URIs (base64 JPEG or PNG) always; http(s) URLs only when the server allows
// remote images (fetched with a size cap and a timeout); anything else — local paths, file: URLs — is refused,
// so a request can never make the server read its own disk.
import AsyncHTTPClient
import Foundation
import LlavaGeneration
import LlavaVision
import NIOCore

public enum ImageSource {
    static let maxImageBytes = 32 << 20

    /// Equal file bytes, equal digests (ChatSession.Image.digest).
    static func digest(_ data: Data) -> String { ChatSession.Image.digest(data) }

    static func load(_ url: String, index: Int, allowRemote: Bool, http: HTTPClient?,
                     maxPixels: Int = ImageDecoder.defaultMaxPixels) async throws -> ChatSession.Image {
        let param = "image \(index + 1)"
        let data: Data
        if url.hasPrefix("data:") {
            return try decodeDataURI(url, index: index, maxPixels: maxPixels)
        } else if url.lowercased().hasPrefix("http://") || url.lowercased().hasPrefix("https://") {
            guard allowRemote, let http else {
                throw APIError.invalid("\(param): image URLs are not fetched by this server (start it with --allow-remote-images); send the image as a data: URI",
                                       param: "image_url", code: "remote_images_disabled")
            }
            do {
                let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
                guard response.status == .ok else { throw APIError.invalid("\(param): \(url) answered HTTP \(response.status.code)", param: "image_url") }
                let body = try await response.body.collect(upTo: maxImageBytes)
                data = Data(body.readableBytesView)
            } catch let e as APIError { throw e } catch {
                throw APIError.invalid("\(param): cannot fetch \(url): \(error)", param: "image_url")
            }
        } else {
            throw APIError.invalid("\(param): image_url must be a data: URI\(allowRemote ? " or an http(s) URL" : "")", param: "image_url")
        }
        return try decode(data, param: param, maxPixels: maxPixels)
    }

    /// A `data:` URI's image (base64 JPEG or PNG): what a request carries inline, decoded or refused with an APIError.
    public static func decodeDataURI(_ url: String, index: Int,
                                     maxPixels: Int = ImageDecoder.defaultMaxPixels) throws -> ChatSession.Image {
        let param = "image \(index + 1)"
        guard let comma = url.firstIndex(of: ","), url[..<comma].hasSuffix(";base64") else {
            throw APIError.invalid("\(param): a data URI must be base64 (data:image/png;base64,...)", param: "image_url")
        }
        guard let data = Data(base64Encoded: String(url[url.index(after: comma)...]), options: .ignoreUnknownCharacters)
        else {
            throw APIError.invalid("\(param): the base64 data does not decode", param: "image_url")
        }
        return try decode(data, param: param, maxPixels: maxPixels)
    }

    static func decode(_ data: Data, param: String, maxPixels: Int) throws -> ChatSession.Image {
        do {
            let image = try ImageDecoder.decode(data: data, name: param, maxPixels: maxPixels)
            return ChatSession.Image(digest: digest(data), image: image)
        } catch {
            throw APIError.invalid("\(error)", param: "image_url", code: "invalid_image")
        }
    }
}
