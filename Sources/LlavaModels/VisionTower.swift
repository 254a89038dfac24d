// What LLaVA needs of a vision encoder: hidden states by index for one processed image. CLIP ViT
// (CLIPVisionTower) and DINOv2 (DINOv2VisionTower) both answer it; VisionPart selects and projects.
import LlavaFormats
import LlavaTensor

public protocol VisionTower: AnyObject, Sendable {
    var config: CLIPVisionConfig { get }
    /// Hidden states `wanted` (0 = the embeddings, i = after layer i), each [positions, hiddenSize], for one
    /// image [C, H, W] of the configured input size.
    func hiddenStates(pixels: Tensor, wanted: [Int]) -> [Int: Tensor]
    /// The same tower with its matrix products in bf16 (oneDNN), or nil where that is not available.
    func bf16Tower(releasing file: MappedFile?) -> (any VisionTower)?
}

extension CLIPVisionTower: VisionTower {
    public func bf16Tower(releasing file: MappedFile?) -> (any VisionTower)? { bf16(releasing: file) }
}
