// Stage-2 labels in ChatML, on SmolLM2's real vocabulary (the assembled SmolLLaVA base from
// scripts/fetch-test-models.sh): the ids are exactly the tokens of what `llava generate`'s template renders, and the
// learned positions are exactly each reply and its <|im_end|> — nothing of the system or user turns, the assistant
// headers or the newline after <|im_end|> (LLaVA-NeXT's masking of its ChatML/Qwen conversations).
import Foundation
import LlavaFormats
import LlavaTokenizer
import LlavaTraining
import Testing

@Suite("ChatML labels")
struct ChatMLLabelsTests {
    static let cache = ProcessInfo.processInfo.environment["SWIFT_LLAVA_CACHE"]
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/swift-llava").path

    @Test("ids are the rendered conversation; only replies and <|im_end|> learn")
    func masks() throws {
        let tok = try TokenizerJSON.loadAny(path: Self.cache + "/smol-llava-base/tokenizer.json")
        let system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
        let template = ChatTemplate(.chatml, defaultSystem: system)
        let labeller = ConversationLabels(tokenizer: tok, imageTokenId: 49152, tokensPerImage: 4, legacy: true)
        let sample = InstructSample(id: "s", image: "a.png", conversations: [
            .init(from: "human", value: "How many shapes are there?\n<image>"), .init(from: "gpt", value: "3"),
            .init(from: "human", value: "What color is the star?"), .init(from: "gpt", value: "The star is red."),
        ])
        let t = try labeller.chatml(sample, template: template, maxLength: 4096)
        #expect(!t.mismatch)
        let text = template.render([ChatMessage(role: .user, text: "How many shapes are there?", images: 1),
                                    ChatMessage(role: .assistant, text: "3"),
                                    ChatMessage(role: .user, text: "What color is the star?"),
                                    ChatMessage(role: .assistant, text: "The star is red.")], addGenerationPrompt: false)
        #expect(text.hasPrefix("<|im_start|>system\n\(system)<|im_end|>\n<|im_start|>user\n<image>\nHow many"))
        var expected: [Int] = []
        for id in tok.encode(text, addSpecialTokens: true) {
            expected.append(contentsOf: id == 49152 ? Array(repeating: 49152, count: 4) : [id])
        }
        #expect(t.ids == expected)
        // The learned runs: each reply's own tokens, then <|im_end|>.
        var runs: [[Int]] = [], current: [Int] = []
        for l in t.labels {
            if l == -100 { if !current.isEmpty { runs.append(current); current = [] } } else { current.append(l) }
        }
        if !current.isEmpty { runs.append(current) }
        let imEnd = tok.encode("<|im_end|>", addSpecialTokens: false)
        #expect(imEnd == [2])
        #expect(runs == [tok.encode("3", addSpecialTokens: false) + imEnd,
                         tok.encode("The star is red.", addSpecialTokens: false) + imEnd])
    }

    @Test("a sample that does not alternate is refused with its id")
    func badTurns() throws {
        let tok = try TokenizerJSON.loadAny(path: Self.cache + "/smol-llava-base/tokenizer.json")
        let labeller = ConversationLabels(tokenizer: tok, imageTokenId: 49152, tokensPerImage: 4, legacy: true)
        let s = InstructSample(id: "bad-7", image: nil, conversations: [.init(from: "human", value: "a"),
                                                                         .init(from: "human", value: "b")])
        #expect(throws: (any Error).self) { try labeller.chatml(s, template: ChatTemplate(.chatml), maxLength: 64) }
        do { _ = try labeller.chatml(s, template: ChatTemplate(.chatml), maxLength: 64) } catch {
            #expect("\(error)".contains("bad-7"))
        }
    }
}
