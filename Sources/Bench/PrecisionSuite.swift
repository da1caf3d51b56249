// Reduced precision (`load … precision=`) on Florence-2 base random weights, each precision one after the
// other in the same run: the machine's limits (sgemm GFLOP/s, the bf16 and int8 kernels' GFLOP/s, stream
// bandwidth), then per precision the vision tower, the encoder, decoder steps (1 and 3 rows) and greedy /
// beam-3 captions of 75 new tokens end to end (vision + encoder + decoding), and peak RSS.
// FLR_BENCH_PRECISIONS=fp32,int8 picks which precisions run (default all three).
import FlrCore
import FlrGenerate
import FlrModel
import Foundation

let precisionSuite = BenchSuite(
  name: "precision", summary: "fp32 / bf16 / int8 base: limits, vision, encoder, decode step, 75-token captions"
) {
  precisionLimits()
  let names = ProcessInfo.processInfo.environment["FLR_BENCH_PRECISIONS"] ?? "fp32,bf16,int8"
  print("kernels: \(KernelPath.active)")
  for precision in names.split(separator: ",").compactMap({ WeightPrecision(name: String($0)) }) {
    benchPrecision(precision)
  }
}

/// sgemm, the bf16 and int8 kernels on one large square product, and a read-bandwidth loop.
func precisionLimits() {
  let n = 1536
  let a = Bench.random([n, n], seed: 1), b = Bench.random([n, n], seed: 2), c = Tensor(zeros: [n, n])
  let flops = 2 * Double(n * n * n)
  Bench.measure("sgemm (limit)", shape: "[\(n),\(n),\(n)]", flops: flops) {
    Gemm.matmul(a.data, b.data, c.data, m: n, n: n, k: n, transB: true)
  }
  let bf16 = BF16Weight(b.data, outFeatures: n, inFeatures: n)
  Bench.measure("bf16 gemm (limit)", shape: "[\(n),\(n),\(n)] \(KernelPath.active)", flops: flops) {
    bf16.linearForward(out: c.data, inp: a.data, bias: nil, rows: n)
  }
  let int8 = Int8Weight(b.data, outFeatures: n, inFeatures: n)
  Bench.measure("int8 gemm (limit)", shape: "[\(n),\(n),\(n)] \(KernelPath.active)", flops: flops) {
    int8.linearForward(out: c.data, inp: a.data, bias: nil, rows: n)
  }
  let stream = StreamRead()
  Bench.measure("stream read (limit)", shape: "256 MiB", bytes: stream.bytes) { _ = stream.run() }
}

func benchPrecision(_ precision: WeightPrecision) {
  let model: Florence2
  do {
    model = try Florence2.random(config: FlorenceConfig(), seed: 1)
    try model.convertWeights(to: precision)
  } catch {
    print("precision: \(error)")
    return
  }
  let label = "base \(precision.rawValue)"
  print(
    String(format: "%@: resident after building the weights %.2f GiB", label, residentBytes("VmRSS") / 1_073_741_824))
  let pixels = Bench.random([1, 3, 768, 768])
  let prompt: [Int32] = [0] + (0..<11).map { Int32(100 + 37 * $0) } + [2]
  var features = Tensor(zeros: [1])
  Bench.measure("vision+projection", shape: label) { features = try! model.imageFeatures(pixelValues: pixels) }
  var encoderOutput = Tensor(zeros: [1])
  Bench.measure("encoder", shape: label) {
    encoderOutput = try! model.encode(imageFeatures: features, promptIds: [prompt])
  }
  for beams in [1, 3] {
    var state = model.prepareDecoding(encoderOutput: encoderOutput, beamsPerImage: beams, capacity: 128)
    for _ in 0..<16 { _ = try! model.decoderStep(tokens: Array(repeating: 2, count: beams), state: &state) }
    let start = state
    Bench.measure("decoder step, \(beams) row(s)", shape: label + " past 16") {
      var s = start
      _ = try! model.decoderStep(tokens: Array(repeating: 5, count: beams), state: &s)
    }
  }
  let generator = Generator(model: model)
  for beams in [1, 3] {
    let settings = GenerationSettings.florence2.with(numBeams: beams, maxNewTokens: 75)
    var steps = 0
    Bench.measure(beams == 1 ? "caption greedy 75, end to end" : "caption beam-3 75, end to end", shape: label) {
      steps = 0
      let f = try! model.imageFeatures(pixelValues: pixels)
      let e = try! model.encode(imageFeatures: f, promptIds: [prompt])
      _ = try? generator.generate(encoderOutput: e, settings: settings) { _ in
        steps += 1
        return true
      }
    }
    print("  \(steps) decoding steps")
  }
  print(String(format: "%@: peak RSS %.2f GiB", label, residentBytes("VmHWM") / 1_073_741_824))
}
