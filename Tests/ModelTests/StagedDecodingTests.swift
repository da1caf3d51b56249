// A decoding step as one parallel region (LanguageModel.stagedStep) against the same step op by op: the same
// logits bit for bit, for fp32, bf16 and int8 weights, on every kernel path, greedy and beams with a reorder;
// and that the step really runs as stages (its profile has hand-offs between stages and no per-op region).
import FlrCore
import XCTest

@testable import FlrModel

final class StagedDecodingTests: XCTestCase {
  let folder = ModelFixtures.path("tiny-native-safetensors")
  private var saved = (threads: Threads.count, split: Gemm.splitThreshold)

  override func setUp() { saved = (Threads.count, Gemm.splitThreshold) }

  override func tearDown() {
    KernelPath.active = .supported
    LanguageModel.decodesInOneRegion = true
    Threads.count = saved.threads
    Gemm.splitThreshold = saved.split
  }

  /// Logits of four steps over 2 images x 2 beams, the beams reordered after the second.
  func steps(_ model: Florence2, _ encoderOutput: Tensor) throws -> [[Float]] {
    var state = model.prepareDecoding(encoderOutput: encoderOutput, beamsPerImage: 2, capacity: 2)  // grows
    var out: [[Float]] = []
    for (i, tokens) in [[2, 2, 2, 2], [0, 5, 0, 9], [7, 8, 11, 12], [3, 4, 5, 6]].enumerated() {
      out.append(try model.decoderStep(tokens: tokens.map(Int32.init), state: &state).toArray())
      if i == 1 { try state.reorder([1, 1, 3, 2]) }
    }
    // Greedy: one row per image, then one image left.
    var greedy = model.prepareDecoding(encoderOutput: encoderOutput)
    out.append(try model.decoderStep(tokens: [2, 2], state: &greedy).toArray())
    try greedy.reorder([1])
    out.append(try model.decoderStep(tokens: [7], state: &greedy).toArray())
    return out
  }

  func testOneRegionGivesTheSameLogitsAsOpByOp() throws {
    let encoderOutput = try ModelFixtures.reference().float("encoder_output")
    Gemm.splitThreshold = 0  // the tiny model's fp32 products are cut into column blocks as base size's are
    for precision in WeightPrecision.allCases {
      let model = try Florence2.load(folder: folder, precision: precision)
      for path in KernelPath.runnable {
        KernelPath.active = path
        for threads in [1, 2, 3] {
          Threads.count = threads
          LanguageModel.decodesInOneRegion = false
          let opByOp = try steps(model, encoderOutput)
          LanguageModel.decodesInOneRegion = true
          let staged = try steps(model, encoderOutput)
          XCTAssertEqual(staged, opByOp, "\(precision) \(path) \(threads) threads")
        }
      }
    }
  }

  /// decoderStep's eachRow sees every row once, with the logits the step returns, in the region (profiled as the
  /// search row, no region of its own) or after the op-by-op step, and changes nothing of the step.
  func testEachRowSeesEveryRowOfItsStep() throws {
    let encoderOutput = try ModelFixtures.reference().float("encoder_output")
    Threads.count = 2
    for precision in WeightPrecision.allCases {
      let model = try Florence2.load(folder: folder, precision: precision)
      let v = model.languageModel.vocabSize
      for oneRegion in [true, false] {
        LanguageModel.decodesInOneRegion = oneRegion
        var plain = model.prepareDecoding(encoderOutput: encoderOutput, beamsPerImage: 3)
        var seen = model.prepareDecoding(encoderOutput: encoderOutput, beamsPerImage: 3)
        let rows = Tensor(zeros: [6, v]), calls = Tensor(zeros: [6])
        for tokens: [Int32] in [[2, 2, 2, 2, 2, 2], [0, 5, 0, 9, 3, 4]] {
          let want = try model.decoderStep(tokens: tokens, state: &plain).toArray()
          Profile.start()
          let got = try model.decoderStep(tokens: tokens, state: &seen) { r, row in
            (rows.data + r * v).update(from: row, count: v)
            calls.data[r] += 1
          }
          let kinds = Set(Profile.stop().rows.map(\.kind))
          let label = "\(precision) one region \(oneRegion)"
          XCTAssertEqual(got.toArray(), want, label)
          XCTAssertEqual(rows.toArray(), want, label)
          XCTAssertTrue(kinds.contains(.search), label)
          if oneRegion { XCTAssertFalse(kinds.contains(.parallelLoop), label) }
        }
        XCTAssertEqual(calls.toArray(), Array(repeating: 2, count: 6), "\(precision) one region \(oneRegion)")
      }
    }
  }

  /// Profiled, a step is stages: rows for its products, attention and LayerNorms, the hand-offs between them,
  /// and no "other parallel loops" (a fork/join region per op). An adapter falls back to the op-by-op step.
  func testAStepIsOneRegionOfStages() throws {
    let encoderOutput = try ModelFixtures.reference().float("encoder_output")
    Threads.count = 2
    for precision in WeightPrecision.allCases {
      let model = try Florence2.load(folder: folder, precision: precision)
      var state = model.prepareDecoding(encoderOutput: encoderOutput, beamsPerImage: 3)
      Profile.start()
      _ = try model.decoderStep(tokens: Array(repeating: 2, count: 6), state: &state)
      let report = Profile.stop()
      let kinds = Set(report.rows.map(\.kind))
      XCTAssertTrue(kinds.contains(.stageHandOff), "\(precision)")
      XCTAssertTrue(kinds.contains(.attention), "\(precision)")
      XCTAssertTrue(kinds.contains(.layerNorm), "\(precision)")
      XCTAssertFalse(kinds.contains(.parallelLoop), "\(precision)")
      let product: OpKind = precision == .fp32 ? .gemm : precision == .bf16 ? .bf16Product : .int8Product
      let layers = model.languageModel.decoder.layers.count
      // Per layer: q/k/v (one stage), self out, cross q, cross out, fc1, fc2; then the head.
      XCTAssertEqual(report.rows.first { $0.kind == product }?.figures.calls, 6 * layers + 1, "\(precision)")
    }
    let model = try Florence2.load(folder: folder)
    let head = model.languageModel.lmHead
    model.languageModel.lmHead = NotSplitLinear(
      weight: head.weight, bias: nil, in: head.inFeatures, out: head.outFeatures)
    var state = model.prepareDecoding(encoderOutput: encoderOutput)
    XCTAssertNil(try model.languageModel.stagedStep([2, 2], state: &state))
    XCTAssertEqual(state.length, 0)
  }
}

/// A Linear of another kind than the plain and reduced ones (as an adapter is).
private final class NotSplitLinear: LinearLayer {}
