// One training epoch through the Trainer, as `train` runs it: Florence-2 base on random weights, 8 images
// (test fixture photos, resized to 768x768 at load, resident), a ~30-token caption each, batch 1, AdamW, r=4
// LoRA. Three runs, each its own epoch(s):
//   reference targets      qkv,proj,k_proj,v_proj,q_proj,out_proj,fc1,fc2 (vision modules adapted: backward to the
//                     stage-0 patch conv, drop path on as the reference script): features cannot be cached
//   text, no cache    the same names restricted to BART (regex), vision_dropout=off, feature_cache=off
//   text, cache       the same with the cache: epoch 1 computes each image's features once, epoch 2 reuses them
// Prints seconds per optimizer step (mean over the epoch) and the peak RSS of each run.
// FLR_TRAIN_EPOCH_IMAGES (default 8), FLR_TRAIN_EPOCH_RUNS (comma list of reference,text,cache; default all).
import FlrCore
import FlrModel
import FlrTokenizer
import FlrTrain
import Foundation

let trainEpochSuite = BenchSuite(
  name: "train-epoch",
  summary:
    "Florence-2 base: a training epoch over 8 images, r=4 LoRA: s/step and peak RSS, with/without feature caching"
) {
  do { try TrainEpochBench.run() } catch { print("train-epoch: \(error)") }
}

enum TrainEpochBench {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../Tests/Fixtures").standardized
  static let photos = [
    "photo_astronaut_420.jpg", "photo_camera_gray.jpg", "photo_chelsea_lossless.webp", "photo_coffee_422.jpg",
    "photo_coffee_768x768.jpg", "photo_hubble_872x1000.jpg", "photo_chelsea_interlaced.png",
    "photo_coffee_1920x1080.webp",
  ]
  static let caption =
    "a small red car parked on the side of a quiet road in front of an old stone house, with green trees, "
    + "a blue sky and two people walking a dog along the street"
  static let referenceTargets = "qkv,proj,k_proj,v_proj,q_proj,out_proj,fc1,fc2"
  static let textTargets = #"re:language_model\..*\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)"#

  static func run() throws {
    let env = ProcessInfo.processInfo.environment
    let count = min(photos.count, max(1, Int(env["FLR_TRAIN_EPOCH_IMAGES"] ?? "") ?? 8))
    let runs = (env["FLR_TRAIN_EPOCH_RUNS"] ?? "reference,text,cache").split(separator: ",").map(String.init)
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("flr-bench-epoch-\(getpid())")
    try? FileManager.default.removeItem(at: folder)
    defer { try? FileManager.default.removeItem(at: folder) }
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for (i, photo) in photos.prefix(count).enumerated() {
      let ext = (photo as NSString).pathExtension
      try FileManager.default.copyItem(
        at: fixtures.appendingPathComponent("images/\(photo)"), to: folder.appendingPathComponent("img\(i).\(ext)"))
      try "\(caption) (\(i))".write(
        to: folder.appendingPathComponent("img\(i).txt"), atomically: true, encoding: .utf8)
    }
    let model = try Florence2.random(config: FlorenceConfig())
    let tokenizer = try BartTokenizer(folder: fixtures.appendingPathComponent("tokenizer"))
    let dataset = try CaptionDataset(at: folder)
    print(
      String(
        format: "train-epoch: %d images resident (%.1f MiB), caption %d tokens; resident now %.2f GiB",
        dataset.images.residentCount, Double(dataset.images.residentBytes) / 1_048_576,
        tokenizer.encode(caption).count, residentBytes("VmRSS") / 1_073_741_824))
    for name in runs {
      let (targets, cache, epochs) =
        switch name {
        case "reference": (referenceTargets, false, 1)
        case "text": (textTargets, false, 1)
        default: (textTargets, true, 2)
        }
      dataset.features.clear()
      TensorBuffer.trimPool()
      resetPeakResident()
      let adapters = LoRAAdapters(model: model)
      var config = LoRAConfig()
      config.targets = TargetModules.parse(targets)
      try adapters.add(LoRAAdapter(name: name, config: config, model: model))
      defer { try? adapters.drop(name) }
      var settings = TrainerSettings()
      settings.epochs = epochs
      settings.prompt = "<DETAILED_CAPTION>"
      settings.visionDropout = name == "reference"  // the reference script trains with drop path; caching needs it off
      settings.featureCaching = cache
      settings.progressEverySteps = 1_000_000
      let trainer = try Trainer(
        model: model, tokenizer: tokenizer, dataset: dataset, adapter: adapters.active!, settings: settings)
      var epochStart = Date()
      var stepsAtStart = 0
      trainer.onLine = { line in
        guard line.hasPrefix("epoch ") else { return }
        let seconds = Date().timeIntervalSince(epochStart)
        let steps = trainer.step - stepsAtStart
        print(
          String(
            format: "train-epoch %@ (%@) epoch %d: %.2f s/step over %d steps, vision forwards so far %d, "
              + "peak RSS %.2f GiB",
            name, trainer.cachesFeatures ? "features cached" : "features every step", trainer.epoch + 1,
            seconds / Double(max(1, steps)), steps, trainer.dataset.features.visionForwards,
            residentBytes("VmHWM") / 1_073_741_824))
        epochStart = Date()
        stepsAtStart = trainer.step
      }
      _ = try trainer.run()
    }
  }
}
