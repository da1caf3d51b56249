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
    ] + DecodingOptions.options + [
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
        "Caption only every N-th image of the sorted list, starting at the I-th (1-based); "
          + "scripts/caption-sharded runs N shards and merges their out= files"),
      .flag("skip_existing", "Skip images already in out= (resume a stopped run) or, with save, with a caption file"),
      .flag(
        "dry_run", settable: false,
        "List the images that would be captioned, after shard and skip rules; no model needed"),
    ],
    examples: [
      "caption photos/cat.jpg", "caption photos/ beams=1 max_tokens=40",
      "caption photos/ recursive save ext=.caption overwrite",
      "caption 'shots/*.png' out=captions.jsonl shard=1/4 skip_existing",
      "caption photos/ start=\"A photo of\" repetition_penalty=1.2 bad_words=image,picture",
      "caption photos/ sample temperature=0.8 top_p=0.9 seed=1",
    ],
    details: """
      Folders give their \(ImagePaths.extensionList) files (any case; files of other types are counted and \
      ignored); all images are captioned in sorted path order. Without save or out= each caption prints as \
      FILE<TAB>CAPTION on stdout. An image that cannot be read is reported, skipped and counted; the run goes on. \
      A caption that comes out empty is reported and no caption file is written for it. When nothing at all was \
      captioned (no images, or every one unreadable or empty; images skipped as already done excepted) the \
      command fails. An existing caption file is replaced only with overwrite; overwrite, append and \
      skip_existing contradict each other and are refused together. While a batch is captioned, the next batch's \
      images are read and resized on a second thread, so the model does not wait for image files. Ctrl-C stops \
      after the current batch; what was written stays.
      Decoding follows transformers' generate: beam search (beams=3, Florence-2's setting) or greedy (beams=1), \
      with its no_repeat_ngram_size (3) and the controls above (repetition_penalty, length_penalty, min_tokens, \
      bad_words). start="A photo of" continues decoding after that text (as `<s>A photo of`), so every caption \
      begins with it. sample draws tokens instead (temperature, then top_k, then top_p, as transformers applies \
      them), from flr's own seeded stream: the same seed gives the same captions, whatever batch= is.
      """,
    run: { try run($0, $1) })

  static func checkTask(_ text: String) -> String? {
    guard FlorenceTask(rawValue: text) == nil else { return nil }
    let tasks = FlorenceTask.allCases.map(\.rawValue)
    // `CAPTION`, `caption`, `<caption>`, `<CAPTON>`: the token with its brackets.
    let bare = text.trimmingCharacters(in: CharacterSet(charactersIn: "<>")).uppercased()
    let guess = closestMatch(to: "<\(bare)>", among: tasks).map { "; did you mean \($0)?" } ?? ""
    return "one of " + tasks.joined(separator: " ") + guess
  }

  static func checkExtension(_ text: String) -> String? {
    text.hasPrefix(".") && text.count > 1 && !text.contains("/") ? nil : "an extension starting with a dot, e.g. .txt"
  }

  /// Flags that need another or contradict each other: refused before anything is read or written.
  static func checkFlags(_ arguments: Arguments) throws {
    let save = arguments.flag("save"), outPath = arguments.string("out")
    let existing = ["overwrite", "append", "skip_existing"].filter { arguments.flag($0) }
    if existing.count > 1 {
      throw ShellError(
        "caption: \(existing.joined(separator: " and ")) contradict each other: an existing caption file is "
          + "replaced (overwrite), added to (append) or left alone (skip_existing); give one")
    }
    if existing.first == "overwrite" || existing.first == "append", !save {
      throw ShellError("caption: \(existing[0]) only applies with save")
    }
    if arguments.flag("skip_existing") && !save && outPath == nil {
      throw ShellError("caption: skip_existing needs out=FILE.jsonl (or save) to know what exists")
    }
  }

  /// Everything that needs no model (`flr caption` checks it before loading one).
  static func check(_ arguments: Arguments) throws {
    try checkFlags(arguments)
    _ = try ImagePaths.expand(arguments.positionals, recursive: arguments.flag("recursive"))
  }

  static func run(_ arguments: Arguments, _ session: Session) throws {
    let save = arguments.flag("save"), outPath = arguments.string("out")
    let ext = arguments.string("ext") ?? ".txt"
    let overwrite = arguments.flag("overwrite"), append = arguments.flag("append")
    try checkFlags(arguments)
    var images = try ImagePaths.expandNotingOthers(
      arguments.positionals, recursive: arguments.flag("recursive"), command: "caption", captionExtension: ext,
      session: session)
    if let shard = arguments.string("shard").flatMap(ImagePaths.parseShard) {
      images = ImagePaths.shard(images, index: shard.index, count: shard.count)
    }
    let listed = images.count
    if listed == 0 { session.note("caption: no images found (folders give \(ImagePaths.extensionList) files)") }
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
    let settings = try DecodingOptions.settings(arguments, session, loaded: model, command: "caption")
    let batchSize = arguments.int("batch") ?? 1
    let progress = Progress("caption", total: images.count, unit: "img", session: session)
    var captioned = 0, failed = 0, empty = 0, tokens = 0
    defer { progress.finish() }
    func summary() -> String {
      CaptionSummary(
        captioned: captioned, skipped: skipped, unreadable: failed, empty: empty, tokens: tokens,
        seconds: progress.elapsed, destination: CaptionSummary.destination(save: save, ext: ext, out: outPath)
      ).text
    }
    // The next batch's images are decoded and resized on a thread of their own while this one is captioned.
    let prefetch = PixelBatchPrefetch(paths: images, batchSize: batchSize)
    defer { prefetch.stop() }
    while let prepared = prefetch.next() {
      if session.cancellation.isCancelled {
        progress.finish()
        session.note("caption: stopped by Ctrl-C after \(captioned + failed) of \(images.count) images; \(summary())")
        throw ShellError.interrupted
      }
      // Files that did not decode are reported in path order, as their batch comes up.
      for (_, error) in prepared.failures {
        failed += 1
        session.note("caption: skipped \(describeError(error))")
      }
      guard let pixelValues = prepared.pixelValues else {
        progress.advance(by: prepared.paths.count)
        continue
      }
      let captions: [String]
      do {
        // An adapter trained in this session: its evaluation (schedule-free: averaged) weights, as `save` writes.
        captions = try session.withEvaluationWeights {
          try model.generator.caption(
            pixelValues: pixelValues, task: prompt, settings: settings.offsettingSeed(by: prepared.start),
            onStep: { _ in !session.cancellation.isCancelled })
        }
      } catch GenerationError.cancelled {
        progress.finish()
        session.note("caption: stopped by Ctrl-C after \(captioned + failed) of \(images.count) images; \(summary())")
        throw ShellError.interrupted
      }
      for (path, caption) in zip(prepared.decoded, captions) {
        // An empty caption file would later count as done: none is written.
        if save && caption.isEmpty {
          empty += 1
          progress.finish()
          session.note("caption: \(path): the caption is empty; no caption file written")
        } else if save {
          try CaptionFiles.save(
            caption, for: path, ext: ext,
            rule: CaptionFiles.rule(for: path, ext: ext, overwrite: overwrite, append: append))
        }
        try log?.append(file: path, caption: caption)
        if !save && log == nil { session.out.line("\(path)\t\(caption)") }
        if !(save && caption.isEmpty) {
          captioned += 1
          tokens += model.tokenizer.encode(caption).count
        }
      }
      progress.advance(by: prepared.paths.count)
    }
    progress.finish()
    session.note("caption: \(summary())")
    // A script or one-shot run must not report success for a run that produced nothing.
    if captioned == 0 && skipped == 0 { throw ShellError("caption: nothing captioned (\(summary()))") }
  }
}
