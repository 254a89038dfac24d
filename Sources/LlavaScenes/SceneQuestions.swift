// Questions a scene's ground truth answers: counts (all, by colour, by shape), the colour of a shape, the shape
// of a colour, where an object is, yes/no presence, plus open detail and reasoning prompts with reference answers.
// The held-out question file for `llava eval` and the template-Q&A training arm are both made from these.
import Foundation
import LlavaTensor

public struct SceneQuestion: Sendable, Equatable {
    public enum Kind: String, Sendable { case short, yesNo, open }
    public var category: String   // count, color, shape, position, yesno, detail, complex
    public var kind: Kind
    public var question: String
    /// The short answer ("3", "red", "top left", "yes"), or the reference text of an open question.
    public var answer: String
    /// The answer as a sentence, for conversational training turns.
    public var sentence: String
}

public enum SceneQuestions {
    public static let factualCategories = ["count", "color", "shape", "position", "yesno"]

    /// Every factual question type once where the scene allows it (a colour question needs a shape that occurs
    /// once, and so on), drawn with `g`; then a detail and a reasoning prompt.
    public static func questions(for scene: Scene, using g: inout SplitMix64) -> [SceneQuestion] {
        let objs = scene.objects
        var out: [SceneQuestion] = []
        func pick<T>(_ xs: [T]) -> T { xs[g.next(below: xs.count)] }
        let L = SceneLanguage.self

        // count: all shapes.
        let n = objs.count
        out.append(SceneQuestion(category: "count", kind: .short, question: "How many shapes are there in the image?",
                                 answer: String(n), sentence: "There \(n == 1 ? "is" : "are") \(L.number(n)) "
                                 + "shape\(n == 1 ? "" : "s") in the image."))
        // count by colour (present colours twice as often as absent ones) or by shape.
        if g.next(below: 2) == 0 {
            let present = Array(Set(objs.map(\.color))).sorted { $0.rawValue < $1.rawValue }
            let c = g.next(below: 3) < 2 && !present.isEmpty ? pick(present) : pick(ShapeColor.allCases)
            let k = objs.filter { $0.color == c }.count
            out.append(SceneQuestion(category: "count", kind: .short,
                                     question: "How many \(c.rawValue) shapes are there?",
                                     answer: String(k), sentence: "There \(k == 1 ? "is" : "are") \(L.number(k)) "
                                     + "\(c.rawValue) shape\(k == 1 ? "" : "s")."))
        } else {
            let present = Array(Set(objs.map(\.shape))).sorted { $0.rawValue < $1.rawValue }
            let s = g.next(below: 3) < 2 && !present.isEmpty ? pick(present) : pick(ShapeKind.allCases)
            let k = objs.filter { $0.shape == s }.count
            out.append(SceneQuestion(category: "count", kind: .short, question: "How many \(s.plural) are there?",
                                     answer: String(k), sentence: "There \(k == 1 ? "is" : "are") \(L.number(k)) "
                                     + (k == 1 ? s.rawValue : s.plural) + "."))
        }
        // colour of a shape that occurs once.
        let uniqueShapes = objs.filter { o in objs.filter { $0.shape == o.shape }.count == 1 }
        if !uniqueShapes.isEmpty {
            let o = pick(uniqueShapes)
            out.append(SceneQuestion(category: "color", kind: .short,
                                     question: "What color is the \(o.shape.rawValue)?", answer: o.color.rawValue,
                                     sentence: "The \(o.shape.rawValue) is \(o.color.rawValue)."))
        }
        // shape of a colour that occurs once.
        let uniqueColors = objs.filter { o in objs.filter { $0.color == o.color }.count == 1 }
        if !uniqueColors.isEmpty {
            let o = pick(uniqueColors)
            out.append(SceneQuestion(category: "shape", kind: .short,
                                     question: "What shape is the \(o.color.rawValue) object?",
                                     answer: o.shape.rawValue,
                                     sentence: "The \(o.color.rawValue) object is \(L.article(o.shape.rawValue)) "
                                     + "\(o.shape.rawValue)."))
        }
        // where an object is that its colour and shape name alone.
        let uniqueKinds = objs.filter { o in objs.filter { $0.shape == o.shape && $0.color == o.color }.count == 1 }
        if !uniqueKinds.isEmpty {
            let o = pick(uniqueKinds)
            let p = L.position(o)
            out.append(SceneQuestion(category: "position", kind: .short,
                                     question: "Where is the \(o.color.rawValue) \(o.shape.rawValue) in the image?",
                                     answer: p, sentence: "The \(o.color.rawValue) \(o.shape.rawValue) is "
                                     + "\(L.placement(o)) of the image."))
        }
        // yes/no presence, balanced.
        let yes = g.next(below: 2) == 0 && !objs.isEmpty
        var color: ShapeColor, shape: ShapeKind
        if yes, let o = objs.isEmpty ? nil : pick(objs) { color = o.color; shape = o.shape } else {
            var tries = 0
            repeat {
                color = pick(ShapeColor.allCases); shape = pick(ShapeKind.allCases); tries += 1
            } while objs.contains(where: { $0.color == color && $0.shape == shape }) && tries < 50
        }
        let truth = objs.contains { $0.color == color && $0.shape == shape }
        let thing = "\(L.article(color.rawValue)) \(color.rawValue) \(shape.rawValue)"
        out.append(SceneQuestion(category: "yesno", kind: .yesNo, question: "Is there \(thing) in the image?",
                                 answer: truth ? "yes" : "no",
                                 sentence: truth ? "Yes, there is \(thing) in the image."
                                                 : "No, there is no \(color.rawValue) \(shape.rawValue) in the image."))
        out.append(SceneQuestion(category: "detail", kind: .open, question: pick(detailPrompts),
                                 answer: detail(scene), sentence: detail(scene)))
        let (q, a) = reasoning(scene, using: &g)
        out.append(SceneQuestion(category: "complex", kind: .open, question: q, answer: a, sentence: a))
        return out
    }

