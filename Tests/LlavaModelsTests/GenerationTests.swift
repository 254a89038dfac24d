// Sampling, streaming text and stop strings.
import Foundation
import LlavaGeneration
import LlavaModels
import Testing

@Suite struct GenerationTests {
    let logits: [Float] = [0.1, 2.0, 1.9, -1.0, 0.5]

    func draw(_ o: SamplingOptions, _ n: Int = 200, previous: [Int] = []) -> [Int] {
        var s = Sampler(options: o)
        return logits.withUnsafeBufferPointer { b in (0..<n).map { _ in s.sample(b, previous: previous) } }
    }

    @Test func greedyTakesTheArgmax() {
        #expect(Set(draw(SamplingOptions(temperature: 0))) == [1])
        #expect(Set(draw(SamplingOptions(temperature: 1.5, topK: 1, seed: 3))) == [1])
    }

    @Test func seedsReproduceAndTopKLimits() {
        let a = draw(SamplingOptions(temperature: 1, seed: 42)), b = draw(SamplingOptions(temperature: 1, seed: 42))
        #expect(a == b)
        #expect(draw(SamplingOptions(temperature: 1, seed: 43)) != a)
        #expect(Set(draw(SamplingOptions(temperature: 5, topK: 2, seed: 1))) == [1, 2])
        // top-p 0.5 keeps token 1 alone (it holds ~0.45 < 0.5, so token 2 joins; 0.3 keeps only 1)
        #expect(Set(draw(SamplingOptions(temperature: 1, topP: 0.3, seed: 1))) == [1])
    }

    @Test func repetitionPenaltyDividesPositiveLogits() {
        // 2.0 / 1.1 = 1.82 < 1.9: the repeated token loses.
        #expect(Set(draw(SamplingOptions(temperature: 0, repeatPenalty: 1.1), 1, previous: [1])) == [2])
    }

    @Test func streamerHoldsSplitCharacters() {
        var s = TextStreamer(stripLeadingSpace: true)
        let e = Array("é".utf8)
        #expect(s.push(Array(" caf".utf8)) == "caf")
        #expect(s.push([e[0]]) == "")
        #expect(s.push([e[1]]) == "é")
        let emoji = Array("😀".utf8)
        #expect(s.push(Array(emoji.prefix(3))) == "")
        #expect(s.push([emoji[3], 0x21]) == "😀!")
        #expect(s.text == "café😀!")
    }

    @Test func stopStringEndsGenerationBeforeIt() throws {
        let model = try CheckpointLoader.loadLlavaHF(folder: Fixtures.path("tiny-gqa-crop"))
        let gen = Generator(model: model)
        let prompt = "USER: Tell me a story about a cat. ASSISTANT:"
        let free = try gen.generate(prompt: prompt, images: [], options: GenerationOptions(maxTokens: 16))
        let printable = free.text.filter { $0.isLetter }
        try #require(printable.count >= 4)
        let stop = String(printable.dropFirst(2).prefix(2))
        let cut = try #require(free.text.range(of: stop))
        var streamed = ""
        let r = try gen.generate(prompt: prompt, images: [], options: GenerationOptions(maxTokens: 16, stop: [stop])) {
            streamed += $0
        }
        #expect(r.text == String(free.text[..<cut.lowerBound]))
        #expect(streamed == r.text)
        #expect(r.finishReason == "stop")
    }
}
