// `caption DIR batch=B beams=3` as the shell runs it, on Florence-2 base shapes with random weights: the photos of
// Tests/Fixtures/images (8 by default) read, decoded and resized a batch ahead on the prefetch thread
// (PixelBatchPrefetch, as the caption command does), captioned with beam 3 and 75 new tokens at most, batch 1 and
// batch 4. Prints each run's images per second, the preprocessing the prefetch thread did and how long the model
// waited for it, the per-image throughput ratio of batch 4 to batch 1 and whether the captions are the same, and
// the ratio's ceiling: batch 1's time per image over one image's vision tower + encoder, which no batch shares.
import FlrCore
import FlrGenerate
import FlrModel
import FlrProcessor
import FlrTokenizer
import Foundation

let captionFolderSuite = BenchSuite(
  name: "caption-folder", summary: "caption a folder of photos, batch 1 vs 4, beams 3, base, prefetch thread"
) {
  let environment = ProcessInfo.processInfo.environment
  // FLR_CAPTION_FOLDER_IMAGES=N (default 8) photos; FLR_CAPTION_FOLDER_PRECISIONS=fp32,bf16,int8 (default fp32).
  let count = Int(environment["FLR_CAPTION_FOLDER_IMAGES"] ?? "") ?? 8
  let precisions = (environment["FLR_CAPTION_FOLDER_PRECISIONS"] ?? "fp32").split(separator: ",").compactMap {
    WeightPrecision(name: String($0))
  }
  let folder = "Tests/Fixtures/images"
  let photos =
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasPrefix("photo_") }
    .sorted().prefix(count).map { folder + "/" + $0 }
  let tokenizer: BartTokenizer
  do { tokenizer = try BartTokenizer(folder: URL(fileURLWithPath: "Tests/Fixtures/demo-tiny")) } catch {
    print("caption-folder: run from the repository root (the tokenizer of Tests/Fixtures/demo-tiny): \(error)")
    return
  }
  guard !photos.isEmpty else {
    print("caption-folder: no photo_* images in \(folder) (run from the repository root)")
    return
  }
  let settings = GenerationSettings.florence2.with(numBeams: 3, maxNewTokens: 75)
  for precision in precisions {
    let generator: Generator, model: Florence2
    do {
      model = try Florence2.random(config: FlorenceConfig(), seed: 1)
      _ = try model.convertWeights(to: precision)
      generator = Generator(model: model, tokenizer: tokenizer)
      // Warm-up: the weights paged in and the buffer pool filled before any timing.
      _ = try generator.caption(
        pixelValues: Bench.random([1, 3, 768, 768]), task: "<DETAILED_CAPTION>",
        settings: settings.with(maxNewTokens: 2))
    } catch {
      print("caption-folder: \(error)")
      return
    }
    var runs: [Int: CaptionFolderRun] = [:]
    for batch in [1, 4] {
      do {
        let run = try captionFolder(photos, batch: batch, generator: generator, settings: settings)
        runs[batch] = run
        print(
          "caption-folder \(precision.rawValue) batch=\(batch): \(photos.count) images in "
            + "\(Bench.formatTime(run.seconds)) = \(Bench.formatTime(run.seconds / Double(photos.count)))/image "
            + "(\(Bench.fixed(Double(photos.count) / run.seconds, 3)) img/s, "
            + "\(Bench.formatTime(run.cpu / Double(photos.count))) CPU/image, \(run.steps) decoder steps); "
            + "decode + resize \(Bench.formatTime(run.prepared)) on the prefetch thread, the model waited "
            + "\(Bench.formatTime(run.waited)) for it")
        if let profile = run.profile { ProfileTable.print(profile, title: "caption batch=\(batch)") }
      } catch {
        print("caption-folder: \(error)")
        return
      }
    }
    if let one = runs[1], let four = runs[4] {
      let same = zip(one.captions, four.captions).filter { $0 == $1 }.count
      print(
        "caption-folder \(precision.rawValue): batch 4 / batch 1 per-image throughput "
          + "\(Bench.fixed(one.seconds / four.seconds, 2))x (CPU time: \(Bench.fixed(one.cpu / four.cpu, 2))x); "
          + "captions identical \(same)/\(photos.count)")
      // What batching cannot share: each image's vision tower and encoder (their products already have hundreds
      // of rows at batch 1). Were batch 4's decoding free, its per-image time would still be this.
      let prompt: [Int32] = [0] + (0..<11).map { Int32(100 + 37 * $0) } + [2]
      var perImage = Double.infinity
      for _ in 0..<2 {
        let t0 = Bench.now()
        guard
          let features = try? model.imageFeatures(pixelValues: Bench.random([1, 3, 768, 768])),
          (try? model.encode(imageFeatures: features, promptIds: [prompt])) != nil
        else { break }
        perImage = min(perImage, Bench.now() - t0)
      }
      let batch1 = one.seconds / Double(photos.count)
      print(
        "caption-folder \(precision.rawValue): vision + encoder of one image \(Bench.formatTime(perImage)) "
          + "(best of 2): batch 4's ceiling with decoding free is \(Bench.fixed(batch1 / perImage, 2))x batch 1's "
          + "per-image throughput")
    }
  }
}

struct CaptionFolderRun {
  var seconds: Double
  /// CPU seconds of the process (every thread, the prefetch thread's included).
  var cpu: Double
  var captions: [String]
  var steps: Int
  var prepared: Double
  var waited: Double
  var profile: ProfileReport?
}

/// The caption command's loop without its files: prefetched batches of `batch` paths, captioned in order.
func captionFolder(_ paths: [String], batch: Int, generator: Generator, settings: GenerationSettings) throws
  -> CaptionFolderRun
{
  var captions: [String] = [], steps = 0
  let start = Date(), cpuStart = processCPUSeconds()
  let prefetch = PixelBatchPrefetch(paths: paths, batchSize: batch)
  defer { prefetch.stop() }
  let body = {
    while let prepared = prefetch.next() {
      for (path, error) in prepared.failures { print("caption-folder: \(path): \(error)") }
      guard let pixelValues = prepared.pixelValues else { continue }
      captions += try generator.caption(
        pixelValues: pixelValues, task: "<DETAILED_CAPTION>", settings: settings,
        onStep: { _ in
          steps += 1
          return true
        })
    }
  }
  let profile: ProfileReport?
  if Bench.profiling {
    profile = try ProfileTable.profiled(body)
  } else {
    try body()
    profile = nil
  }
  let seconds = Date().timeIntervalSince(start), cpu = processCPUSeconds() - cpuStart
  let (waited, prepared) = prefetch.seconds
  return CaptionFolderRun(
    seconds: seconds, cpu: cpu, captions: captions, steps: steps, prepared: prepared, waited: waited, profile: profile)
}
