// swift-tools-version:6.0
// flr: a resident shell for Florence-2 (see README.md).
import PackageDescription

// The Swift targets are built for a fixed instruction-set baseline, never for the CPU that builds them, so one
// binary runs on every machine of its architecture. x86-64: x86-64-v3 (AVX2, FMA, F16C, BMI1/2: Haswell, Zen 1
// and later); code that uses AVX-512 lives in the C target CFlrKernels and is picked at run time. aarch64: the
// default target (NEON is part of it). `#if arch` is the machine that builds, which is the target (no cross
// builds). See README "Building".
#if arch(x86_64)
  let instructionSet = ["-Xcc", "-march=x86-64-v3"]
#else
  let instructionSet: [String] = []
#endif
// Kernels are compiled optimised even in debug builds (debug SIMD code is ~1000x slower).
let kernelFlags: [SwiftSetting] = [
  .unsafeFlags(["-O"] + instructionSet + ["-enforce-exclusivity=unchecked"])
]

let package = Package(
  name: "flr",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "flr", targets: ["flr"])
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
  ],
  targets: [
    // System libraries: one module map + shim header each.
    .systemLibrary(
      name: "COpenBLAS", path: "Sources/System/COpenBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(
      name: "CEdit", path: "Sources/System/CEdit", providers: [.apt(["libedit-dev"])]),
    .systemLibrary(
      name: "CTurboJPEG", path: "Sources/System/CTurboJPEG", pkgConfig: "libturbojpeg",
      providers: [.apt(["libturbojpeg0-dev"])]),
    .systemLibrary(
      name: "CPNG", path: "Sources/System/CPNG", pkgConfig: "libpng",
      providers: [.apt(["libpng-dev"])]),
    .systemLibrary(
      name: "CWebP", path: "Sources/System/CWebP", pkgConfig: "libwebp",
      providers: [.apt(["libwebp-dev"])]),
    .systemLibrary(
      name: "CGIF", path: "Sources/System/CGIF", providers: [.apt(["libgif-dev"])]),
    .systemLibrary(
      name: "CTIFF", path: "Sources/System/CTIFF", pkgConfig: "libtiff-4",
      providers: [.apt(["libtiff-dev"])]),
    // No pkgConfig: libavif's .pc adds -DAVIF_DLL, a flag SwiftPM refuses; the header is in /usr/include.
    .systemLibrary(
      name: "CAVIF", path: "Sources/System/CAVIF", providers: [.apt(["libavif-dev"])]),

    // bf16 / int8 products with run-time CPU dispatch. Deliberately NOT -march=native: its portable path must
    // run on any CPU; the AVX2 / AVX-512 functions carry their own target attributes (flr_kernels.h).
    .target(name: "CFlrKernels", path: "Sources/Kernels", cSettings: [.unsafeFlags(["-O2"])]),
    // Numeric core: tensors, BLAS, kernels with forward and backward. Knows nothing of Florence-2.
    .target(name: "FlrCore", dependencies: ["COpenBLAS", "CFlrKernels"], path: "Sources/Core", swiftSettings: kernelFlags),
    // safetensors, torch zip/pickle, HF cache resolution.
    .target(name: "FlrCheckpoints", dependencies: ["FlrCore"], path: "Sources/Checkpoints", swiftSettings: kernelFlags),
    // Inputs: images (decode + Pillow-exact resize) and the BART byte-level BPE tokenizer.
    .target(
      name: "FlrImage",
      dependencies: [
        "FlrCore", "CTurboJPEG", "CPNG", "CWebP", "CGIF", "CTIFF", "CAVIF",
        .product(name: "Crypto", package: "swift-crypto"),
      ],
      path: "Sources/Inputs/Image",
      swiftSettings: kernelFlags),
    .target(name: "FlrTokenizer", dependencies: [], path: "Sources/Inputs/Tokenizer", swiftSettings: kernelFlags),
    // The Florence-2 processor: prompt -> ids, images -> pixel_values, ids -> caption text.
    .target(
      name: "FlrProcessor", dependencies: ["FlrCore", "FlrImage", "FlrTokenizer"], path: "Sources/Inputs/Processor",
      swiftSettings: kernelFlags),
    // Florence-2: config, DaViT, projection, BART, loading.
    .target(
      name: "FlrModel", dependencies: ["FlrCore", "FlrCheckpoints"], path: "Sources/Model", swiftSettings: kernelFlags),
    // Greedy and beam-search generation with KV cache.
    .target(
      name: "FlrGenerate", dependencies: ["FlrModel", "FlrProcessor", "FlrTokenizer"], path: "Sources/Generate",
      swiftSettings: kernelFlags),
    // Training: optimizers, schedules, quantization, data, trainer.
    .target(
      name: "FlrTrain", dependencies: ["FlrCore", "FlrImage", "FlrProcessor", "FlrTokenizer", "FlrModel"],
      path: "Sources/Train", swiftSettings: kernelFlags),
    // Charts: a raster with a built-in bitmap font, line charts, PNG output through libpng.
    .target(name: "FlrPlot", dependencies: ["CPNG"], path: "Sources/Plot"),
    // The shell: language, commands, session, line editor.
    .target(
      name: "FlrShell",
      dependencies: [
        "FlrGenerate", "FlrTrain", "FlrModel", "FlrImage", "FlrProcessor", "FlrTokenizer", "FlrCheckpoints", "FlrCore",
        "FlrPlot", "CEdit",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Sources/Shell"),
    .executableTarget(name: "flr", dependencies: ["FlrShell"], path: "Sources/flr"),
    .executableTarget(
      name: "flr-bench",
      dependencies: [
        "FlrGenerate", "FlrTrain", "FlrModel", "FlrImage", "FlrTokenizer", "FlrCheckpoints", "FlrCore",
      ],
      path: "Sources/Bench", swiftSettings: kernelFlags),

    .testTarget(name: "FlrCoreTests", dependencies: ["FlrCore"], path: "Tests/CoreTests"),
    .testTarget(name: "FlrCheckpointsTests", dependencies: ["FlrCheckpoints"], path: "Tests/CheckpointsTests"),
    .testTarget(name: "FlrImageTests", dependencies: ["FlrImage"], path: "Tests/ImageTests"),
    .testTarget(name: "FlrTokenizerTests", dependencies: ["FlrTokenizer"], path: "Tests/TokenizerTests"),
    .testTarget(
      name: "FlrProcessorTests", dependencies: ["FlrProcessor", "FlrImage", "FlrTokenizer"],
      path: "Tests/ProcessorTests"),
    .testTarget(
      name: "FlrModelTests", dependencies: ["FlrModel", "FlrImage", "FlrTokenizer"], path: "Tests/ModelTests"),
    .testTarget(
      name: "FlrTrainTests", dependencies: ["FlrTrain", "FlrImage", "FlrTokenizer", "FlrModel"],
      path: "Tests/TrainTests"),
    .testTarget(name: "FlrGenerateTests", dependencies: ["FlrGenerate", "FlrProcessor"], path: "Tests/GenerateTests"),
    .testTarget(name: "FlrShellTests", dependencies: ["FlrShell"], path: "Tests/ShellTests"),
    .testTarget(name: "FlrPlotTests", dependencies: ["FlrPlot", "FlrImage"], path: "Tests/PlotTests"),
  ],
  swiftLanguageModes: [.v5]
)
