// One decoder step (1 and 3 rows, past length 16, LM head included) on Florence-2 base random weights, per
// precision, against the read bandwidth measured in the same run: the step's weight bytes (the decoder Linears
// a step multiplies and lm_head, as held) over `stream read` (measured before every round, the best of the run
// kept) is the step's limit. Each figure is timed both ways, in rounds that alternate, so the two compare under
// the same load: the step as one parallel region of stages (the default) and op by op (a fork/join region per
// op). FLR_BENCH_PRECISIONS picks the precisions (default fp32,bf16,int8); FLR_DECODE_STEP_ROUNDS the rounds
// (default 3).
import FlrCore
import FlrModel
import Foundation

let decodeStepSuite = BenchSuite(
  name: "decode-step", summary: "base decoder step (1 and 3 rows): one region vs op by op, against weight bytes"
) {
  let environment = ProcessInfo.processInfo.environment
  // The read bandwidth of a shared machine drifts: it is measured again before every round, and each figure is
  // set against the best seen in the run (the strictest limit).
  let stream = StreamRead()
  var bandwidth = streamReadBandwidth(stream)
  let rounds = environment["FLR_DECODE_STEP_ROUNDS"].flatMap(Int.init) ?? 3
  for name in (environment["FLR_BENCH_PRECISIONS"] ?? "fp32,bf16,int8").split(separator: ",") {
    guard let precision = WeightPrecision(name: String(name)) else { continue }
    let model: Florence2
    do {
      model = try Florence2.random(config: FlorenceConfig(), seed: 1)
      try model.convertWeights(to: precision)
    } catch {
      print("decode-step: cannot build the base model: \(error)")
      return
    }
    let weightBytes = stepWeightBytes(model)
    let prompt: [Int32] = [0] + (0..<11).map { Int32(100 + 37 * $0) } + [2]
    guard
      let encoderOutput = try? model.encode(imageFeatures: Bench.random([1, 577, 768], seed: 3), promptIds: [prompt])
    else { return }
    for beams in [1, 3] {
      var state = model.prepareDecoding(encoderOutput: encoderOutput, beamsPerImage: beams, capacity: 128)
      for _ in 0..<16 { _ = try! model.decoderStep(tokens: Array(repeating: 2, count: beams), state: &state) }
      let start = state
      var best = [Double.infinity, .infinity]
      for round in 0..<rounds {
        bandwidth = max(bandwidth, streamReadBandwidth(stream))
        for (i, oneRegion) in [true, false].enumerated() {
          LanguageModel.decodesInOneRegion = oneRegion
          let label = "decoder step, \(beams) row(s), " + (oneRegion ? "one region" : "op by op")
          Bench.measure(label, shape: "base \(precision.rawValue), round \(round + 1)") {
            var s = start
            _ = try! model.decoderStep(tokens: Array(repeating: 5, count: beams), state: &s)
          }
          best[i] = min(best[i], Bench.results.last?.best ?? .infinity)
        }
      }
      LanguageModel.decodesInOneRegion = true
      let limit = Double(weightBytes) / bandwidth
      print(
        "  \(precision.rawValue): a step reads \(Bench.fixed(Double(weightBytes) / 1e6, 1)) MB of weights: "
          + "\(Bench.fixed(limit * 1e3, 2)) ms at the best stream read of the run, "
          + "\(Bench.fixed(bandwidth / 1e9, 1)) GB/s (256 MiB, \(Threads.count) thread(s))")
      print(
        "  \(precision.rawValue), \(beams) row(s), best of \(rounds) rounds: one region "
          + "\(Bench.fixed(best[0] * 1e3, 2)) ms = \(Bench.fixed(best[0] / limit, 2))x the weight-bytes limit "
          + "(\(Bench.fixed(limit / best[0] * 100, 0))%), op by op \(Bench.fixed(best[1] * 1e3, 2)) ms = "
          + "\(Bench.fixed(best[1] / limit, 2))x")
    }
  }
}

/// Bytes of the weights one decoder step multiplies: every decoder Linear but the cross-attention keys/values
/// (computed once per image) and lm_head, as held (fp32, bf16 or int8 with its scales).
func stepWeightBytes(_ model: Florence2) -> Int {
  var bytes = 0
  for entry in model.namedModules() {
    guard case .linear(let slot) = entry.kind else { continue }
    let path = entry.path
    let inStep =
      path.hasSuffix("lm_head")
      || (path.contains("model.decoder.layers.") && !path.hasSuffix("encoder_attn.k_proj")
        && !path.hasSuffix("encoder_attn.v_proj"))
    guard inStep else { continue }
    let layer = slot.get()
    if let reduced = layer as? Int8LinearLayer {
      bytes += reduced.stored.residentBytes
    } else if let reduced = layer as? BF16LinearLayer {
      bytes += reduced.stored.residentBytes
    } else {
      bytes += 4 * layer.inFeatures * layer.outFeatures
    }
  }
  return bytes
}

/// Bytes per second of a sum over 256 MiB split across the workers (the precision suite's `stream read`), best
/// of six.
func streamReadBandwidth(_ stream: StreamRead = StreamRead()) -> Double {
  var sink: Float = 0, best = Double.infinity
  for _ in 0..<6 {
    let t0 = Bench.now()
    sink += stream.run()
    best = min(best, Bench.now() - t0)
  }
  if sink < 0 { print(sink) }
  return stream.bytes / best
}
