// The vision part from an mmproj GGUF as llama.cpp's LLaVA converter writes it: `clip.*`
// metadata, v.patch_embd / v.class_embd / v.position_embd / v.pre_ln / v.blk.N.* / mm.0 / mm.2.
// Mirrors tools/mtmd/clip.cpp for projector type "mlp".
import LlavaFormats
import LlavaTensor
import LlavaVision

public enum MMProjLoader {
    public static func load(path: String, textHidden: Int) throws -> VisionPart {
        throw ConfigError.unsupported("mmproj files are not supported yet")
    }
}
