// What the rest of swift-llava needs from a tokenizer, whatever file it came from.

public protocol Tokenizer: AnyObject, Sendable {
    var vocabularySize: Int { get }
    var bosId: Int? { get }
    var eosIds: [Int] { get }
    /// Text to ids; `addSpecialTokens` adds what the post-processor adds (BOS for LLaMA).
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int]
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
    /// Raw bytes of one token as it appears in output text, for streaming.
    func bytes(for id: Int) -> [UInt8]
    func isSpecial(_ id: Int) -> Bool
    var stripsLeadingSpace: Bool { get }
}
