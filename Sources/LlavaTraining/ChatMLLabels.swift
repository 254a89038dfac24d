// Stage-2 labels for chat models in ChatML (SmolLM2, Qwen): the conversation is rendered by the very ChatTemplate
// `llava generate` uses (its default system turn included), so training and inference see the same text. As
// LLaVA-NeXT masks its ChatML/Qwen conversations, only assistant turns learn: each reply and its <|im_end|>; the
// system and user turns, the "<|im_start|>assistant\n" headers and the newline after <|im_end|> are masked. Spans
// come from tokenizing the rendered prefixes; a prefix whose tokens are not a prefix of the whole's (a merge across
// the boundary) masks the sample, as LLaVA does on a tokenization mismatch.
import Foundation
import LlavaFormats
import LlavaTokenizer

extension ConversationLabels {
    public func chatml(_ s: InstructSample, template: ChatTemplate, maxLength: Int) throws -> TokenizedSample {
        let hasImage = s.image != nil
        var turns = s.conversations
        if let first = turns.first, first.from != "human" { turns.removeFirst() }
        guard !turns.isEmpty else { throw TrainingError.badData("sample \(s.id) has no conversation") }
        for (i, t) in turns.enumerated() where (t.from == "human") != (i % 2 == 0) {
            let want = i % 2 == 0 ? "human" : "gpt"
            throw TrainingError.badData("sample \(s.id): turn \(i + 1) should come from \(want)")
        }
        // The image goes to the user turn that names it (the first one when none does), in front, as generate puts it.
        let marked = turns.indices.first { turns[$0].from == "human" && turns[$0].value.contains(Self.marker) } ?? 0
        let messages: [ChatMessage] = turns.enumerated().map { i, t in
            let text = t.value.replacingOccurrences(of: Self.marker, with: "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            if t.from == "human" {
                return ChatMessage(role: .user, text: text, images: hasImage && i == marked ? 1 : 0)
            }
            return ChatMessage(role: .assistant, text: text)
        }
        let tok = tokenizer
        func encode(_ text: String) -> [Int] {
            hasImage ? encodeWithImages(text) : tok.encode(text, addSpecialTokens: true)
        }
        let ids = encode(template.render(messages, addGenerationPrompt: false))
        var labels = [Int](repeating: ignore, count: ids.count)
        var mismatch = false
        for k in messages.indices where messages[k].role == .assistant {
            let start = encode(template.render(Array(messages[..<k]), addGenerationPrompt: true))
            var through = template.render(Array(messages[...k]), addGenerationPrompt: false)
            if through.hasSuffix("\n") { through.removeLast() }   // the newline after <|im_end|> is not learned
            let end = encode(through)
            guard start.count <= end.count, end.count <= ids.count, Array(ids.prefix(end.count)) == end,
                  Array(end.prefix(start.count)) == start else { mismatch = true; break }
            for j in start.count..<end.count { labels[j] = ids[j] }
        }
        var out = TokenizedSample(ids: ids, labels: labels)
        if mismatch {
            out.labels = Array(repeating: ignore, count: ids.count)
            out.mismatch = true
        }
        return expand(out, maxLength: maxLength)
    }
}
