// `features PATH... out=FILE.safetensors`: projected image features [577, d] per image, keyed by file
// name (what the seed's image_features_florence.py exports).

enum FeaturesCommand {
  static let command = Command(
    "features", group: .model, summary: "Write each image's projected image features to a safetensors file",
    positionals: PositionalSpec("PATH", .path, minimum: 1, maximum: nil, "image files, folders or globs"),
    options: [
      OptionSpec("out", .path, settable: false, "The .safetensors file to write (required)"),
      .flag("recursive", "Descend into sub-folders"),
      OptionSpec("batch", .int(1...1024), default: .int(1), "Images encoded together"),
    ],
    examples: ["features photos/ out=features.safetensors"],
    run: { arguments, session in
      guard arguments.string("out") != nil else { throw ShellError("features: out=FILE.safetensors is required") }
      _ = try ImagePaths.expand(arguments.positionals, recursive: arguments.flag("recursive"))
      guard session.model != nil else { throw ShellError("features: no model loaded (load MODEL first)") }
      throw notAvailableYet("features", "the vision encoder")
    })
}
