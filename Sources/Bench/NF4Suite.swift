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
  print(
    String(
      format: "base nf4: resident after the runs %.2f GiB, peak RSS (whole process, fp32 phase included) %.2f GiB",
      residentBytes("VmRSS") / gib, residentBytes("VmHWM") / gib))
}

/// One 768² image, the 13-token <DETAILED_CAPTION> prompt, decoder steps at position 16 with 1 and 3 rows.
private func benchForward(_ model: Florence2, label: String) {
  let pixels = Bench.random([1, 3, 768, 768])
  let prompt: [[Int32]] = [[0, 47066, 21700, 11, 4617, 99, 16, 2343, 11, 5, 2274, 4, 2]]
  var features = Tensor(zeros: [1])
  Bench.measure("vision+projection", shape: "\(label) [1,3,768,768]") {
    features = try! model.imageFeatures(pixelValues: pixels)
  }
  var encoderOutput = Tensor(zeros: [1])
  Bench.measure("encoder", shape: "\(label) [1,590,768]") {
    encoderOutput = try! model.encode(imageFeatures: features, promptIds: prompt)
  }
  for beams in [1, 3] {
    var state = model.prepareDecoding(encoderOutput: encoderOutput, beamsPerImage: beams, capacity: 128)
    for _ in 0..<16 { _ = try! model.decoderStep(tokens: Array(repeating: 2, count: beams), state: &state) }
    let start = state
    Bench.measure("decoder step, \(beams) row(s)", shape: "\(label) past 16") {
      var s = start
      _ = try! model.decoderStep(tokens: Array(repeating: 5, count: beams), state: &s)
    }
  }
}
