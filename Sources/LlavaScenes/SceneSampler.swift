// Draws scenes from a seed: the same (seed, index) gives the same scene on every machine (splitmix64, no
// platform random). Shapes never overlap and keep clear of the lines between thirds, so every position word
// ("top left", "center") and every count the ground truth states is unambiguous to a viewer.
import Foundation
import LlavaTensor

public struct SceneSampler: Sendable {
    public var minObjects = 1
    public var maxObjects = 6
    /// Pixel sides to choose from; the processor resizes every image to the tower's input anyway.
    public var sides = [112, 128, 160, 192, 224, 256]
    public var renderer = "llava"

    public init() {}

    /// A scene's own seed: splitmix64 of the run seed and the index, so scenes are independent of how many are drawn.
    public static func sceneSeed(runSeed: UInt64, index: Int) -> UInt64 {
        var g = SplitMix64(seed: runSeed &* 0x100000001B3 ^ UInt64(index))
        return g.next()
    }

    public func scene(runSeed: UInt64, index: Int, prefix: String = "scene") -> Scene {
        let seed = Self.sceneSeed(runSeed: runSeed, index: index)
        var g = SplitMix64(seed: seed)
        func unit() -> Double { Double(g.nextUnit()) }
        func pick<T>(_ xs: [T]) -> T { xs[g.next(below: xs.count)] }
        func jitter(_ v: Int, _ by: Int) -> Int { max(0, min(255, v + g.next(below: 2 * by + 1) - by)) }

        // Background: light or dark neutrals, so no shape colour can vanish into it.
        let dark = unit() < 0.25
        func neutral() -> [Int] {
            let base = dark ? 25 + g.next(below: 45) : 200 + g.next(below: 50)
            let tint = [g.next(below: 13) - 6, g.next(below: 13) - 6, g.next(below: 13) - 6]
            return tint.map { max(0, min(255, base + $0)) }
        }
        let kind = pick(BackgroundKind.allCases)
        let background: SceneBackground
        switch kind {
        case .plain: background = SceneBackground(kind: .plain, colors: [neutral()], parameter: 0, isDark: dark)
        case .gradient:
            background = SceneBackground(kind: .gradient, colors: [neutral(), neutral()],
                                         parameter: Double(g.next(below: 2)), isDark: dark)
        case .noise:
            background = SceneBackground(kind: .noise, colors: [neutral()], parameter: Double(6 + g.next(below: 10)),
                                         isDark: dark)
        case .checker:
            let a = neutral()
            let b = a.map { max(0, min(255, $0 + (dark ? 18 : -18))) }
            background = SceneBackground(kind: .checker, colors: [a, b], parameter: Double(4 + g.next(below: 6)),
                                         isDark: dark)
        }

        let count = minObjects + g.next(below: maxObjects - minObjects + 1)
        var objects: [SceneObject] = []
        var attempts = 0
        while objects.count < count && attempts < 4000 {
            attempts += 1
            let size: SizeClass = unit() < 0.5 ? .small : .large
            let radius = size == .small ? 0.065 + 0.03 * unit() : 0.13 + 0.045 * unit()
            let cx = radius + 0.02 + (1 - 2 * radius - 0.04) * unit()
            let cy = radius + 0.02 + (1 - 2 * radius - 0.04) * unit()
            // Centres keep 0.035 from the thirds lines: position words must not be a coin toss.
            let nearLine = [cx, cy].contains { (v: Double) -> Bool in
                abs(v - 1.0 / 3.0) < 0.035 || abs(v - 2.0 / 3.0) < 0.035
            }
            if nearLine { continue }
            let clear = objects.allSatisfy { o in
                let d = ((o.cx - cx) * (o.cx - cx) + (o.cy - cy) * (o.cy - cy)).squareRoot()
                return d > o.radius + radius + 0.03
            }
            if !clear { continue }
            let shape = pick(ShapeKind.allCases), color = pick(ShapeColor.allCases)
            let (r, gg, b) = color.rgb
            // Squares and triangles lean a little; a star is a star at any angle.
            let rotation = shape == .circle ? 0 : (unit() - 0.5) * 0.5
            objects.append(SceneObject(shape: shape, color: color, size: size, cx: cx, cy: cy, radius: radius,
                                       rotation: rotation, fill: [jitter(r, 18), jitter(gg, 18), jitter(b, 18)]))
        }
        let side = pick(sides)
        let supersample = pick([1, 2, 4, 4])
        let jpeg = unit() < 0.4
        let quality = jpeg ? 70 + g.next(below: 26) : 0
        let id = "\(prefix)-\(index)"
        let rendering = SceneRendering(side: side, supersample: supersample, format: jpeg ? "jpeg" : "png",
                                       quality: quality, renderer: renderer)
        return Scene(id: id, image: id + (jpeg ? ".jpg" : ".png"), seed: seed, background: background,
                     objects: objects, rendering: rendering)
    }
}
