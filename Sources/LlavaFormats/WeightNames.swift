// One table for every spelling of llava tensor names that transformers versions have written.
//
// Canonical names are the llava-hf hub ones:
//   language_model.model.*          LLaMA body        language_model.lm_head.weight   output head
//   vision_tower.vision_model.*     CLIP vision       multi_modal_projector.*         projector
// Other spellings map onto them: transformers 5 (`model.language_model.*`, `model.vision_tower.*`,
// `model.multi_modal_projector.*`, `lm_head.*`), and `vision_tower.*` without `vision_model.`.

public enum WeightNames {
    /// (stored prefix, canonical prefix), tried in order; the first that matches wins.
    public static let rules: [(String, String)] = [
        ("language_model.model.", "language_model.model."),
        ("language_model.lm_head.", "language_model.lm_head."),
        ("model.language_model.", "language_model.model."),
        ("model.vision_tower.vision_model.", "vision_tower.vision_model."),
        ("model.vision_tower.", "vision_tower.vision_model."),
        ("vision_tower.vision_model.", "vision_tower.vision_model."),
        ("vision_tower.", "vision_tower.vision_model."),
        ("model.multi_modal_projector.", "multi_modal_projector."),
        ("multi_modal_projector.", "multi_modal_projector."),
        ("lm_head.", "language_model.lm_head."),
        ("language_model.", "language_model.model."),
    ]

    /// The canonical name for a stored one, or nil if it is not part of a llava checkpoint.
    public static func canonical(_ stored: String) -> String? {
        for (from, to) in rules where stored.hasPrefix(from) {
            return to + stored.dropFirst(from.count)
        }
        return nil
    }
}
