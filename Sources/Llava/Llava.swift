// The library in one import: `import Llava` brings loading (LlavaModel.load, LoadOptions), generation (Generator,
// GenerationOptions, ChatSession, Conversation), images (ImageDecoder, RGBImage), tokenizers and chat templates,
// file formats and the CPU level in force.
@_exported import LlavaFormats
@_exported import LlavaGeneration
@_exported import LlavaModels
@_exported import LlavaTensor
@_exported import LlavaTokenizer
@_exported import LlavaVision
