// Errors as the OpenAI API shapes them: {"error": {"message", "type", "param", "code"}} with a matching status.
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

public struct APIError: Error, CustomStringConvertible, Equatable {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    public var retryAfter: Int?

    public init(status: Int, message: String, type: String = "invalid_request_error", param: String? = nil,
                code: String? = nil, retryAfter: Int? = nil) {
        self.status = status; self.message = message; self.type = type; self.param = param; self.code = code
        self.retryAfter = retryAfter
    }

    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, param: param, code: code)
    }

    public var description: String { "\(status) \(message)" }

    public var response: Response {
        var error: [String: Any] = ["message": message, "type": type, "param": param as Any? ?? NSNull(), "code": code as Any? ?? NSNull()]
        if param == nil { error["param"] = NSNull() }
        let data = (try? JSONSerialization.data(withJSONObject: ["error": error], options: [.sortedKeys])) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: HTTPResponse.Status(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// A JSON body with the right content type.
func jsonResponse(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
