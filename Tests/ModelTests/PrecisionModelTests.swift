// precision=bf16 / int8 on the tiny model: which layers are converted, how far the logits move from fp32
// (the tiny model's random weights and activations are not a realistic error measure: scripts/
// precision_check.py measures base size; these bounds catch a broken conversion or kernel, which gives
// errors of order 1), on every kernel path this CPU runs, and that a frozen reduced base passes gradients.
import FlrCore
import XCTest

@testable import FlrModel

final class PrecisionModelTests: XCTestCase {
  let folder = ModelFixtures.path("tiny-original-safetensors")

  override func tearDown() { KernelPath.active = .supported }

  func logits(_ model: Florence2, _ ref: ModelFixtures.Reference) throws -> Tensor {
    let features = try model.imageFeatures(pixelValues: ref.pixelValues())
    let encoded = try model.encode(imageFeatures: features, promptIds: ref.ids("input_ids"))
    return try model.decode(decoderInputIds: ref.ids("decoder_input_ids"), encoderOutput: encoded)
  }

  func linears(_ model: Florence2) -> [(path: String, layer: LinearLayer)] {
    model.namedModules().compactMap { entry in
      guard case .linear(let slot) = entry.kind else { return nil }
      return (entry.path, slot.get())
    }
  }

  func convs(_ model: Florence2) -> [(path: String, layer: Conv2dLayer)] {
    model.namedModules().compactMap { entry in
      guard case .conv2d(let slot) = entry.kind else { return nil }
      return (entry.path, slot.get())
    }
  }

  func testBF16ConvertsEveryLinearAndConv() throws {
    let model = try Florence2.load(folder: folder, precision: .bf16)
    XCTAssertEqual(model.weightPrecision, .bf16)
    for (path, layer) in linears(model) { XCTAssertTrue(layer is BF16LinearLayer, path) }
    let fp32 = convs(try Florence2.load(folder: folder))
    let converted = convs(model)
    XCTAssertEqual(converted.count, 4)
    for ((path, layer), (_, original)) in zip(converted, fp32) {
      guard let conv = layer as? BF16Conv2dLayer else { return XCTFail("\(path) holds \(type(of: layer))") }
      XCTAssertEqual(conv.weight.count, 0, path)  // no fp32 copy kept
      var rounded = [Float](repeating: 0, count: original.weight.count)
      BF16Weight.round(original.weight.data, into: &rounded, count: rounded.count)
      let decoded = conv.decodedWeight
      XCTAssertEqual(decoded.shape, original.weight.shape, path)
      XCTAssertEqual((0..<decoded.count).map { decoded.data[$0] }, rounded, path)
    }
  }

  /// A bf16 conv is the fp32 conv of the bf16-rounded input and weight (fp32 sums of exact products, in another
  /// order: within 1e-5 relative), forward and input gradient (the output gradient rounded too), on every kernel
  /// path; a batch of two gives each image the bits it gets alone.
  func testBF16ConvIsTheConvOfRoundedInputsAndWeights() throws {
    let fp32 = convs(try Florence2.load(folder: folder))
    func rounded(_ t: Tensor) -> Tensor {
      let r = Tensor(uninitialized: t.shape)
      BF16Weight.round(t.data, into: r.data, count: t.count)
      return r
    }
    for (path, base) in fp32 {
      let conv = BF16Conv2dLayer(converting: base)
      let (h, w) = (13, 11)
      let x = Tensor(
        shape: [2, h, w, base.inChannels],
        values: (0..<(2 * h * w * base.inChannels)).map {
          Float(($0 * 7919) % 2001 - 1000) / 1000
        })
      let roundedBase = Conv2dLayer(
        weight: rounded(base.weight), bias: base.bias, in: base.inChannels, out: base.outChannels,
        kernel: base.kernel, stride: base.stride, padding: base.padding)
      let want = roundedBase.forward(rounded(x))
      let dout = Tensor(shape: want.shape, values: (0..<want.count).map { Float(($0 * 104_729) % 2001 - 1000) / 1000 })
      let wantGradient = roundedBase.backward(dout: rounded(dout), input: x)
      for kernels in KernelPath.runnable {
        KernelPath.active = kernels
        let got = conv.forward(x)
        XCTAssertLessThan(relativeError(got, want), 1e-5, "\(path) on \(kernels)")
        XCTAssertLessThan(relativeError(conv.backward(dout: dout, input: x), wantGradient), 1e-5, "\(path)")
        let perImage = want.count / 2, perInput = x.count / 2
        let second = conv.forward(
          Tensor(
            shape: [1, h, w, base.inChannels],
            values: Array(UnsafeBufferPointer(start: x.data + perInput, count: perInput))))
        XCTAssertEqual(
          (0..<perImage).map { got.data[perImage + $0].bitPattern }, (0..<perImage).map { second.data[$0].bitPattern },
          "\(path) on \(kernels): the second image alone")
      }
    }
  }

