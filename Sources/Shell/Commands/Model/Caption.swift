import FlrGenerate
import FlrImage
import FlrProcessor
import FlrTokenizer
import Foundation

// `caption PATH...`: the file handling of the reference script inference_florence.py (listing, save/overwrite/
// append) plus JSONL output, sharding and resuming. Generation itself is the loaded model's.

enum CaptionCommand {
  static let captionTasks = ["<CAPTION>", "<DETAILED_CAPTION>", "<MORE_DETAILED_CAPTION>"]

  static let command = Command(
    "caption", group: .model, summary: "Caption images, folders or globs with the loaded model (and active adapter)",
    positionals: PositionalSpec("PATH", .path, minimum: 1, maximum: nil, "image files, folders or globs"),
    options: [
      OptionSpec(
        "task", .custom(hint: "<TASK>", check: { checkTask($0) }), default: .string("<DETAILED_CAPTION>"),
        "Florence task: \(captionTasks.joined(separator: ", ")) or another task token"),
      OptionSpec(
        "prompt", .string,
        "Custom text given to the model instead of the task's prompt (after the task token for tasks that take input)"),
      OptionSpec("beams", .int(1...64), default: .int(3), "Beam width; 1 is greedy"),
      OptionSpec("max_tokens", .int(1...4096), default: .int(75), "Most new tokens per caption (max_new_tokens)"),
      OptionSpec("batch", .int(1...1024), default: .int(1), "Images decoded together"),
      .flag("recursive", "Descend into sub-folders"),
      .flag("save", "Write each caption next to its image (img.jpg -> img.txt)"),
      .flag("overwrite", "With save: replace existing caption files (default: leave them)"),
      .flag("append", "With save: add \" caption\" to the end of existing caption files"),
      OptionSpec(
        "ext", .custom(hint: ".ext", check: { checkExtension($0) }), default: .string(".txt"),
        "Caption file extension"),
      OptionSpec(
        "out", .path, settable: false, "Also write JSONL lines {\"file\": ..., \"caption\": ...}, flushed per image"),
      OptionSpec(
        "shard", .custom(hint: "I/N", check: { ImagePaths.checkShard($0) }),
        "Caption only every N-th image of the sorted list, starting at the I-th (1-based)"),
      .flag("skip_existing", "Skip images already in out= (resume a stopped run) or, with save, with a caption file"),
      OptionSpec(
        "seed", .int(0...Int(UInt32.max)), "Accepted for the Python script's --seed; decoding is deterministic"),
      .flag(
        "dry_run", settable: false,
        "List the images that would be captioned, after shard and skip rules; no model needed"),
    ],
    examples: [
      "caption photos/cat.jpg", "caption photos/ beams=1 max_tokens=40",
      "caption photos/ recursive save ext=.caption overwrite",
      "caption 'shots/*.png' out=captions.jsonl shard=1/4 skip_existing",
    ],
    details: """
      Folders give their .png .jpg .jpeg .webp files (any case); all images are captioned in sorted path order. \
      Without save or out= each caption prints as FILE<TAB>CAPTION on stdout. An image that cannot be read is \
      reported, skipped and counted; the run goes on. Ctrl-C stops after the current batch; what was written stays.
      """,
    run: { try run($0, $1) })

  static func checkTask(_ text: String) -> String? {
    FlorenceTask(rawValue: text) != nil ? nil : "one of " + FlorenceTask.allCases.map(\.rawValue).joined(separator: " ")
  }

  static func checkExtension(_ text: String) -> String? {
    text.hasPrefix(".") && text.count > 1 && !text.contains("/") ? nil : "an extension starting with a dot, e.g. .txt"
  }

