// Optimizer step time on an adapter of the reference script's default size: 1.6 M fp32 parameters in LoRA r=4 shapes
// (200 attention-sized pairs A [4,768] / B [768,4] and 26 fc-sized pairs A [4,768] / B [3072,4]).
// It should be negligible next to a model step.
import FlrCore
import FlrTrain

let optimSuite = BenchSuite(name: "optim", summary: "optimizer step on a 1.6M-parameter r=4 LoRA adapter") {
  var shapes: [[Int]] = []
  for _ in 0..<200 { shapes += [[4, 768], [768, 4]] }
  for _ in 0..<26 { shapes += [[4, 768], [3072, 4]] }
  let total = shapes.reduce(0) { $0 + $1.reduce(1, *) }
  var tensors: [(Tensor, Tensor)] = []
  var params: [ParamGroup] = []
  for (i, shape) in shapes.enumerated() {
    let v = Bench.random(shape, seed: UInt64(2 * i + 1)), g = Bench.random(shape, seed: UInt64(2 * i + 2))
    for j in 0..<v.count { v.data[j] *= 0.02; g.data[j] *= 1e-3 }
    tensors.append((v, g))
    params.append(
      ParamGroup(name: "p\(i).\(i % 2 == 0 ? "lora_A" : "lora_B")", values: v.data, grads: g.data, shape: shape))
  }
  let shapeLabel = "\(total) params"
  let bytes = Double(total) * 4 * 4  // at least params, grads and two fp32 states touched once
  for kind in OptimizerKind.allCases {
    do {
      let made = try OptimizerFactory.make(
        kind: kind, params: params, args: OptimizerArgs(), learningRate: kind == .prodigy ? 1 : 1e-4)
      Bench.measure(kind.referenceName + " step", shape: shapeLabel, bytes: bytes) {
        try? made.optimizer.step(lr: made.lr)
      }
    } catch {
      print("optim: \(kind.referenceName): \(error)")
    }
  }
  withExtendedLifetime(tensors) {}
}