    public static let detailPrompts = [
        "Describe the image in detail.", "What do you see in this picture? Describe it thoroughly.",
        "Give a detailed description of this image.", "Describe every shape in the image and where it is.",
    ]

    /// A full description from the ground truth.
    public static func detail(_ scene: Scene) -> String {
        let L = SceneLanguage.self
        let n = scene.objects.count
        var parts = ["The image shows \(L.shapesWord(n)) on \(scene.background.phrase)."]
        for o in scene.objects {
            parts.append("\(L.capitalised(L.article(o.size.rawValue))) \(o.name) is \(L.placement(o)).")
        }
        if let (a, b, rel) = L.relation(scene) {
            parts.append("The \(a.color.rawValue) \(a.shape.rawValue) is \(rel) "
                         + "the \(b.color.rawValue) \(b.shape.rawValue).")
        }
        return parts.joined(separator: " ")
    }

    /// One reasoning question with its worked answer.
    public static func reasoning(_ scene: Scene, using g: inout SplitMix64) -> (String, String) {
        let L = SceneLanguage.self
        let objs = scene.objects
        switch g.next(below: 3) {
        case 0:
            let c = objs.isEmpty ? ShapeColor.red : objs[g.next(below: objs.count)].color
            let k = objs.filter { $0.color == c }.count
            let left = objs.count - k
            return ("If all the \(c.rawValue) shapes were removed, how many shapes would be left? Explain.",
                    "There are \(L.number(objs.count)) shapes and \(L.number(k)) of them \(k == 1 ? "is" : "are") "
                    + "\(c.rawValue), so \(L.number(left)) shape\(left == 1 ? "" : "s") would be left.")
        case 1:
            let large = objs.filter { $0.size == .large }.count, small = objs.count - large
            let verdict = large > small ? "There are more large shapes than small ones"
                : large < small ? "There are more small shapes than large ones"
                : "There are as many large shapes as small ones"
            return ("Are there more large shapes or small shapes in the image? Explain your reasoning.",
                    "\(verdict): \(L.number(large)) large and \(L.number(small)) small.")
        default:
            var counts: [ShapeColor: Int] = [:]
            for o in objs { counts[o.color, default: 0] += 1 }
            let top = counts.values.max() ?? 0
            let winners = ShapeColor.allCases.filter { counts[$0] == top }
            if winners.count == 1, let w = winners.first {
                return ("Which color appears most often among the shapes, and how many shapes have it?",
                        "\(L.capitalised(w.rawValue)) appears most often: \(L.number(top)) of the "
                        + "\(L.number(objs.count)) shapes are \(w.rawValue).")
            }
            return ("Which color appears most often among the shapes, and how many shapes have it?",
                    "No single color appears most often: \(L.list(winners.map(\.rawValue))) each appear "
                    + "\(L.number(top)) time\(top == 1 ? "" : "s").")
        }
    }
}