  static func run(_ arguments: Arguments, _ session: Session) throws {
    let save = arguments.flag("save"), outPath = arguments.string("out")
    let ext = arguments.string("ext") ?? ".txt"
    let overwrite = arguments.flag("overwrite"), append = arguments.flag("append")
    if (overwrite || append) && !save {
      throw ShellError("caption: \(append ? "append" : "overwrite") only applies with save")
    }
    if arguments.flag("skip_existing") && !save && outPath == nil {
      throw ShellError("caption: skip_existing needs out=FILE.jsonl (or save) to know what exists")
    }
    var images = try ImagePaths.expand(arguments.positionals, recursive: arguments.flag("recursive"))
    if let shard = arguments.string("shard").flatMap(ImagePaths.parseShard) {
      images = ImagePaths.shard(images, index: shard.index, count: shard.count)
    }
    let listed = images.count
    if listed == 0 { session.note("caption: no images found (folders give .png .jpg .jpeg .webp files)") }
    var skipped = 0
    // Captions that would only be thrown away are not computed.
    if save && outPath == nil {
      images = images.filter {
        CaptionFiles.rule(for: $0, ext: ext, overwrite: overwrite, append: append) != .skipExisting
      }
      skipped = listed - images.count
    }
    if arguments.flag("dry_run") {
      for image in images { session.out.line(image) }
      session.note(
        "caption: \(images.count) of \(listed) images to caption"
          + (skipped > 0 ? ", \(skipped) have caption files" : ""))
      return
    }
    guard let model = session.model else { throw ShellError("caption: no model loaded (load MODEL first)") }
    let log = try outPath.map { try CaptionLog(path: $0, resume: arguments.flag("skip_existing")) }
    if let log {
      let before = images.count
      images = images.filter { !log.done.contains($0) }
      skipped += before - images.count
    }
    // A custom prompt replaces the task's (the processor takes any non-task text as the prompt), or
    // follows the task token for tasks that take input (`<CAPTION_TO_PHRASE_GROUNDING>` + "a cat").
    let task = arguments.string("task") ?? "<DETAILED_CAPTION>"
    var prompt = task
    if let text = arguments.string("prompt") {
      prompt = arguments.given.contains("task") && FlorenceTask(rawValue: task)?.takesInput == true ? task + text : text
    }
    let beams = arguments.int("beams") ?? 3, maxNewTokens = arguments.int("max_tokens") ?? 75
    let batchSize = arguments.int("batch") ?? 1
    let progress = Progress("caption", total: images.count, unit: "img", session: session)
    var captioned = 0, failed = 0
    defer { progress.finish() }
    func summary() -> String {
      var parts = ["\(captioned) captioned"]
      if skipped > 0 { parts.append("\(skipped) skipped (already done)") }
      if failed > 0 { parts.append("\(failed) unreadable") }
      return parts.joined(separator: ", ") + String(format: " in %.1f s", progress.elapsed)
    }
    for start in stride(from: 0, to: images.count, by: batchSize) {
      if session.cancellation.isCancelled {
        progress.finish()
        session.note("caption: stopped by Ctrl-C after \(captioned + failed) of \(images.count) images; \(summary())")
        throw ShellError.interrupted
      }
      let slice = images[start..<min(start + batchSize, images.count)]
      let batch = ImagePaths.decodeBatch(
        slice, command: "caption", failed: &failed, progress: progress, session: session)
      guard !batch.isEmpty else {
        progress.advance(by: slice.count)
        continue
      }
      let captions: [String]
      do {
        // An adapter trained in this session: its evaluation (schedule-free: averaged) weights, as `save` writes.
        captions = try session.withEvaluationWeights {
          try model.generator.caption(
            pixelValues: Florence2Processor.pixelValues(batch.map(\.image)), task: prompt, beams: beams,
            maxNewTokens: maxNewTokens, onStep: { _ in !session.cancellation.isCancelled })
        }
      } catch GenerationError.cancelled {
        progress.finish()
        session.note("caption: stopped by Ctrl-C after \(captioned + failed) of \(images.count) images; \(summary())")
        throw ShellError.interrupted
      }
      for ((path, _), caption) in zip(batch, captions) {
        if save {
          try CaptionFiles.save(
            caption, for: path, ext: ext,
            rule: CaptionFiles.rule(for: path, ext: ext, overwrite: overwrite, append: append))
        }
        try log?.append(file: path, caption: caption)
        if !save && log == nil { session.out.line("\(path)\t\(caption)") }
        captioned += 1
      }
      progress.advance(by: slice.count)
    }
    progress.finish()
    session.note("caption: \(summary())")
  }
}
