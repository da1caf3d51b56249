// Caption decoding on Florence-2 base shapes with random weights: greedy and beam-3,
// 75 new tokens, one image, 13-token prompt. The encoder output is computed once outside the timings (the
// vision tower has its own figures), so these are the decode loop alone: decoder steps with KV cache, LM head,
// logits processing and beam bookkeeping. "ms/step" = total / steps actually taken.
// FLR_BENCH_PRECISION=bf16|int8 decodes with the model converted to that precision (default fp32).
import FlrCore
import FlrGenerate
import FlrModel
import Foundation

let generateSuite = BenchSuite(name: "generate", summary: "greedy and beam-3 decoding, base, 75 new tokens") {
  let model: Florence2
  let precision =
    ProcessInfo.processInfo.environment["FLR_BENCH_PRECISION"].flatMap { WeightPrecision(name: $0) } ?? .fp32
  do {
    model = try Florence2.random(config: FlorenceConfig(), seed: 1)
    try model.convertWeights(to: precision)
  } catch {
    print("generate: cannot build the base model: \(error)")
    return
  }
  let base = precision == .fp32 ? "base" : "base \(precision.rawValue)"
  let generator = Generator(model: model)
  let d = model.languageModel.dim
  let features = Bench.random([1, 577, d], seed: 3)
  let prompt: [Int32] = [0] + (0..<11).map { Int32(100 + 37 * $0) } + [2]  // 13 tokens, like "<CAPTION>"'s
  let encoderOutput: Tensor
  do { encoderOutput = try model.encode(imageFeatures: features, promptIds: [prompt]) } catch {
    print("generate: encoder failed: \(error)")
    return
  }
  var stepTimes: [Int: Double] = [:], bestStepTimes: [Int: Double] = [:]
  for beams in [1, 3] {
    // Florence-2's text_config values (a default FlorenceConfig() leaves the generation fields unset).
    let settings = GenerationSettings.florence2.with(numBeams: beams, maxNewTokens: 75)
    do { _ = try generator.generate(encoderOutput: encoderOutput, settings: settings) } catch {
      print("generate: \(error)")
      return
    }
    var steps = 0
    let name = beams == 1 ? "greedy 75 tokens" : "beam-\(beams) 75 tokens"
    Bench.measure(name, shape: "\(base), 1 image") {
      steps = 0
      _ = try? generator.generate(encoderOutput: encoderOutput, settings: settings) { _ in
        steps += 1
        return true
      }
    }
    if let seconds = Bench.results.last?.seconds, steps > 0 {
      stepTimes[beams] = seconds / Double(steps)
      bestStepTimes[beams] = (Bench.results.last?.best ?? seconds) / Double(steps)
      let limit =
        Bench.results.last?.limit.map { ", limit " + Bench.fixed($0 / Double(steps) * 1e3, 2) + " ms/step" } ?? ""
      print("  \(name): \(steps) steps, \(Bench.fixed(seconds / Double(steps) * 1e3, 2)) ms/step\(limit)")
    }
  }
  if let greedy = stepTimes[1], let beam = stepTimes[3] {
    let best = bestStepTimes[1].flatMap { g in bestStepTimes[3].map { $0 / g } } ?? beam / greedy
    print(
      "  beam-3 step / greedy step: \(Bench.fixed(beam / greedy, 2)) (goal <= 1.15); of the best times "
        + Bench.fixed(best, 2))
  }
  // A batch of 4 images decoded together (12 decoder rows per step): the same image 4 times, so each image's
  // search takes the steps the 1-image run took and the per-image times compare directly.
  let oneImage = Bench.results.last?.best
  let images = 4, per = encoderOutput.count
  let batchOutput = Tensor(zeros: [images] + encoderOutput.shape.dropFirst())
  for i in 0..<images { (batchOutput.data + i * per).update(from: encoderOutput.data, count: per) }
  let settings = GenerationSettings.florence2.with(numBeams: 3, maxNewTokens: 75)
  Bench.measure("beam-3 75 tokens, 4 images", shape: "\(base), 12 rows") {
    _ = try? generator.generate(encoderOutput: batchOutput, settings: settings)
  }
  if let oneImage, let batch = Bench.results.last?.best {
    print(
      "  beam-3, per-image throughput of a batch of 4 / of 1 image (best times): "
        + "\(Bench.fixed(oneImage / (batch / Double(images)), 2))x (decoding alone)")
  }
}