  /// int8: the text side as int8; the vision Linears as bf16 on the kernel path with bf16 dot products, as int8
  /// on the others (converted under the path active at load).
  func testInt8HoldsTheTextSideAsInt8AndTheVisionSideByThePath() throws {
    for path in KernelPath.runnable {
      KernelPath.active = path
      let model = try Florence2.load(folder: folder, precision: .int8)
      XCTAssertEqual(model.weightPrecision, .int8)
      for (name, layer) in linears(model) {
        if name.hasPrefix("language_model.") || !KernelPath.hasNativeBF16 {
          XCTAssertTrue(layer is Int8LinearLayer, "\(name) on \(path)")
        } else {
          XCTAssertTrue(layer is BF16LinearLayer, "\(name) on \(path)")
        }
      }
      XCTAssertTrue(model.languageModel.lmHead is Int8LinearLayer)
      for (name, conv) in convs(model) { XCTAssertTrue(conv is BF16Conv2dLayer, "\(name) on \(path)") }
    }
  }

  /// Relative logits error against fp32 (max |diff| / max |fp32|) on every kernel path: bf16 ≤ 2%, int8 ≤ 5%,
  /// and not zero (the conversion changed something). Measured here: about 0.2-0.4% (bf16) and 1% (int8).
  func testLogitsStayCloseToFP32OnEveryPath() throws {
    let ref = try ModelFixtures.reference()
    let fp32 = try logits(try Florence2.load(folder: folder), ref)
    for (precision, bound) in [(WeightPrecision.bf16, Float(0.02)), (.int8, 0.05)] {
      for path in KernelPath.runnable {
        KernelPath.active = path
        let model = try Florence2.load(folder: folder, precision: precision)  // int8's vision side by the path
        let e = relativeError(try logits(model, ref), fp32)
        XCTAssertLessThan(e, bound, "\(precision) on \(path)")
        XCTAssertGreaterThan(e, 1e-6, "\(precision) on \(path)")
      }
    }
  }

  /// A bf16 or int8 model's decoding cache holds the cross-attention keys/values as bf16 (fp32 keeps fp32); its
  /// steps stay within 1e-2 relative of the teacher-forced decoder (which reads them unrounded; bf16 rounds each
  /// key and value by at most 2⁻⁹ relative; measured here 5e-4 at bf16, beside bf16's own logits error of 7e-4),
  /// and differ from it (the cache was rounded).
  func testReducedModelsDecodeAgainstABF16CrossCache() throws {
    let ref = try ModelFixtures.reference()
    let encoderOutput = try ref.float("encoder_output")  // [2, S, d]
    let ids = try ref.ids("decoder_input_ids")  // [2][T]
    XCTAssertFalse(try Florence2.load(folder: folder).prepareDecoding(encoderOutput: encoderOutput).crossCacheIsBF16)
    for precision in [WeightPrecision.bf16, .int8] {
      let model = try Florence2.load(folder: folder, precision: precision)
      let full = try model.decode(decoderInputIds: ids, encoderOutput: encoderOutput)  // [2, T, V]
      var state = model.prepareDecoding(encoderOutput: encoderOutput)
      XCTAssertTrue(state.crossCacheIsBF16, "\(precision)")
      let t = ids[0].count, v = model.languageModel.vocabSize
      var worst: Float = 0
      for i in 0..<t {
        let logits = try model.decoderStep(tokens: [ids[0][i], ids[1][i]], state: &state)
        for b in 0..<2 {
          let got = Array(UnsafeBufferPointer(start: logits.data + b * v, count: v))
          let want = Array(UnsafeBufferPointer(start: full.data + (b * t + i) * v, count: v))
          worst = max(worst, relativeError(Tensor(shape: [v], values: got), Tensor(shape: [v], values: want)))
        }
      }
      XCTAssertLessThan(worst, 1e-2, "\(precision)")
      XCTAssertGreaterThan(worst, 0, "\(precision): the cache was not rounded")
    }
  }

  func testPrecisionAndNF4AreRefusedTogether() {
    XCTAssertThrowsError(try Florence2.load(folder: folder, quantize: .nf4, precision: .bf16)) { error in
      XCTAssertTrue("\(error)".contains("does not combine with NF4"), "\(error)")
    }
  }

  func testConvertingAModelWithAnAdapterIsRefused() throws {
    let model = try Florence2.load(folder: folder)
    try model.quantizeLinearsNF4()
    XCTAssertThrowsError(try model.convertWeights(to: .bf16)) { error in
      XCTAssertTrue("\(error)".contains("NF4LinearLayer"), "\(error)")
    }
  }

  func testTorchNamesAreAccepted() {
    XCTAssertEqual(WeightPrecision(name: "bfloat16"), .bf16)
    XCTAssertEqual(WeightPrecision(name: "float32"), .fp32)
    XCTAssertEqual(WeightPrecision(name: "int8"), .int8)
    XCTAssertNil(WeightPrecision(name: "fp16"))
  }
}
