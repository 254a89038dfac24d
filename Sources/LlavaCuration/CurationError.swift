// Errors of the curation pipeline: each names the file, line or request that went wrong.
import Foundation

public enum CurationError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case badRecord(path: String, line: Int, reason: String)
    case badPromptFolder(path: String, reason: String)
    case badEndpoint(String)
    case http(status: Int, body: String)
    case malformedResponse(String)
    case timedOut(seconds: Double)
    case transport(String)
    case badArgument(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
        case .badRecord(let path, let line, let reason): return "\(path):\(line): \(reason)"
        case .badPromptFolder(let path, let reason): return "prompt folder \(path): \(reason)"
        case .badEndpoint(let s): return "bad endpoint: \(s)"
        case .http(let status, let body): return "endpoint answered HTTP \(status): \(body.prefix(300))"
        case .malformedResponse(let s): return "endpoint sent a malformed reply: \(s)"
        case .timedOut(let s): return "request timed out after \(s) s"
        case .transport(let s): return "connection failed: \(s)"
        case .badArgument(let s): return s
        }
    }
}
