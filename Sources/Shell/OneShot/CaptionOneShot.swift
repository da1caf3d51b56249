import ArgumentParser
import FlrModel

// `flr caption --images DIR ...`: inference_florence.py's flags, same meanings and defaults,
// translated into `load ...; caption ...`.

struct CaptionOneShot: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "caption",
    abstract: "Caption images with Florence-2 (the flags of the reference script inference_florence.py).",
    discussion:
      "Runs the shell commands `load MODEL; [load adapter=DIR;] caption IMAGES ...`; --show-commands prints them.")

  @Option(name: .customLong("base_model"), help: "Model folder or cached hub id.")
  var baseModel = "microsoft/Florence-2-base-ft"
  @Option(name: .customLong("peft_model"), help: "PEFT (LoRA) adapter folder for the base model.")
  var peftModel: String?
  @Option(name: .customLong("images"), help: "Folder of images or one image file to caption.")
  var images: String
  @Option(name: .customLong("seed"), help: "Seed (accepted; decoding is deterministic).")
  var seed: Int?
  @Option(name: .customLong("task"), help: "Task: <CAPTION>, <DETAILED_CAPTION> or <MORE_DETAILED_CAPTION>.")
  var task = "<DETAILED_CAPTION>"
  @Option(name: .customLong("batch_size"), help: "Images captioned together.")
  var batchSize = 1
  @Flag(name: .customLong("save_captions"), help: "Save each caption next to its image.")
  var saveCaptions = false
  @Flag(name: .customLong("overwrite"), help: "Overwrite existing caption files (default: skip them).")
  var overwrite = false
  @Flag(name: .customLong("append"), help: "Append to existing caption files.")
  var append = false
  @Option(name: .customLong("caption_extension"), help: "Caption file extension (.txt, .caption).")
  var captionExtension = ".txt"
  @Option(name: .customLong("max_token_length"), help: "Most tokens to generate.")
  var maxTokenLength = 75
  @Option(name: .customLong("revision"), help: "Revision of the model in the local cache.")
  var revision: String?
  @Option(
    name: [.customLong("beams"), .customLong("num_beams")],
    help: "Beam width (the reference script always uses 3): beams=.")
  var beams = 3
  @Flag(name: .customLong("recursive"), help: "Also caption the images of sub-folders: recursive.")
  var recursive = false
  @Option(name: .customLong("dtype"), help: "Weights: float32 (exact), bfloat16 or int8 (load ... precision=).")
  var dtype = "float32"
  @Flag(name: .customLong("show-commands"), help: "Print the shell commands instead of running them.")
  var showCommands = false

  func validate() throws {
    guard WeightPrecision(name: dtype) != nil else {
      throw ValidationError("--dtype must be float32, bfloat16 or int8 (got '\(dtype)')")
    }
    guard CaptionCommand.captionTasks.contains(task) else {
      throw ValidationError("--task must be one of \(CaptionCommand.captionTasks.joined(separator: ", "))")
    }
  }

  /// The shell lines this invocation stands for.
  var commands: [String] {
    let precision = WeightPrecision(name: dtype).flatMap { $0 == .fp32 ? nil : $0.rawValue }
    var lines = [ShellWords.line("load", [baseModel], [("revision", revision), ("precision", precision)])]
    if let peftModel { lines.append(ShellWords.line("load", [], [("adapter", peftModel)])) }
    // `--overwrite`/`--append` without `--save_captions` do nothing in the reference script; they are dropped here
    // rather than refused, so that the same command lines keep working.
    lines.append(
      ShellWords.line(
        "caption", [images],
        [
          ("task", task), ("beams", String(beams)), ("max_tokens", String(maxTokenLength)),
          ("batch", String(batchSize)),
          ("ext", captionExtension), ("seed", seed.map(String.init)),
        ],
        flags: [
          ("recursive", recursive), ("save", saveCaptions), ("overwrite", saveCaptions && overwrite),
          ("append", saveCaptions && append),
        ]))
    return lines
  }
}
