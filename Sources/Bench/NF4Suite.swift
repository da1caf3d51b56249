// quantize=nf4 against fp32 on Florence-2 base (random weights built in Swift): the same vision+projection,
// encoder and decoder-step timings as the model suite, first with fp32 Linear weights, then after replacing
// every Linear but lm_head by NF4 in place, and what the weights cost in memory each way.
import FlrCore
import FlrModel
import Foundation

#if canImport(Glibc)
  @_silgen_name("malloc_trim") private func malloc_trim(_ pad: Int) -> Int32
#endif

let modelNF4Suite = BenchSuite(
  name: "model-nf4", summary: "Florence-2 base: fp32 vs quantize=nf4 (vision, encoder, decoder step, resident size)"
) {
  benchLinears()
  if ProcessInfo.processInfo.environment["FLR_NF4_LINEARS_ONLY"] != nil { return }
  let gib = 1_073_741_824.0
  let model: Florence2
  do { model = try Florence2.random(config: FlorenceConfig()) } catch {
    print("model-nf4: \(error)")
    return
  }
  print(String(format: "base fp32: resident after building the weights %.2f GiB", residentBytes("VmRSS") / gib))
  benchForward(model, label: "base fp32")
  let start = Date()
  let summary: QuantizationSummary
  do { summary = try model.quantizeLinearsNF4() } catch {
    print("model-nf4: \(error)")
    return
  }
  #if canImport(Glibc)
    _ = malloc_trim(0)  // hand the freed fp32 weights back so VmRSS shows what stays
  #endif
  print(String(format: "quantized in %.2f s: %@", Date().timeIntervalSince(start), summary.description))
  print(String(format: "base nf4: resident after quantizing %.2f GiB", residentBytes("VmRSS") / gib))
  benchForward(model, label: "base nf4")
  // The first NF4 implementation (the whole weight expanded per call), for the before/after comparison.
  NF4Tensor.kernel = .expandWhole
  benchForward(model, label: "base nf4 expand-whole")
  NF4Tensor.kernel = .tiled
  print(
    String(
      format: "base nf4: resident after the runs %.2f GiB, peak RSS (whole process, fp32 phase included) %.2f GiB",
      residentBytes("VmRSS") / gib, residentBytes("VmHWM") / gib))
}

/// Single Linears of base's shapes, forward (1, 3 and 590 rows) and input gradient (590 rows): fp32, the NF4
/// kernels, and the whole-weight expansion they replaced.
private func benchLinears() {
  let shapes = [(768, 768), (3072, 768), (768, 3072)]  // [out, in]: attention, fc1, fc2
  for (out, inF) in shapes {
    let w = Bench.random([out, inF], seed: 2)
    let plain = LinearLayer(weight: w, bias: Bench.random([out], seed: 3), in: inF, out: out)
    guard let q = try? NF4LinearLayer(quantizing: plain) else { return }
    for rows in [1, 3, 590] {
      let x = Bench.random([rows, inF], seed: 4)
      let flops = 2.0 * Double(rows * out * inF)
      Bench.measure("linear fp32", shape: "[\(rows),\(inF)]x[\(out),\(inF)]T", flops: flops) { _ = plain.forward(x) }
      for kernel in [NF4Tensor.Kernel.tiled, .expandWhole] {
        NF4Tensor.kernel = kernel
        Bench.measure("linear nf4 \(kernel)", shape: "[\(rows),\(inF)]x[\(out),\(inF)]T", flops: flops) {
          _ = q.forward(x)
        }
      }
      NF4Tensor.kernel = .tiled
      guard rows > 3 else { continue }
      let dout = Bench.random([rows, out], seed: 5)
      Bench.measure("linear dx fp32", shape: "[\(rows),\(out)]x[\(out),\(inF)]", flops: flops) {
        _ = plain.backward(dout: dout, input: x)
      }
      for kernel in [NF4Tensor.Kernel.tiled, .expandWhole] {
        NF4Tensor.kernel = kernel
        Bench.measure("linear dx nf4 \(kernel)", shape: "[\(rows),\(out)]x[\(out),\(inF)]", flops: flops) {
          _ = q.backward(dout: dout, input: x)
        }
      }
      NF4Tensor.kernel = .tiled
    }
  }
}

/// One LoRA training step on Florence-2 base with the reference script's adapter (r=4, alpha 4, dropout 0.25, the
/// reference script's targets), fp32 base vs quantize=nf4 base: the QLoRA figure. NF4 runs first, so its peak RSS is
/// not the fp32 model's; each phase builds its own model and frees it before the next.
let trainNF4Suite = BenchSuite(
  name: "train-nf4",
  summary: "Florence-2 base: one LoRA step (seed adapter, 64-token caption) on an NF4 base vs fp32, time and peak RSS"
) {
  // FLR_TRAIN_NF4_CHECKPOINTING=all|text|none (default none, the reference script's default).
  let mode = Checkpointing(rawValue: ProcessInfo.processInfo.environment["FLR_TRAIN_NF4_CHECKPOINTING"] ?? "") ?? .none
  for quantize in [true, false] { benchLoRAStep(quantize: quantize, checkpointing: mode) }
}

private func benchLoRAStep(quantize: Bool, checkpointing: Checkpointing) {
  let gib = 1_073_741_824.0
  let label = (quantize ? "base nf4" : "base fp32") + " checkpointing=\(checkpointing.rawValue)"
  let model: Florence2
  do {
    model = try Florence2.random(config: FlorenceConfig())
    if quantize { try model.quantizeLinearsNF4() }
    #if canImport(Glibc)
      _ = malloc_trim(0)
    #endif
    let adapter = try LoRAAdapter(name: "seed", config: LoRAConfig(), model: model)
    adapter.attach()
    adapter.setTraining(true)
  } catch {
    print("train-nf4: \(error)")
    return
  }
  let pixels = Bench.random([1, 3, 768, 768])
  let prompt: [[Int32]] = [[0, 47066, 21700, 11, 4617, 99, 16, 2343, 11, 5, 2274, 4, 2]]
  var rng = SeededRNG(seed: 3)
  let caption: [[Int32]] = [[0] + (0..<62).map { _ in Int32(3 + rng.nextUInt64() % 50000) } + [2]]
  let resident = residentBytes("VmRSS") / gib
  resetPeakResident()  // the peak from here on
  let seconds: [Double]
  do {
    seconds = try timedTrainingSteps(model, pixels: pixels, prompt: prompt, caption: caption) { run in
      TrainingOptions(dropout: true, checkpointing: checkpointing, reach: .pixels, seed: UInt64(run))
    }
  } catch {
    print("train-nf4: \(error)")
    return
  }
  let median = seconds.sorted()[seconds.count / 2]
  print(
    String(
      format: "train-nf4 %@: LoRA step %.2f s median of %d (best %.2f s), resident before %.2f GiB, peak RSS %.2f GiB",
      label, median, seconds.count, seconds.min() ?? 0, resident, residentBytes("VmHWM") / gib))
}
