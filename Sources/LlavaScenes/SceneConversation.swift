// Template Q&A: a multi-turn LLaVA-Instruct conversation about one scene written straight from its ground truth
// (no teacher). Turns mix the short-answer style the accuracy benchmark asks for ("…\nAnswer in a single word or a
// short phrase." → "3") with full sentences, as LLaVA-1.5 mixed VQA data with conversations.
import Foundation
import LlavaFormats
import LlavaTensor

public enum SceneConversation {
    /// The benchmark's short-answer instruction (LlavaEval's EvalQuestion.shortAnswerInstruction says the same).
    public static let shortAnswerInstruction = "Answer in a single word or a short phrase."

    public static func template(_ scene: Scene, using g: inout SplitMix64,
                                factualOnly: Bool = false) -> InstructSample {
        var qs = SceneQuestions.questions(for: scene, using: &g)
        if factualOnly { qs.removeAll { $0.kind == .open } }
        // A seeded shuffle, so the order of question types is no cue.
        for i in stride(from: qs.count - 1, to: 0, by: -1) { qs.swapAt(i, g.next(below: i + 1)) }
        var turns: [InstructSample.Turn] = []
        for (k, q) in qs.enumerated() {
            var question = q.question, answer = q.sentence
            if q.kind == .short && g.next(below: 2) == 0 {
                question += "\n" + shortAnswerInstruction
                answer = q.answer
            }
            if k == 0 { question = InstructSample.imageMarker + "\n" + question }
            turns.append(.init(from: "human", value: question))
            turns.append(.init(from: "gpt", value: answer))
        }
        return InstructSample(id: scene.id + "-qa", image: scene.image, conversations: turns)
    }
}
