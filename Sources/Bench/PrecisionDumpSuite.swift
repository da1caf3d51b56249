// What scripts/precision_check.py compares: a model folder loaded at each precision, run on the script's
// inputs, and every output written to one safetensors file. Driven by the environment (the script sets it):
//   FLR_DUMP_MODEL  model folder          FLR_DUMP_INPUTS  safetensors: pixel_values [B,3,768,768],
//   FLR_DUMP_OUT    output safetensors                     prompt_ids [B,T], decoder_input_ids [B,75] (as float)
// Writes per precision P: features_P [B,577,d], logits_P [B,75,V] (teacher forced, one decoder forward),
// step_logits_P (the same through the decoding step and its caches), greedy_P and beam3_P
// [B, ≤76] (75 new tokens at most; ids as float, exact below 2^24).
import FlrCheckpoints
import FlrCore
import FlrGenerate
import FlrModel
import Foundation

let precisionDumpSuite = BenchSuite(
  name: "precision-dump", summary: "(for scripts/precision_check.py) features, logits, captions per precision"
) {
  let env = ProcessInfo.processInfo.environment
  guard let folder = env["FLR_DUMP_MODEL"], let inputs = env["FLR_DUMP_INPUTS"], let out = env["FLR_DUMP_OUT"] else {
    print("precision-dump: set FLR_DUMP_MODEL, FLR_DUMP_INPUTS and FLR_DUMP_OUT (scripts/precision_check.py does)")
    return
  }
  do { try dumpPrecisions(folder: folder, inputs: inputs, out: out) } catch { print("precision-dump: \(error)") }
}

func dumpPrecisions(folder: String, inputs: String, out: String) throws {
  let set = try CheckpointSet.open(file: inputs)
  let pixels = try set.float32("pixel_values")
  let ids = { (name: String) throws -> [[Int32]] in
    let t = try set.float32(name)
    let cols = t.shape[1]
    return (0..<t.shape[0]).map { r in (0..<cols).map { Int32(t.data[r * cols + $0]) } }
  }
  let prompts = try ids("prompt_ids"), decoderIds = try ids("decoder_input_ids")
  var entries: [SafetensorsEntry] = []
  for precision in WeightPrecision.allCases {
    let model = try Florence2.load(folder: folder, precision: precision)
    let start = Date()
    let features = try model.imageFeatures(pixelValues: pixels)
    let encoded = try model.encode(imageFeatures: features, promptIds: prompts)
    let logits = try model.decode(decoderInputIds: decoderIds, encoderOutput: encoded)
    entries.append(.float("features_\(precision.rawValue)", features))
    entries.append(.float("logits_\(precision.rawValue)", logits))
    entries.append(.float("step_logits_\(precision.rawValue)", try stepLogits(model, decoderIds, encoded)))
    let generator = Generator(model: model)
    for beams in [1, 3] {
      let settings = GenerationSettings.florence2.with(numBeams: beams, maxNewTokens: 75)
      let rows = try generator.generate(encoderOutput: encoded, settings: settings)
      let width = rows.first?.count ?? 0
      let tokens = Tensor(zeros: [rows.count, width])
      for (r, row) in rows.enumerated() { for (i, id) in row.enumerated() { tokens.data[r * width + i] = Float(id) } }
      entries.append(.float("\(beams == 1 ? "greedy" : "beam3")_\(precision.rawValue)", tokens))
    }
    print("precision-dump: \(precision.rawValue) done in \(Bench.fixed(Date().timeIntervalSince(start), 1)) s")
  }
  try SafetensorsWriter.write(entries: entries, to: out)
}

/// Teacher-forced logits [B, T, V] through the decoding step (the key/value caches captioning reads), one
/// position at a time.
func stepLogits(_ model: Florence2, _ decoderIds: [[Int32]], _ encoded: Tensor) throws -> Tensor {
  let b = decoderIds.count, t = decoderIds.first?.count ?? 0, v = model.config.text.vocabSize
  var state = model.prepareDecoding(encoderOutput: encoded, capacity: t)
  let out = Tensor(zeros: [b, t, v])
  for i in 0..<t {
    let logits = try model.decoderStep(tokens: decoderIds.map { $0[i] }, state: &state)
    for r in 0..<b { (out.data + (r * t + i) * v).update(from: logits.data + r * v, count: v) }
  }
  return out
}
