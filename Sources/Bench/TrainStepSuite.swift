// One training step (forward + backward) of Florence-2 base (or large) on random weights: 768x768 images, a
// 13-token prompt, 64-token captions, dropout on, with each gradient-checkpointing mode and each batch size asked
// for. Base weights are frozen; backward runs all the way to the pixel values (the reference script's default LoRA
// targets include the stage-0 patch conv, so a LoRA step walks the same path; the r=4 LoRA products add little on
// top).
import FlrCore
import FlrModel
import Foundation

let trainStepSuite = BenchSuite(
  name: "train-step",
  summary: "Florence-2 base (or large): forward+backward steps, 64-token captions, time and peak RSS per mode, batch"
) {
  let environment = ProcessInfo.processInfo.environment
  let model: Florence2
  // FLR_TRAIN_STEP_MODEL=large: Florence-2-large's shapes instead of base's.
  let size = environment["FLR_TRAIN_STEP_MODEL"] == "large" ? "large" : "base"
  // FLR_TRAIN_STEP_ATTENTION_DROPOUT=P: BART attention-probability dropout (Florence-2's config.json: 0.1).
  var config = size == "large" ? FlorenceConfig.large : FlorenceConfig()
  if let p = Float(ProcessInfo.processInfo.environment["FLR_TRAIN_STEP_ATTENTION_DROPOUT"] ?? "") {
    config.text.attentionDropout = p
  }
  // FLR_TRAIN_STEP_PRECISION=bf16|int8: the frozen base in reduced precision (`load … precision=`).
  let precision = WeightPrecision(name: ProcessInfo.processInfo.environment["FLR_TRAIN_STEP_PRECISION"] ?? "") ?? .fp32
  do {
    model = try Florence2.random(config: config)
    try model.convertWeights(to: precision)
  } catch {
    print("train-step: \(error)")
    return
  }
  print(
    String(
      format: "train-step: %@, resident after building the weights %.2f GiB", size,
      residentBytes("VmRSS") / 1_073_741_824))
  // FLR_TRAIN_STEP_BATCH: a comma list of batch sizes (default 1); each image has its own 64-token caption.
  let batches =
    (environment["FLR_TRAIN_STEP_BATCH"]?.split(separator: ",").compactMap { Int($0) }.filter { $0 >= 1 })
    .flatMap { $0.isEmpty ? nil : $0 } ?? [1]
  let prompt: [Int32] = [0, 47066, 21700, 11, 4617, 99, 16, 2343, 11, 5, 2274, 4, 2]
  var rng = SeededRNG(seed: 3)
  let captions: [[Int32]] = (0..<(batches.max() ?? 1)).map { _ in
    [0] + (0..<62).map { _ in Int32(3 + rng.nextUInt64() % 50000) } + [2]
  }
  // FLR_POOL_MB: the tensor buffer pool's limit (default 1024), to measure its share of the peak.
  if let mb = Int(environment["FLR_POOL_MB"] ?? "") { TensorBuffer.poolLimitBytes = mb << 20 }
  // FLR_TRAIN_STEP_MODES: a comma list of checkpointing modes (default every mode, lightest first on base).
  let modes =
    (environment["FLR_TRAIN_STEP_MODES"]?.split(separator: ",").compactMap {
      Checkpointing(rawValue: String($0))
    }).flatMap { $0.isEmpty ? nil : $0 } ?? [.all, .partial, .highres, .text, .none]
  // FLR_TRAIN_STEP_LORA=1: the reference script's LoRA (defaults: r=4, the reference script's targets with the patch
  // convs, dropout 0.25) attached and training, as a real LoRA step; otherwise the frozen base alone.
  var reach = GradientReach.pixels
  if environment["FLR_TRAIN_STEP_LORA"] == "1" {
    do {
      let adapter = try LoRAAdapter(name: "bench", config: LoRAConfig(), model: model)
      adapter.attach()
      adapter.setTraining(true)
      reach = GradientReach(lowestModulePath: adapter.lowestModule)
      print("train-step: LoRA on \(adapter.layers.count) modules, reach \(reach)")
    } catch {
      print("train-step: \(error)")
      return
    }
  }
  // The process's peak RSS (VmHWM) is reset before each mode where the kernel allows it, and the pool
  // emptied, so each mode's peak starts from the same resident set.
  for mode in modes {
    var perImage: [Int: Double] = [:]
    for b in batches {
      let pixels = Bench.random([b, 3, 768, 768])
      TensorBuffer.trimPool()
      resetPeakResident()
      let cpuStart = processCPUSeconds()
      let seconds: [Double]
      do {
        seconds = try timedTrainingSteps(
          model, pixels: pixels, prompt: Array(repeating: prompt, count: b), caption: Array(captions.prefix(b))
        ) { run in
          TrainingOptions(dropout: true, checkpointing: mode, reach: reach, seed: UInt64(run))
        }
      } catch {
        print("train-step: \(error)")
        return
      }
      let best = seconds.min() ?? 0
      perImage[b] = best / Double(b)
      // Per image against batch 1 (best runs), when batch 1 was measured in this run.
      let ratio = perImage[1].map { String(format: ", %.2fx batch 1's per image", best / Double(b) / $0) } ?? ""
      print(
        String(
          format:
            "train-step checkpointing=%@ batch=%d: %.2f s median of %d (best %.2f s, first %.2f s; %.2f s per image%@), "
            + "%.1f CPU s/run, peak RSS %.2f GiB (pool now %.2f GiB)",
          mode.rawValue, b, seconds.sorted()[seconds.count / 2], seconds.count, best, seconds[0],
          best / Double(b), ratio, (processCPUSeconds() - cpuStart) / Double(seconds.count),
          residentBytes("VmHWM") / 1_073_741_824, Double(TensorBuffer.pooledBytes) / 1_073_741_824))
    }
  }
  // A loaded model at rest: after a 2-image inference forward, and once the pool's idle trim has run.
  do {
    _ = try model.imageFeatures(pixelValues: Bench.random([2, 3, 768, 768]))
    let busy = residentBytes("VmRSS")
    Thread.sleep(forTimeInterval: 3)  // the pool empties itself 2 s after the last buffer came back
    print(
      String(
        format: "train-step: resident after a 2-image vision forward %.2f GiB, 3 s later %.2f GiB",
        busy / 1_073_741_824, residentBytes("VmRSS") / 1_073_741_824))
  } catch {
    print("train-step: \(error)")
  }
}

