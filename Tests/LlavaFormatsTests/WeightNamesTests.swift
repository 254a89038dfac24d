// The one name table: every spelling transformers has written maps to the hub spelling.
import LlavaFormats
import Testing

@Suite struct WeightNamesTests {
    @Test(arguments: [
        ("language_model.model.layers.0.mlp.up_proj.weight", "language_model.model.layers.0.mlp.up_proj.weight"),
        ("language_model.lm_head.weight", "language_model.lm_head.weight"),
        ("model.language_model.layers.3.self_attn.q_proj.weight", "language_model.model.layers.3.self_attn.q_proj.weight"),
        ("model.language_model.embed_tokens.weight", "language_model.model.embed_tokens.weight"),
        ("lm_head.weight", "language_model.lm_head.weight"),
        ("vision_tower.vision_model.encoder.layers.0.mlp.fc1.bias", "vision_tower.vision_model.encoder.layers.0.mlp.fc1.bias"),
        ("vision_tower.encoder.layers.0.mlp.fc1.bias", "vision_tower.vision_model.encoder.layers.0.mlp.fc1.bias"),
        ("model.vision_tower.embeddings.class_embedding", "vision_tower.vision_model.embeddings.class_embedding"),
        ("model.vision_tower.vision_model.pre_layrnorm.weight", "vision_tower.vision_model.pre_layrnorm.weight"),
        ("model.multi_modal_projector.linear_2.bias", "multi_modal_projector.linear_2.bias"),
        ("multi_modal_projector.linear_1.weight", "multi_modal_projector.linear_1.weight"),
    ])
    func mapsToHubSpelling(_ pair: (String, String)) {
        #expect(WeightNames.canonical(pair.0) == pair.1)
    }

    @Test func unrelatedNamesAreNotClaimed() {
        #expect(WeightNames.canonical("text_model.embeddings.token_embedding.weight") == nil)
    }
}
