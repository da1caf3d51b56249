// Florence-2 forward on random weights built in Swift at the base (and large) shapes: one 768x768 image,
// the <DETAILED_CAPTION> prompt (13 tokens), as scripts/bench_reference.py times PyTorch.
import FlrCore
import FlrGenerate
import FlrModel
import Foundation

let modelSuite = BenchSuite(name: "model", summary: "Florence-2 base: vision+projection, encoder, decoder step, RSS") {
  benchModel(size: "base", config: FlorenceConfig())
}

let modelLargeSuite = BenchSuite(name: "model-large", summary: "Florence-2 large: same figures (about 4 GB)") {
  benchModel(size: "large", config: .large, captionBeams: 3)
}

extension FlorenceConfig {
  /// Florence-2-large's shapes (../shared/florence2/large/config.json), as scripts/bench_reference.py builds them.
  static var large: FlorenceConfig {
    var vision = VisionConfig()
    vision.dimEmbed = [256, 512, 1024, 2048]
    vision.numHeads = [8, 16, 32, 64]
    vision.numGroups = [8, 16, 32, 64]
    vision.projectionDim = 1024
    var text = TextConfig()
    text.dModel = 1024
    text.encoderLayers = 12
    text.decoderLayers = 12
    text.encoderAttentionHeads = 16
    text.decoderAttentionHeads = 16
    text.encoderFfnDim = 4096
    text.decoderFfnDim = 4096
    text.maxPositionEmbeddings = 4096
    return FlorenceConfig(vision: vision, text: text)
  }
}

/// VmRSS / VmHWM of this process in bytes.
func residentBytes(_ field: String) -> Double {
  guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
  for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
    let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
    return kb * 1024
  }
  return 0
}

/// `captionBeams`: also a caption of 75 new tokens end to end from pixels with that many beams (min_new_tokens 75, as
/// scripts/bench_reference.py has transformers' generate make them).
func benchModel(size: String, config: FlorenceConfig, captionBeams: Int? = nil) {
  let model: Florence2
  do { model = try Florence2.random(config: config) } catch {
    print("model: \(error)")
    return
  }
  print(
    String(format: "%@: resident after building the weights %.2f GiB", size, residentBytes("VmRSS") / 1_073_741_824))
  benchForward(model, label: size)
  if let beams = captionBeams {
    let generator = Generator(model: model)
    var settings = GenerationSettings.florence2.with(numBeams: beams, maxNewTokens: 75)
    settings.minNewTokens = 75
    let pixels = Bench.random([1, 3, 768, 768])
    let prompt: [[Int32]] = [[0, 47066, 21700, 11, 4617, 99, 16, 2343, 11, 5, 2274, 4, 2]]
    Bench.measure("caption beam-\(beams) 75, end to end", shape: "\(size) [1,3,768,768]") {
      _ = try? generator.generate(pixelValues: pixels, promptIds: prompt, settings: settings)
    }
  }
  print(
    String(
      format: "%@: resident after the runs %.2f GiB, peak RSS %.2f GiB", size, residentBytes("VmRSS") / 1_073_741_824,
      residentBytes("VmHWM") / 1_073_741_824))
}

/// One 768² image, the 13-token <DETAILED_CAPTION> prompt, decoder steps at position 16 (past of 16 tokens)
/// with 1 row (greedy) and 3 rows (beam 3).
func benchForward(_ model: Florence2, label: String) {
  let pixels = Bench.random([1, 3, 768, 768])
  let prompt: [[Int32]] = [[0, 47066, 21700, 11, 4617, 99, 16, 2343, 11, 5, 2274, 4, 2]]
  var features = Tensor(zeros: [1])
  Bench.measure("vision+projection", shape: "\(label) [1,3,768,768]") {
    features = try! model.imageFeatures(pixelValues: pixels)
  }
  var encoderOutput = Tensor(zeros: [1])
  Bench.measure("encoder", shape: "\(label) [1,590,\(model.config.text.dModel)]") {
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
