import FlrCheckpoints
import FlrCore
import FlrImage
import FlrProcessor
import Foundation

// `features PATH... out=FILE.safetensors`: projected image features [577, d] per image, keyed by file
// name (what the reference script image_features_florence.py looks at), for de-duplication and search.

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
    details: """
      Each tensor is named by the image's file name (photos/cat.jpg -> cat.jpg) and has shape [577, d] \
      (d = 768 for base, 1024 for large). Two images with the same file name are an error. An unreadable \
      image is reported and skipped; Ctrl-C writes the features finished so far. The next batch's images are \
      decoded and resized on a thread of their own while one batch is encoded, as caption does; the summary \
      says how long that took and how long the model waited for it.
      """,
    run: { try run($0, $1) })

  static func run(_ arguments: Arguments, _ session: Session) throws {
    guard let out = arguments.string("out") else { throw ShellError("features: out=FILE.safetensors is required") }
    let images = try ImagePaths.expandNotingOthers(
      arguments.positionals, recursive: arguments.flag("recursive"), command: "features", session: session)
    var owners: [String: String] = [:]
    for path in images {
      let name = (path as NSString).lastPathComponent
      if let other = owners[name] { throw ShellError("features: \(path) and \(other) have the same file name \(name)") }
      owners[name] = path
    }
    guard let model = session.model else { throw ShellError("features: no model loaded (load MODEL first)") }
    let batchSize = arguments.int("batch") ?? 1
    let progress = Progress("features", total: images.count, unit: "img", session: session)
    var tensors: [(name: String, tensor: Tensor)] = []
    var failed = 0, interrupted = false
    // The next batch's images are decoded and resized on a thread of their own while this one is encoded.
    let prefetch = PixelBatchPrefetch(paths: images, batchSize: batchSize)
    defer { prefetch.stop() }
    while let prepared = prefetch.next() {
      if session.cancellation.isCancelled {
        interrupted = true
        break
      }
      // Files that did not decode are reported in path order, as their batch comes up.
      for (_, error) in prepared.failures {
        failed += 1
        session.note("features: skipped \(describeError(error))")
      }
      if let pixelValues = prepared.pixelValues {
        let features = try model.model.imageFeatures(pixelValues: pixelValues)  // [B, 577, d]
        for (index, path) in prepared.decoded.enumerated() {
          tensors.append(((path as NSString).lastPathComponent, features[index: index].copy()))
        }
      }
      progress.advance(by: prepared.paths.count)
    }
    prefetch.stop()
    progress.finish()
    try SafetensorsWriter.write(tensors, to: out)
    let (waited, preparedSeconds) = prefetch.seconds
    let summary = "features: \(tensors.count) written to \(out)" + (failed > 0 ? ", \(failed) unreadable" : "")
    session.note(
      summary
        + String(
          format: " in %.1f s (decode + resize %.2f s on the prefetch thread, %.2f s waited for it)", progress.elapsed,
          preparedSeconds, waited))
    if interrupted { throw ShellError.interrupted }
  }
}
