import ArgumentParser

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
  @Option(
    name: .customLong("dtype"),
    help: "Compute precision: float32 (flr computes in fp32; bfloat16 and int8 are refused in this build).")
  var dtype: String?
  @Flag(name: .customLong("show-commands"), help: "Print the shell commands instead of running them.")
  var showCommands = false

  func validate() throws {
    guard CaptionCommand.captionTasks.contains(task) else {
      throw ValidationError("--task must be one of \(CaptionCommand.captionTasks.joined(separator: ", "))")
    }
    if let dtype, dtype != "float32" {
      guard ["bfloat16", "int8"].contains(dtype) else {
        throw ValidationError("--dtype \(dtype): expected float32, bfloat16 or int8")
      }
      throw ValidationError(
        "--dtype \(dtype): flr computes in float32 only (load has no lower-precision mode here); "
          + "give --dtype float32 or leave it out")
    }
  }

  /// The shell lines this invocation stands for.
  var commands: [String] {
    var lines = [ShellWords.line("load", [baseModel], [("revision", revision)])]
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
