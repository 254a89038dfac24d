// Template Q&A: a multi-turn LLaVA-Instruct conversation about one scene written straight from its ground truth
// (no teacher). Turns mix the short-answer style the accuracy benchmark asks for ("…\nAnswer in a single word or a
// short phrase." → "3") with full sentences, as LLaVA-1.5 mixed VQA data with conversations.
import Foundation
import LlavaFormats
import LlavaTensor

public enum SceneConversation {
    /// The benchmark's short-answer instruction (LlavaEval's EvalQuestion.shortAnswerInstruction says the same).
    public static let shortAnswerInstruction = "Answer in a single word or a short phrase."

    /// `rounds` > 1 draws the question set again that many times and keeps each distinct question once (a denser
    /// conversation: the image's tokens are paid once for more answers). `shortPercent` of the short questions carry
    /// the short-answer instruction (50 as LLaVA-1.5's mix of VQA and conversation data was made here first).
    public static func template(_ scene: Scene, using g: inout SplitMix64, factualOnly: Bool = false,
                                rounds: Int = 1, shortPercent: Int = 50) -> InstructSample {
        var qs = SceneQuestions.questions(for: scene, using: &g)
        for _ in 1..<max(1, rounds) {
            for q in SceneQuestions.questions(for: scene, using: &g) where q.kind != .open {
                if !qs.contains(where: { $0.question == q.question }) { qs.append(q) }
            }
        }
        if factualOnly { qs.removeAll { $0.kind == .open } }
        // A seeded shuffle, so the order of question types is no cue.
        for i in stride(from: qs.count - 1, to: 0, by: -1) { qs.swapAt(i, g.next(below: i + 1)) }
        var turns: [InstructSample.Turn] = []
        for (k, q) in qs.enumerated() {
            var question = q.question, answer = q.sentence
            // Drawn for short questions only, and at 50 % as the coin it always was, so default files stay the same.
            if q.kind == .short && (shortPercent == 50 ? g.next(below: 2) == 0 : g.next(below: 100) < shortPercent) {
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
