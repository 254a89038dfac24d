// The command-line fix for a library error: the library names the problem in its own terms (LoadError,
// ModelError), and the CLI adds which flag solves it.
import LlavaModels

func cliHint(_ error: Error) -> String? {
    if let e = error as? LoadError {
        switch e {
        case .visionFileWithFolder: return "--mmproj goes with a GGUF language model"
        case .needsVisionTower: return "pass --vision-tower DIR, the CLIP folder"
        case .unknownChatTemplate, .noChatTemplate: return "pass --template NAME or --raw"
        case .notFound, .badThreads: return nil
        }
    }
    if let e = error as? ModelError, case .missingVision = e { return "give --mmproj FILE with a GGUF" }
    return nil
}
