// Conversation: turns that reuse the cache give the tokens a fresh run of the whole history gives; an image sent
// once is encoded once; the stream yields the same text as respond and stops when its consumer leaves.
import Foundation
import LlavaGeneration
import LlavaModels
import LlavaVision
import Testing

@Suite struct ConversationTests {
    static let folder = Fixtures.root.appendingPathComponent("llava-hf/tiny-gqa-crop").path

    @Test func secondTurnFromTheCacheEqualsTheWholeHistoryRecomputed() throws {
        let model = try LlavaModel.load(Self.folder)
        let image = try ImageDecoder.decode(path: Fixtures.path("images/chelsea.jpg"))
        let options = GenerationOptions(maxTokens: 6)
        let chat = Conversation(model: model, options: options, contextSize: 1024)
        let first = try chat.respond(to: "What is this?", images: [image])
        #expect(first.cachedTokens == 0 && chat.imagesEncoded == 1)
        let second = try chat.respond(to: "And the colour?")
        #expect(second.cachedTokens >= first.promptTokens - 2, "\(second.cachedTokens) of \(first.promptTokens)")
        #expect(chat.imagesEncoded == 1 && chat.messages.count == 4)
        // The same history from nothing: the same prompt, the same tokens.
        let prompt = model.chatTemplate.render(Array(chat.messages.prefix(3)))
        let fresh = try Generator(model: model).generate(prompt: prompt, images: [image], options: options)
        #expect(fresh.promptTokens == second.promptTokens)
        #expect(fresh.tokenIds == second.tokenIds)
    }

    @Test func streamYieldsWhatRespondSaysAndStopsWhenLeft() async throws {
        let model = try LlavaModel.load(Self.folder)
        let options = GenerationOptions(maxTokens: 12)
        let whole = try Conversation(model: model, options: options).respond(to: "Say something.")
        let streamed = Conversation(model: model, options: options)
        var text = ""
        for try await piece in streamed.stream(to: "Say something.") { text += piece }
        #expect(text == whole.text && !text.isEmpty)
        #expect(streamed.lastResult?.tokenIds == whole.tokenIds)
        // Leaving after the first piece: generation stops there, and the turn keeps what was said.
        // SmolLM2 (8k positions, ~100 tokens/s here), EOS ignored and room for 4000 tokens: it cannot finish before
        // the break is seen (the tiny model, 256 positions at thousands of tokens/s, could under a loaded machine).
        try #require(FileManager.default.fileExists(atPath: smolPath), "run scripts/fetch-test-models.sh")
        var long = GenerationOptions(maxTokens: 4000)
        long.ignoreEOS = true
        let left = Conversation(model: try LlavaModel.load(smolPath), options: long, contextSize: 4096)
        var pieces = 0
        for try await _ in left.stream(to: "Say something.") { pieces += 1; break }
        let cut = try #require(left.lastResult)   // waits for the turn to end
        #expect(pieces == 1 && cut.finishReason == "cancelled" && cut.tokenIds.count < 4000,
                "\(cut.finishReason) after \(cut.tokenIds.count) tokens")
        #expect(left.messages.count == 2 && left.messages[1].text == cut.text.trimmingCharacters(in: .whitespaces))
    }
}
