// quantize=nf4 on the tiny model: every Linear (not lm_head) becomes NF4, the quantized model computes what the
// fp32 model computes with its Linear weights replaced by their dequantized values, greedy decoding is stable,
// and the NF4 layer's backward is the dequantized layer's.
import FlrCore
import XCTest

@testable import FlrModel

final class NF4ModelTests: XCTestCase {
  let folder = ModelFixtures.path("tiny-original-safetensors")

  /// The fp32 model with each Linear weight overwritten by the dequantized NF4 weight of the same path.
  func dequantizedTwin(of quantized: Florence2) throws -> Florence2 {
    let twin = try Florence2.load(folder: folder)
    let deq = Dictionary(uniqueKeysWithValues: quantized.nf4Layers().map { ($0.path, $0.layer.dequantizedWeight()) })
    var replaced = 0
    for entry in twin.namedModules() {
      guard case .linear(let slot) = entry.kind, let w = deq[entry.path] else { continue }
      let layer = slot.get()
      XCTAssertEqual(layer.weight.count, w.count, entry.path)
      layer.weight.data.update(from: w.data, count: w.count)
      replaced += 1
    }
    XCTAssertEqual(replaced, deq.count)
    return twin
  }

  func logits(_ model: Florence2, _ ref: ModelFixtures.Reference) throws -> Tensor {
    let features = try model.imageFeatures(pixelValues: ref.pixelValues())
    let encoded = try model.encode(imageFeatures: features, promptIds: ref.ids("input_ids"))
    return try model.decode(decoderInputIds: ref.ids("decoder_input_ids"), encoderOutput: encoded)
  }

  func testEveryLinearButLMHeadIsQuantized() throws {
    let model = try Florence2.load(folder: folder, quantize: .nf4)
    let linears = model.namedModules().filter {
      if case .linear = $0.kind { $0.path != Florence2.lmHeadPath } else { false }
    }
    let quantized = model.nf4Layers()
    XCTAssertGreaterThan(quantized.count, 0)
    XCTAssertEqual(quantized.map(\.path), linears.map(\.path))
    XCTAssertFalse(quantized.contains { $0.path.contains("lm_head") })
    // Convs are untouched (fp32 Conv2dLayer).
    for entry in model.namedModules() {
      if case .conv2d(let slot) = entry.kind { XCTAssertEqual(slot.get().weight.count > 0, true, entry.path) }
    }
    // Quantizing again is a no-op (already NF4), not an error.
    XCTAssertEqual(try model.quantizeLinearsNF4().layers, 0)
  }

  func testSummaryCountsBytes() throws {
    let model = try Florence2.load(folder: folder)
    let summary = try model.quantizeLinearsNF4()
    XCTAssertEqual(summary.layers, model.nf4Layers().count)
    // 4 bits per value + one byte of absmax code per 64 values + 4 bytes per 256 blocks (+ padding): the
    // ratio to fp32 is at most 4 / (0.5 + 1/64 + 4/16384 + small tensors' rounding) ≈ 7.7; at least 6 here.
    XCTAssertGreaterThan(Double(summary.fp32Bytes) / Double(summary.nf4Bytes), 6)
  }

  /// Same kernels on the same (dequantized) fp32 weights: the only difference allowed is none at all in
  /// principle; 1e-5 relative leaves room for a threaded GEMM that splits work differently between runs.
  func testLogitsEqualDequantizedWeightsModel() throws {
    let ref = try ModelFixtures.reference()
    let quantized = try Florence2.load(folder: folder, quantize: .nf4)
    let twin = try dequantizedTwin(of: quantized)
    let q = try logits(quantized, ref), d = try logits(twin, ref)
    XCTAssertEqual(q.shape, d.shape)
    XCTAssertLessThan(relativeError(q, d), 1e-5)
    // The tiny model's weights are smaller than one tile, so they are expanded whole; with 64-value tiles the
    // same run goes through the row tiles (and the value-by-value expansion for the 8-wide vision stage).
    (NF4Tensor.tileFloats, NF4Tensor.tileMinimum) = (64, 16)
    defer { (NF4Tensor.tileFloats, NF4Tensor.tileMinimum) = (1 << 18, 256) }
    XCTAssertLessThan(relativeError(try logits(quantized, ref), d), 1e-5)
    // And quantization did change something (the test would pass trivially if dequantization were identity
    // on the fp32 model's own weights).
    let fp32 = try logits(try Florence2.load(folder: folder), ref)
    XCTAssertGreaterThan(relativeError(q, fp32), 1e-4)
  }

