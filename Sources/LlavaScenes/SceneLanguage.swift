// What can truly be said of a scene, in words: position words from thirds, counts, groups ("two red circles"),
// several caption phrasings, and LLaVA's caps/boxes record (captions + normalised boxes) that the curation teacher
// reads in place of the image.
import Foundation
import LlavaTensor

public enum SceneLanguage {
    public static let numberWords = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

    public static func number(_ n: Int) -> String { n < numberWords.count ? numberWords[n] : String(n) }

    /// "top left", "top", "center", ... from which third of each axis the centre is in.
    public static func position(_ o: SceneObject) -> String {
        let col = o.cx < 1.0 / 3 ? "left" : o.cx > 2.0 / 3 ? "right" : ""
        let row = o.cy < 1.0 / 3 ? "top" : o.cy > 2.0 / 3 ? "bottom" : ""
        switch (row, col) {
        case ("", ""): return "center"
        case ("", let c): return c
        case (let r, ""): return r
        case (let r, let c): return "\(r) \(c)"
        }
    }

    /// "in the top left", "in the center", "on the left", "at the top".
    public static func placement(_ o: SceneObject) -> String {
        let p = position(o)
        switch p {
        case "left", "right": return "on the \(p)"
        case "top", "bottom": return "at the \(p)"
        default: return "in the \(p)"
        }
    }

    /// "a red circle" / "two red circles"; sizes left out.
    public static func group(_ color: ShapeColor, _ shape: ShapeKind, _ n: Int) -> String {
        n == 1 ? "\(article(color.rawValue)) \(color.rawValue) \(shape.rawValue)"
               : "\(number(n)) \(color.rawValue) \(shape.plural)"
    }

    public static func article(_ word: String) -> String {
        guard let f = word.first else { return "a" }
        return "aeiou".contains(f) ? "an" : "a"
    }

    /// "a, b and c"
    public static func list(_ items: [String]) -> String {
        switch items.count {
        case 0: return ""
        case 1: return items[0]
        default: return items.dropLast().joined(separator: ", ") + " and " + (items.last ?? "")
        }
    }

    /// Objects grouped by colour and shape, in order of first appearance.
    public static func groups(_ scene: Scene) -> [(ShapeColor, ShapeKind, Int)] {
        var order: [String] = []
        var counts: [String: (ShapeColor, ShapeKind, Int)] = [:]
        for o in scene.objects {
            let k = "\(o.color.rawValue) \(o.shape.rawValue)"
            if counts[k] == nil { order.append(k); counts[k] = (o.color, o.shape, 0) }
            counts[k]?.2 += 1
        }
        return order.compactMap { counts[$0] }
    }

    public static func capitalised(_ s: String) -> String { s.prefix(1).uppercased() + s.dropFirst() }

    /// "2 shapes" / "1 shape"
    static func shapesWord(_ n: Int) -> String { n == 1 ? "one shape" : "\(number(n)) shapes" }

    /// Five phrasings, each true of the scene.
    public static func captions(_ scene: Scene) -> [String] {
        let objs = scene.objects
        let g = groups(scene).map { group($0.0, $0.1, $0.2) }
        var caps: [String] = []
        caps.append(capitalised("\(list(g)) on \(scene.background.phrase)."))
        caps.append("There \(objs.count == 1 ? "is" : "are") \(shapesWord(objs.count)) in the picture: \(list(g)).")
        let placed = objs.map { "\(article($0.size.rawValue)) \($0.name) \(placement($0))" }
        caps.append(capitalised(list(placed)) + ".")
        caps.append(capitalised("\(shapesWord(objs.count)) drawn on \(scene.background.phrase)."))
        if objs.count >= 2, let (a, b, rel) = relation(scene) {
            caps.append("\(capitalised(article(a.color.rawValue))) \(a.color.rawValue) \(a.shape.rawValue) is \(rel) "
                        + "\(article(b.color.rawValue)) \(b.color.rawValue) \(b.shape.rawValue).")
        } else if let o = objs.first {
            caps.append("\(capitalised(article(o.size.rawValue))) \(o.name) \(placement(o)) of the image.")
        }
        return caps
    }

    /// The clearest left/right or above/below pair of distinct-looking objects, if any.
    public static func relation(_ scene: Scene) -> (SceneObject, SceneObject, String)? {
        let objs = scene.objects
        var best: (SceneObject, SceneObject, String, Double)? = nil
        for i in objs.indices {
            for j in objs.indices where i != j {
                let a = objs[i], b = objs[j]
                if a.color == b.color && a.shape == b.shape { continue }
                let dx = b.cx - a.cx, dy = b.cy - a.cy
                let top = best?.3 ?? 0
                if abs(dx) > 0.2 && abs(dx) > abs(dy) * 2, dx > 0, abs(dx) > top {
                    best = (a, b, "to the left of", abs(dx))
                }
                if abs(dy) > 0.2 && abs(dy) > abs(dx) * 2, dy > 0, abs(dy) > top { best = (a, b, "above", abs(dy)) }
            }
        }
        return best.map { ($0.0, $0.1, $0.2) }
    }

    /// LLaVA's caps/boxes JSONL record: captions plus one instance per object ("large red circle", [x1, y1, x2, y2]).
    public static func capsBoxes(_ scene: Scene) -> [String: Any] {
        let instances: [[String: Any]] = scene.objects.map { o in
            ["category": o.name, "bbox": o.bbox.map { ($0 * 1000).rounded() / 1000 }]
        }
        return ["id": scene.id, "image": scene.image, "captions": captions(scene), "instances": instances]
    }
}
