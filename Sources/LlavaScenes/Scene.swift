// The synthetic world's ground truth: a scene is a background and a few flat shapes, each with a shape, a colour,
// a size class and a place. Everything said about a scene (captions, boxes, questions, fact checks) is computed
// from this record, so it is the one truth both renderers draw and every checker reads (`scenes.jsonl`).
import Foundation

public enum ShapeKind: String, Codable, Sendable, CaseIterable {
    case circle, square, triangle, star
    public var plural: String { self == .circle ? "circles" : rawValue + "s" }
}

public enum ShapeColor: String, Codable, Sendable, CaseIterable {
    case red, green, blue, yellow, purple, orange
    /// The colour's centre in sRGB; each object jitters around it.
    public var rgb: (Int, Int, Int) {
        switch self {
        case .red: return (214, 39, 40)
        case .green: return (44, 160, 44)
        case .blue: return (31, 89, 214)
        case .yellow: return (240, 205, 30)
        case .purple: return (140, 70, 190)
        case .orange: return (250, 135, 20)
        }
    }
}

public enum SizeClass: String, Codable, Sendable, CaseIterable { case small, large }

public enum BackgroundKind: String, Codable, Sendable, CaseIterable {
    case plain, gradient, noise, checker
}

/// One shape. Geometry is in units of the image side (0...1), y down; `radius` is the shape's circumradius
/// (a square's half-diagonal), `rotation` in radians.
public struct SceneObject: Codable, Sendable, Equatable {
    public var shape: ShapeKind
    public var color: ShapeColor
    public var size: SizeClass
    public var cx: Double
    public var cy: Double
    public var radius: Double
    public var rotation: Double
    /// The sRGB fill actually drawn.
    public var fill: [Int]

    public init(shape: ShapeKind, color: ShapeColor, size: SizeClass, cx: Double, cy: Double, radius: Double,
                rotation: Double, fill: [Int]) {
        self.shape = shape; self.color = color; self.size = size; self.cx = cx; self.cy = cy
        self.radius = radius; self.rotation = rotation; self.fill = fill
    }

    /// The outline as polygon vertices (circles: nil).
    public var polygon: [(Double, Double)]? {
        func ring(_ n: Int, _ r: (Int) -> Double, start: Double) -> [(Double, Double)] {
            (0..<n).map { i in
                let a = start + rotation + 2 * Double.pi * Double(i) / Double(n)
                return (cx + r(i) * cos(a), cy + r(i) * sin(a))
            }
        }
        switch shape {
        case .circle: return nil
        case .square: return ring(4, { _ in radius }, start: Double.pi / 4)
        case .triangle: return ring(3, { _ in radius }, start: -Double.pi / 2)
        case .star: return ring(10, { $0 % 2 == 0 ? radius : radius * 0.45 }, start: -Double.pi / 2)
        }
    }

    /// Tight box [x1, y1, x2, y2] in 0...1.
    public var bbox: [Double] {
        guard let p = polygon else { return [cx - radius, cy - radius, cx + radius, cy + radius] }
        let xs = p.map(\.0), ys = p.map(\.1)
        return [xs.min() ?? cx, ys.min() ?? cy, xs.max() ?? cx, ys.max() ?? cy]
    }

    /// "large red circle"
    public var name: String { "\(size.rawValue) \(color.rawValue) \(shape.rawValue)" }
}

public struct SceneBackground: Codable, Sendable, Equatable {
    public var kind: BackgroundKind
    /// One colour (plain, noise) or two (gradient ends, checker squares), sRGB.
    public var colors: [[Int]]
    /// Gradient direction (0 = left to right, 1 = top to bottom), checker cell count, or noise amplitude.
    public var parameter: Double
    /// Is this a dark background (a colour word for it is "dark")?
    public var isDark: Bool
    public init(kind: BackgroundKind, colors: [[Int]], parameter: Double, isDark: Bool) {
        self.kind = kind; self.colors = colors; self.parameter = parameter; self.isDark = isDark
    }
    public var phrase: String {
        switch kind {
        case .plain: return isDark ? "a dark background" : "a light background"
        case .gradient: return isDark ? "a dark gradient background" : "a light gradient background"
        case .noise: return isDark ? "a dark grainy background" : "a light grainy background"
        case .checker: return "a checkered background"
        }
    }
}

/// How a scene's pixels are made: the side in pixels, supersampling (1 = aliased edges), file format.
public struct SceneRendering: Codable, Sendable, Equatable {
    public var side: Int
    public var supersample: Int
    public var format: String
    public var quality: Int
    public var renderer: String
    public init(side: Int, supersample: Int, format: String, quality: Int, renderer: String) {
        self.side = side; self.supersample = supersample; self.format = format; self.quality = quality
        self.renderer = renderer
    }
}

public struct Scene: Codable, Sendable, Equatable {
    public var id: String
    public var image: String
    public var seed: UInt64
    public var background: SceneBackground
    public var objects: [SceneObject]
    public var rendering: SceneRendering

    public init(id: String, image: String, seed: UInt64, background: SceneBackground, objects: [SceneObject],
                rendering: SceneRendering) {
        self.id = id; self.image = image; self.seed = seed; self.background = background; self.objects = objects
        self.rendering = rendering
    }

    /// One scene per line.
    public static func loadJSONL(_ url: URL) throws -> [Scene] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw SceneError.unreadable(url.path, error.localizedDescription)
        }
        var scenes: [Scene] = []
        let decoder = JSONDecoder()
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            do { scenes.append(try decoder.decode(Scene.self, from: Data(line.utf8))) } catch {
                throw SceneError.badRecord(url.path, i + 1, "\(error)")
            }
        }
        return scenes
    }
}

public enum SceneError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, String)
    case badRecord(String, Int, String)
    case badOption(String)
    public var description: String {
        switch self {
        case .unreadable(let p, let why): return "cannot read \(p): \(why)"
        case .badRecord(let p, let line, let why): return "\(p):\(line): not a scene record (\(why))"
        case .badOption(let why): return why
        }
    }
}
