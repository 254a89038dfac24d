// The symbolic view of an image the text-only teacher reads instead of pixels (LLaVA paper, section 3):
// the captions one per line, then — for description and reasoning — one line per object, `category: [x1, y1, x2, y2]`,
// with each coordinate rounded to 3 decimals and printed as Python prints a float, as the original prompts show it.
import Foundation

public enum SymbolicContext {
    public static func text(for image: ImageAnnotations, includeBoxes: Bool) -> String {
        var text = image.captions.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: "\n")
        if includeBoxes && !image.instances.isEmpty {
            text += "\n\n"
            text += image.instances.map { inst in
                "\(inst.category): [" + inst.bbox.map(formatCoordinate).joined(separator: ", ") + "]"
            }.joined(separator: "\n")
        }
        return text
    }

    /// Python's `repr(round(x, 3))`: round correctly in decimal, then the shortest digits that read back the same.
    public static func formatCoordinate(_ x: Double) -> String {
        let rounded = Double(String(format: "%.3f", x)) ?? x
        let zeroed = rounded == 0 ? 0 : rounded   // -0.0 prints as 0.0
        return "\(zeroed)"
    }
}