/// User + system CPU seconds of this process so far (all threads).
func processCPUSeconds() -> Double {
  var usage = rusage()
  getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
  return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
    + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Seconds of FLR_TRAIN_STEP_RUNS (default 3) training steps, `options(run)` for run 0, 1, …. Each run is
/// profiled (Core's Profile: about a microsecond per kernel call): the FLOPs and bytes its kernels declare give
/// the step's limit, printed with the fraction of it the best run reaches; `--profile` prints the last run's
/// table per op kind.
func timedTrainingSteps(
  _ model: Florence2, pixels: Tensor, prompt: [[Int32]], caption: [[Int32]], options: (Int) -> TrainingOptions
) throws -> [Double] {
  let runs = Int(ProcessInfo.processInfo.environment["FLR_TRAIN_STEP_RUNS"] ?? "") ?? 3
  let limits = Limits.current
  var last: ProfileReport?
  var freshBytes = 0  // of the last run: buffers the pool could not serve (page faults and kernel zeroing)
  let seconds = try (0..<max(1, runs)).map { run in
    let start = Date(), mappedBefore = TensorBuffer.freshlyMappedBytes
    last = try ProfileTable.profiled {
      _ = try model.trainingStep(pixelValues: pixels, promptIds: prompt, labels: caption, options: options(run))
    }
    freshBytes = TensorBuffer.freshlyMappedBytes - mappedBefore
    return Date().timeIntervalSince(start)
  }
  if let last {
    let limit = limits.seconds(last)
    print(
      "  step: \(Bench.fixed(last.flops * 1e-9, 1)) GFLOP declared by its kernels = \(Bench.formatTime(limit)) at "
        + "this run's rates (sgemm \(Bench.fixed(limits.gflops, 1)) GFLOP/s); best run \(Bench.formatTime(seconds.min() ?? 0)) = "
        + "\(Bench.fixed(limit / (seconds.min() ?? 1) * 100, 0))% of that limit; last run mapped "
        + "\(Bench.fixed(Double(freshBytes) / 1_048_576, 0)) MB of fresh buffers")
    if Bench.profiling { ProfileTable.print(last, title: "the step") }
  }
  return seconds
}

/// Resets VmHWM to the current RSS (Linux: writing 5 to /proc/self/clear_refs).
func resetPeakResident() {
  try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}
