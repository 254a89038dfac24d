// Errors from reading or running a tokenizer.

public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, String)
    case unsupported(String)
    case unknownToken(String)
    case badId(Int)

    public var description: String {
        switch self {
        case .unreadable(let path, let why): return "cannot read tokenizer \(path): \(why)"
        case .unsupported(let what): return "unsupported tokenizer: \(what)"
        case .unknownToken(let t): return "token not in vocabulary: \(t)"
        case .badId(let id): return "token id \(id) is outside the vocabulary"
        }
    }
}