  func greedy(_ model: Florence2, _ ref: ModelFixtures.Reference, steps: Int) throws -> [[Int32]] {
    let features = try model.imageFeatures(pixelValues: ref.pixelValues())
    let encoded = try model.encode(imageFeatures: features, promptIds: ref.ids("input_ids"))
    let v = model.languageModel.vocabSize
    var state = model.prepareDecoding(encoderOutput: encoded, beamsPerImage: 1, capacity: steps)
    var ids: [[Int32]] = [[], []]
    var tokens = [Int32](repeating: Int32(model.config.text.decoderStartTokenId), count: 2)
    for _ in 0..<steps {
      let logits = try model.decoderStep(tokens: tokens, state: &state)
      for b in 0..<2 {
        var best = 0
        for j in 1..<v where logits.data[b * v + j] > logits.data[b * v + best] { best = j }
        tokens[b] = Int32(best)
        ids[b].append(Int32(best))
      }
    }
    return ids
  }

  func testGreedyCaptionsStable() throws {
    let ref = try ModelFixtures.reference()
    let quantized = try Florence2.load(folder: folder, quantize: .nf4)
    let first = try greedy(quantized, ref, steps: 12)
    XCTAssertEqual(try greedy(quantized, ref, steps: 12), first)
    XCTAssertEqual(try greedy(try Florence2.load(folder: folder, quantize: .nf4), ref, steps: 12), first)
    XCTAssertEqual(try greedy(try dequantizedTwin(of: quantized), ref, steps: 12), first)
    // Decoder steps of 2 rows through the fused kernel (64-value tiles make every weight "large").
    (NF4Tensor.tileFloats, NF4Tensor.tileMinimum) = (64, 16)
    defer { (NF4Tensor.tileFloats, NF4Tensor.tileMinimum) = (1 << 18, 256) }
    XCTAssertEqual(try greedy(quantized, ref, steps: 12), first)
  }

  /// MatMul4Bit: dL/dx = dL/dy · W_deq, the same Linear kernel on the same weight, so equal (1e-6 relative for
  /// a GEMM whose thread split may differ).
  func testBackwardInputGradientEqualsDequantizedLayer() throws {
    var rng = SeededRNG(seed: 7)
    let (inF, outF, rows) = (200, 96, 5)  // 200·96 is not a multiple of 64·256: short blocks exercised
    let w = Tensor(zeros: [outF, inF]), b = Tensor(zeros: [outF])
    for i in 0..<w.count { w.data[i] = rng.normal() * 0.05 }
    for i in 0..<b.count { b.data[i] = rng.normal() }
    let plain = LinearLayer(weight: w, bias: b, in: inF, out: outF)
    let q = try NF4LinearLayer(quantizing: plain)
    let deq = LinearLayer(weight: q.dequantizedWeight(), bias: b, in: inF, out: outF)
    let x = Tensor(zeros: [rows, inF]), dout = Tensor(zeros: [rows, outF])
    for i in 0..<x.count { x.data[i] = rng.normal() }
    for i in 0..<dout.count { dout.data[i] = rng.normal() }
    XCTAssertLessThan(relativeError(q.forward(x), deq.forward(x)), 1e-6)
    XCTAssertLessThan(relativeError(q.backward(dout: dout, input: x), deq.backward(dout: dout, input: x)), 1e-6)
    // The fast expansion is the reference dequantization bit for bit.
    var slow = [Float](repeating: 0, count: w.count)
    slow.withUnsafeMutableBufferPointer { q.quantized.dequantize(from: 0, count: w.count, into: $0.baseAddress!) }
    XCTAssertEqual(q.dequantizedWeight().toArray(), slow)
    XCTAssertEqual(q.weight.count, 0)  // no fp32 copy kept
  }
}
