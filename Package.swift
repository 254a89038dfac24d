// swift-tools-version: 6.0
// swift-llava: LLaVA (CLIP ViT + projector + LLaMA) in Swift, on a plain CPU.
import Foundation
import PackageDescription

#if os(macOS)
let blasTarget: Target = .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS-macOS")
#else
let blasTarget: Target = .systemLibrary(
    name: "COpenBLAS", path: "Sources/COpenBLAS",
    providers: [.apt(["libopenblas-dev"])])
#endif

let package = Package(
    name: "swift-llava",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "llava", targets: ["llava"]),
        // `import Llava`: load a model, ask about images, stream the answer (the modules below, re-exported).
        .library(name: "Llava", targets: ["Llava"]),
        .library(name: "LlavaModels", targets: ["LlavaModels"]),
        .library(name: "LlavaGeneration", targets: ["LlavaGeneration"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        blasTarget,
        // The one C target of our own besides kernels: setjmp traps so a corrupt image is an error, not exit().
        .target(name: "CImageCodecs", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),
        // Quantised dot products on CPU intrinsics (per-function target attributes, no unsafeFlags).
        .target(name: "CKernels"),
        // oneDNN's bf16 products (Linux, Debian libdnnl-dev): the opt-in bf16 vision path.
        .systemLibrary(name: "COneDNN", path: "Sources/COneDNN", providers: [.apt(["libdnnl-dev"])]),
        .target(name: "LlavaTensor", dependencies: [
            "COpenBLAS", "CKernels", .product(name: "Atomics", package: "swift-atomics"),
            .target(name: "COneDNN", condition: .when(platforms: [.linux])),
        ]),
        .target(name: "LlavaFormats", dependencies: ["LlavaTensor"]),
        .target(name: "LlavaTokenizer", dependencies: ["LlavaFormats"]),
        .target(name: "LlavaVision", dependencies: ["LlavaTensor", "LlavaFormats", "CImageCodecs"]),
        .target(name: "LlavaModels", dependencies: ["LlavaTensor", "LlavaFormats", "LlavaTokenizer", "LlavaVision"]),
        .target(name: "LlavaGeneration", dependencies: ["LlavaModels"]),
        .target(name: "Llava", dependencies: [
            "LlavaFormats", "LlavaGeneration", "LlavaModels", "LlavaTensor", "LlavaTokenizer", "LlavaVision",
        ]),
        .target(name: "LlavaCuration", dependencies: [
            "LlavaFormats", "LlavaGeneration",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .target(name: "LlavaTraining", dependencies: ["LlavaTensor", "LlavaFormats", "LlavaTokenizer", "LlavaVision", "LlavaModels"]),
        .target(name: "LlavaScenes", dependencies: ["LlavaTensor", "LlavaFormats", "LlavaVision"]),
        .target(name: "LlavaEval", dependencies: ["LlavaFormats", "LlavaModels", "LlavaGeneration", "LlavaCuration"]),
        .target(name: "LlavaServer", dependencies: [
            "LlavaModels", "LlavaGeneration",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "llava", dependencies: [
            "LlavaGeneration", "LlavaModels", "LlavaCuration", "LlavaEval", "LlavaServer", "LlavaTraining", "LlavaScenes",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "LlavaTensorTests", dependencies: ["LlavaTensor"]),
        .testTarget(name: "LlavaFormatsTests", dependencies: ["LlavaFormats"]),
        .testTarget(name: "LlavaTokenizerTests", dependencies: ["LlavaTokenizer"]),
        .testTarget(name: "LlavaVisionTests", dependencies: ["LlavaVision"]),
        .testTarget(name: "LlavaModelsTests", dependencies: ["LlavaModels", "LlavaGeneration"]),
        // Test helpers (a scripted OpenAI-compatible server), used only by test targets.
        .target(name: "LlavaTestSupport", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/LlavaTestSupport"),
        .testTarget(name: "LlavaCurationTests", dependencies: ["LlavaCuration", "LlavaTestSupport"]),
        .testTarget(name: "LlavaTrainingTests", dependencies: ["LlavaTraining", "LlavaModels", "LlavaFormats", "LlavaTensor",
                                                        "LlavaTokenizer"]),
        .testTarget(name: "LlavaScenesTests", dependencies: ["LlavaScenes", "LlavaVision", "LlavaFormats", "LlavaTensor"]),
        .testTarget(name: "LlavaEvalTests", dependencies: ["LlavaEval", "LlavaTestSupport"]),
        .testTarget(name: "LlavaServerTests", dependencies: [
            "LlavaServer", "LlavaModels", "LlavaGeneration", "LlavaTokenizer", "LlavaVision",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .testTarget(name: "LlavaCLITests", dependencies: [
            "LlavaFormats", "llava", "LlavaTestSupport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer harness (Fuzz/LlavaFuzz): part of the package only when scripts/sanitize.sh (address) and
// scripts/fuzz.sh build with LLAVA_FUZZ=1, never in a plain build or a product. Every module is compiled there with
// AddressSanitizer and libFuzzer's coverage; the harness alone links libFuzzer, its no-main archive (the script
// finds it in the toolchain: LLAVA_FUZZ_RUNTIME), and enters it from its Swift main.
let fuzzEnvironment = ProcessInfo.processInfo.environment
if fuzzEnvironment["LLAVA_FUZZ"] == "1" {
    let runtime = fuzzEnvironment["LLAVA_FUZZ_RUNTIME"].map { ["-Xlinker", $0] } ?? []
    package.targets += [
        .target(name: "CFuzzDriver", path: "Fuzz/CFuzzDriver", linkerSettings: [.unsafeFlags(runtime)]),
        .executableTarget(
            name: "LlavaFuzz",
            dependencies: ["CFuzzDriver", "LlavaFormats", "LlavaTokenizer", "LlavaVision", "LlavaServer",
                           "LlavaCuration", "LlavaEval"],
            path: "Fuzz/LlavaFuzz"),
    ]
}
