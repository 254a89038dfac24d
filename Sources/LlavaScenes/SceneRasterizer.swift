// Draws a scene into 8-bit RGB: the background, then each shape by coverage — `supersample`² samples per pixel
// (1 = hard, aliased edges; 4 = smooth ones), even-odd polygon test, the fill blended by the covered fraction.
// The Python renderer in Tools/render_scenes_pil.py draws the same records with PIL's own primitives, so a model
// trained on these pixels is tested on another program's drawing too.
import Foundation
import LlavaTensor
import LlavaVision

public enum SceneRasterizer {
    public static func render(_ scene: Scene) -> RGBImage {
        let side = scene.rendering.side
        var px = [Float](repeating: 0, count: side * side * 3)
        paintBackground(scene.background, side: side, seed: scene.seed, into: &px)
        let ss = max(1, scene.rendering.supersample)
        for o in scene.objects {
            let poly = o.polygon
            let b = o.bbox
            let x0 = max(0, Int((b[0] * Double(side)).rounded(.down)) - 1)
            let x1 = min(side - 1, Int((b[2] * Double(side)).rounded(.up)) + 1)
            let y0 = max(0, Int((b[1] * Double(side)).rounded(.down)) - 1)
            let y1 = min(side - 1, Int((b[3] * Double(side)).rounded(.up)) + 1)
            guard x0 <= x1, y0 <= y1 else { continue }
            let fill = o.fill.map(Float.init)
            for y in y0...y1 {
                for x in x0...x1 {
                    var hits = 0
                    for sy in 0..<ss {
                        for sx in 0..<ss {
                            let u = (Double(x) + (Double(sx) + 0.5) / Double(ss)) / Double(side)
                            let v = (Double(y) + (Double(sy) + 0.5) / Double(ss)) / Double(side)
                            if contains(o, poly, u, v) { hits += 1 }
                        }
                    }
                    if hits == 0 { continue }
                    let a = Float(hits) / Float(ss * ss)
                    let i = (y * side + x) * 3
                    for c in 0..<3 { px[i + c] = px[i + c] * (1 - a) + fill[c] * a }
                }
            }
        }
        return RGBImage(width: side, height: side, pixels: px.map { UInt8(max(0, min(255, $0.rounded()))) })
    }

    static func contains(_ o: SceneObject, _ poly: [(Double, Double)]?, _ x: Double, _ y: Double) -> Bool {
        guard let poly else {
            let dx = x - o.cx, dy = y - o.cy
            return dx * dx + dy * dy <= o.radius * o.radius
        }
        var inside = false
        var j = poly.count - 1
        for i in 0..<poly.count {
            let (xi, yi) = poly[i], (xj, yj) = poly[j]
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi { inside.toggle() }
            j = i
        }
        return inside
    }

    static func paintBackground(_ bg: SceneBackground, side: Int, seed: UInt64, into px: inout [Float]) {
        let c0 = bg.colors.first.map { $0.map(Float.init) } ?? [255, 255, 255]
        let c1 = bg.colors.count > 1 ? bg.colors[1].map(Float.init) : c0
        var g = SplitMix64(seed: seed ^ 0x5EED)
        for y in 0..<side {
            for x in 0..<side {
                var c = c0
                switch bg.kind {
                case .plain: break
                case .gradient:
                    let t = Float(bg.parameter == 0 ? x : y) / Float(max(1, side - 1))
                    c = (0..<3).map { c0[$0] * (1 - t) + c1[$0] * t }
                case .noise:
                    let n = (g.nextUnit() * 2 - 1) * Float(bg.parameter)
                    c = c0.map { $0 + n }
                case .checker:
                    let cells = max(1, Int(bg.parameter))
                    let cell = max(1, side / cells)
                    if ((x / cell) + (y / cell)) % 2 == 1 { c = c1 }
                }
                let i = (y * side + x) * 3
                px[i] = c[0]; px[i + 1] = c[1]; px[i + 2] = c[2]
            }
        }
    }
}
