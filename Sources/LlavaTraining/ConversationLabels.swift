// Token ids and masked labels for one LLaVA-Instruct sample, exactly as LLaVA's train.py builds them:
// stage 1 `preprocess_plain` (image, caption, "\n"; the instruction dropped; only the caption is learned) and
// stage 2 `preprocess_v1` (the vicuna_v1 conversation "SYSTEM USER: q ASSISTANT: a</s>USER: …"; user turns, the
// system line and image positions masked; each answer and its closing </s> learned). Round lengths come from
// tokenizing each round on its own, as LLaVA does, including its "- 2" and the non-legacy "- 1" adjustments; when
// the lengths do not add up to the whole, the sample is masked entirely (LLaVA's "tokenization mismatch").
// Images become `tokensPerImage` positions of the image token; samples are cut to `maxLength` after that
// expansion (LLaVA truncates the embedded sequence the same way).
import Foundation
import LlavaFormats
import LlavaTokenizer

public struct TokenizedSample: Sendable, Equatable {
    public var ids: [Int]
    public var labels: [Int]
    public var mismatch = false   // LLaVA's round lengths disagreed: nothing in this sample is learned
    public var labelledCount: Int { labels.dropFirst().filter { $0 != CrossEntropy.ignoreIndex }.count }
}

public struct ConversationLabels: Sendable {
    public static let vicunaSystem = "A chat between a curious user and an artificial intelligence assistant. " +
        "The assistant gives helpful, detailed, and polite answers to the user's questions."
    let tokenizer: any Tokenizer
    let imageTokenId: Int
    let tokensPerImage: Int
    /// tokenizer_config.json's `legacy` (true when absent): LLaVA shortens later rounds by one for non-legacy tokenizers.
    let legacy: Bool
    public var system = ConversationLabels.vicunaSystem

    public init(tokenizer: any Tokenizer, imageTokenId: Int, tokensPerImage: Int, legacy: Bool) {
        self.tokenizer = tokenizer; self.imageTokenId = imageTokenId; self.tokensPerImage = tokensPerImage; self.legacy = legacy
    }

    static let marker = "<image>"
    let ignore = CrossEntropy.ignoreIndex

    /// LLaVA's tokenizer_image_token: the text between markers tokenized apart, one BOS, one image id per marker.
    func encodeWithImages(_ text: String) -> [Int] {
        let chunks = text.components(separatedBy: Self.marker).map { tokenizer.encode($0, addSpecialTokens: true) }
        // Only a BOS the tokenizer itself adds is dropped from later chunks: a ChatML text starts with its own
        // <|im_start|>, which some configs also name bos_token, and that one belongs to the text.
        let bos = tokenizer.bosId
        let addsBos = bos != nil && tokenizer.encode("", addSpecialTokens: true).first == bos
        let offset = (addsBos && chunks.first?.first == bos) ? 1 : 0
        var out: [Int] = offset == 1 ? [bos ?? 0] : []
        for (i, c) in chunks.enumerated() {
            if i > 0 { out.append(imageTokenId) }
            out.append(contentsOf: c.dropFirst(offset))
        }
        return out
    }

    /// Stage 1: "<image>" + the first answer + "\n".
    public func plain(_ s: InstructSample, maxLength: Int) throws -> TokenizedSample {
        guard let caption = s.conversations.first(where: { $0.from != "human" })?.value else {
            throw TrainingError.badData("sample \(s.id) has no caption (no gpt turn)")
        }
        let ids = encodeWithImages(Self.marker + caption + "\n")
        var labels = ids
        let head = min(encodeWithImages(Self.marker).count, labels.count)
        for i in 0..<head { labels[i] = ignore }
        return expand(TokenizedSample(ids: ids, labels: labels), maxLength: maxLength)
    }

    /// Stage 2: the llava-1.5 (vicuna_v1) conversation, every answer learned.
    public func conversation(_ s: InstructSample, maxLength: Int) throws -> TokenizedSample {
        let hasImage = s.image != nil
        var turns = s.conversations
        // LLaVA drops a leading gpt turn, then expects human/gpt alternating.
        if let first = turns.first, first.from != "human" { turns.removeFirst() }
        guard !turns.isEmpty else { throw TrainingError.badData("sample \(s.id) has no conversation") }
        for (i, t) in turns.enumerated() where (t.from == "human") != (i % 2 == 0) {
            throw TrainingError.badData("sample \(s.id): turn \(i + 1) should come from \(i % 2 == 0 ? "human" : "gpt")")
        }
        // As LLaVA's preprocess_multimodal: a turn holding the marker gets it moved to its front ("<image>\n" + text);
        // a sample with an image but no marker gets it on the first turn; without an image, stray markers are dropped.
        let anyMarker = turns.contains { $0.value.contains(Self.marker) }
        var prompt = system + " "
        for (i, t) in turns.enumerated() {
            var value = t.value
            if hasImage && (value.contains(Self.marker) || (!anyMarker && i == 0)) {
                value = Self.marker + "\n" + value.replacingOccurrences(of: Self.marker, with: "").trimmingCharacters(in: .whitespacesAndNewlines)
            } else if !hasImage {
                value = value.replacingOccurrences(of: Self.marker, with: "")
            }
            prompt += (t.from == "human" ? "USER" : "ASSISTANT") + ": " + value + (i % 2 == 0 ? " " : "</s>")
        }
        let tok = tokenizer
        func encode(_ text: String) -> [Int] { hasImage ? encodeWithImages(text) : tok.encode(text, addSpecialTokens: true) }
        let ids = encode(prompt)
        var labels = ids
        var cur = 1
        labels[0] = ignore
        let sep = " ASSISTANT: "
        for (i, round) in prompt.components(separatedBy: "</s>").enumerated() {
            if round.isEmpty { break }
            let parts = round.components(separatedBy: sep)
            if parts.count != 2 { break }
            var roundLen = encode(round).count
            var instructionLen = encode(parts[0] + sep).count - 2
            if i != 0 && !legacy { roundLen -= 1; instructionLen -= 1 }
            let end = min(labels.count, cur + max(0, instructionLen))
            if cur < end { for j in cur..<end { labels[j] = ignore } }
            cur += roundLen
        }
        if cur < labels.count { for j in cur..<labels.count { labels[j] = ignore } }
        var out = TokenizedSample(ids: ids, labels: labels)
        if cur != ids.count {
            out.labels = Array(repeating: ignore, count: ids.count)
            out.mismatch = true
        }
        return expand(out, maxLength: maxLength)
    }

    /// Each image id becomes `tokensPerImage` masked image positions; then the first `maxLength` positions are kept.
    func expand(_ s: TokenizedSample, maxLength: Int) -> TokenizedSample {
        var ids: [Int] = [], labels: [Int] = []
        for (id, label) in zip(s.ids, s.labels) {
            if id == imageTokenId {
                ids.append(contentsOf: repeatElement(imageTokenId, count: tokensPerImage))
                labels.append(contentsOf: repeatElement(ignore, count: tokensPerImage))
            } else {
                ids.append(id); labels.append(label)
            }
        }
        var out = TokenizedSample(ids: Array(ids.prefix(maxLength)), labels: Array(labels.prefix(maxLength)))
        out.mismatch = s.mismatch
        return out
    }
}
