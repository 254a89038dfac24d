// `llava eval answer`: the model answers every question of a file (LLaVA-Bench, multiple choice, short answer,
// yes/no), one JSON line per answer as LLaVA's model_vqa writes them. The answers file is its own journal: a rerun
// answers only the questions not yet in it.
import Foundation
import LlavaFormats
import LlavaGeneration
import LlavaModels
import LlavaVision

public struct AnswerSettings: Sendable {
    public var generation = GenerationOptions(maxTokens: 1024)   // greedy unless sampling says otherwise
    public var modelID = "swift-llava"
    public var system: String?
    public init() {}
}

public enum AnswerRunner {
    /// Answers what is missing from `output`; returns how many it answered. `progress(done, total)`.
    public static func run(questions: [EvalQuestion], imagesDir: URL?, model: LlavaModel, settings: AnswerSettings,
                           output: URL, progress: (Int, Int) -> Void = { _, _ in }) throws -> Int {
        let log = try AppendLog(url: output)
        var done = Set<QuestionID>()
        for (index, line) in log.lines.enumerated() {
            guard let o = try? JSONSerialization.jsonObject(with: line) as? [String: Any], let id = QuestionID(json: o["question_id"]) else {
                throw JSONLinesError(path: output.path, line: index + 1, reason: "not an answer line; move the file aside to start over")
            }
            done.insert(id)
        }
        let todo = questions.filter { !done.contains($0.id) }
        let generator = Generator(model: model)
        var count = questions.count - todo.count
        progress(count, questions.count)
        for q in todo {
            var images: [RGBImage] = []
            if let name = q.image {
                guard let dir = imagesDir else { throw EvalError("question \(q.id) has an image (\(name)); give --images DIR") }
                images = [try ImageDecoder.decode(path: dir.appendingPathComponent(name).path)]
            }
            let prompt = model.prompt(user: q.prompt, system: settings.system, images: images.count, raw: false)
            let result = try generator.generate(prompt: prompt, images: images, options: settings.generation)
            let line: [String: Any] = [
                "question_id": q.id.jsonValue, "prompt": q.prompt, "text": result.text.trimmingCharacters(in: .whitespacesAndNewlines),
                "answer_id": UUID().uuidString.lowercased(), "model_id": settings.modelID,
                "metadata": ["finish_reason": result.finishReason, "prompt_tokens": result.promptTokens,
                             "completion_tokens": result.tokenIds.count] as [String: Any],
            ]
            try log.append(try JSONLines.encodeLine(line))
            count += 1
            progress(count, questions.count)
        }
        return todo.count
    }
}
