// FlrCore against PyTorch itself: forward and backward results dumped by scripts/fixtures/core.py
// (Tests/Fixtures/core/core.json). Tolerance: 1e-5 relative with an absolute floor of 1e-5 × the
// tensor's largest magnitude (torch sums in a different order; both are float32).
import Foundation
import XCTest

@testable import FlrCore

final class TorchFixtureTests: XCTestCase {
  struct Case {
    let fields: [String: Any]
    func tensor(_ key: String) throws -> Tensor {
      guard let entry = fields[key] as? [String: Any], let shape = entry["shape"] as? [Int],
        let data = entry["data"] as? [Double]
      else { throw FixtureError(message: "core.json: field '\(key)' missing or malformed") }
      return Tensor(shape: shape, values: data.map { Float($0) })
    }
    func ints(_ key: String) throws -> [Int] {
      guard let v = fields[key] as? [Int] else { throw FixtureError(message: "core.json: '\(key)' missing") }
      return v
    }
  }
  struct FixtureError: Error { let message: String }

  static let cases: [String: [String: Any]] = {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/core/core.json")
    guard let data = try? Data(contentsOf: url),
      let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
      let cases = root["cases"] as? [String: [String: Any]]
    else { return [:] }
    return cases
  }()

  func fixture(_ name: String) throws -> Case {
    guard let fields = Self.cases[name] else {
      throw FixtureError(message: "Tests/Fixtures/core/core.json has no case '\(name)' (run scripts/fixtures/core.py)")
    }
    return Case(fields: fields)
  }

  func assertMatches(_ got: Tensor, _ want: Tensor, _ what: String, file: StaticString = #filePath, line: UInt = #line)
  {
    XCTAssertEqual(got.shape.reduce(1, *), want.count, "\(what): size", file: file, line: line)
    assertForward(got, want.doubles, what, file: file, line: line)
  }

  func testGelu() throws {
    let c = try fixture("gelu")
    let x = try c.tensor("x"), dout = try c.tensor("dout")
    let y = Tensor(zeros: x.shape), dx = Tensor(zeros: x.shape)
    Gelu.forward(out: y.data, inp: x.data, count: x.count)
    Gelu.backward(dinp: dx.data, dout: dout.data, inp: x.data, count: x.count)
    assertMatches(y, try c.tensor("y"), "gelu")
    assertMatches(dx, try c.tensor("dx"), "gelu dx")
  }

  func testLinear() throws {
    let c = try fixture("linear")
    let x = try c.tensor("x"), w = try c.tensor("w"), b = try c.tensor("b"), dout = try c.tensor("dout")
    let (rows, inF, outF) = (x.dim(0), x.dim(1), w.dim(0))
    let y = Tensor(zeros: [rows, outF]), dx = Tensor(zeros: x.shape), dw = Tensor(zeros: w.shape),
      db = Tensor(zeros: b.shape)
    Linear.forward(
      out: y.data, inp: x.data, weight: w.data, bias: b.data, rows: rows, inFeatures: inF, outFeatures: outF)
    Linear.backward(
      dinp: dx.data, dweight: dw.data, dbias: db.data, dout: dout.data, inp: x.data, weight: w.data,
      rows: rows, inFeatures: inF, outFeatures: outF)
    assertMatches(y, try c.tensor("y"), "linear")
    assertMatches(dx, try c.tensor("dx"), "linear dx")
    assertMatches(dw, try c.tensor("dw"), "linear dw")
    assertMatches(db, try c.tensor("db"), "linear db")
  }

  func testLayerNorm() throws {
    let c = try fixture("layernorm")
    let x = try c.tensor("x"), w = try c.tensor("w"), b = try c.tensor("b"), dout = try c.tensor("dout")
    let (rows, dim) = (x.dim(0), x.dim(1))
    let y = Tensor(zeros: x.shape), mean = Tensor(zeros: [rows]), rstd = Tensor(zeros: [rows])
    let dx = Tensor(zeros: x.shape), dw = Tensor(zeros: [dim]), db = Tensor(zeros: [dim])
    LayerNorm.forward(
      out: y.data, mean: mean.data, rstd: rstd.data, inp: x.data, weight: w.data, bias: b.data,
      rows: rows, dim: dim, eps: 1e-5)
    LayerNorm.backward(
      dinp: dx.data, dweight: dw.data, dbias: db.data, dout: dout.data, inp: x.data, mean: mean.data,
      rstd: rstd.data, weight: w.data, rows: rows, dim: dim)
    assertMatches(y, try c.tensor("y"), "layernorm")
    assertMatches(dx, try c.tensor("dx"), "layernorm dx")
    assertMatches(dw, try c.tensor("dw"), "layernorm dw")
    assertMatches(db, try c.tensor("db"), "layernorm db")
  }

  func testSoftmax() throws {
    let c = try fixture("softmax")
    let x = try c.tensor("x"), dout = try c.tensor("dout")
    let y = Tensor(zeros: x.shape), dx = Tensor(zeros: x.shape)
    Softmax.forward(out: y.data, inp: x.data, rows: x.dim(0), dim: x.dim(1))
    Softmax.backward(dinp: dx.data, dout: dout.data, probs: y.data, rows: x.dim(0), dim: x.dim(1))
    assertMatches(y, try c.tensor("y"), "softmax")
    assertMatches(dx, try c.tensor("dx"), "softmax dx")
  }

  func testConvolutions() throws {
    for name in ["conv7", "conv3"] {
      let c = try fixture(name)
      let cfg = try c.ints("config")  // [n, h, w, cin, cout, k, s, p]
      let x = try c.tensor("x"), w = try c.tensor("w"), b = try c.tensor("b"), dout = try c.tensor("dout")
      let want = try c.tensor("y")
      let y = Tensor(zeros: want.shape), dx = Tensor(zeros: x.shape), dw = Tensor(zeros: w.shape),
        db = Tensor(zeros: b.shape)
      Conv2d.forward(
        out: y.data, inp: x.data, weight: w.data, bias: b.data, batch: cfg[0], height: cfg[1], width: cfg[2],
        inChannels: cfg[3], outChannels: cfg[4], kernel: cfg[5], stride: cfg[6], padding: cfg[7])
      Conv2d.backward(
        dinp: dx.data, dweight: dw.data, dbias: db.data, dout: dout.data, inp: x.data, weight: w.data,
        batch: cfg[0], height: cfg[1], width: cfg[2], inChannels: cfg[3], outChannels: cfg[4], kernel: cfg[5],
        stride: cfg[6], padding: cfg[7])
      assertMatches(y, want, name)
      assertMatches(dx, try c.tensor("dx"), "\(name) dx")
      assertMatches(dw, try c.tensor("dw"), "\(name) dw")
      assertMatches(db, try c.tensor("db"), "\(name) db")
    }
  }

  func testDepthwise() throws {
    let c = try fixture("depthwise")
    let cfg = try c.ints("config")  // [n, h, w, c]
    let x = try c.tensor("x"), w = try c.tensor("w"), b = try c.tensor("b"), dout = try c.tensor("dout")
    let y = Tensor(zeros: x.shape), dx = Tensor(zeros: x.shape), dw = Tensor(zeros: w.shape),
      db = Tensor(zeros: b.shape)
    DepthwiseConv2d.forward(
      out: y.data, inp: x.data, weight: w.data, bias: b.data, batch: cfg[0], height: cfg[1],
      width: cfg[2], channels: cfg[3])
    DepthwiseConv2d.backward(
      dinp: dx.data, dweight: dw.data, dbias: db.data, dout: dout.data, inp: x.data,
      weight: w.data, batch: cfg[0], height: cfg[1], width: cfg[2], channels: cfg[3])
    assertMatches(y, try c.tensor("y"), "depthwise")
    assertMatches(dx, try c.tensor("dx"), "depthwise dx")
    assertMatches(dw, try c.tensor("dw"), "depthwise dw")
    assertMatches(db, try c.tensor("db"), "depthwise db")
  }

  func testMaskedCausalAttention() throws {
    let c = try fixture("attention")
    let cfg = try c.ints("config")  // [B, T, H, hd]
    let (B, T, H, hd) = (cfg[0], cfg[1], cfg[2], cfg[3])
    let C = H * hd
    let q = try c.tensor("q"), k = try c.tensor("k"), v = try c.tensor("v"), mask = try c.tensor("mask")
    let dout = try c.tensor("dout")
    let out = Tensor(zeros: [B, T, C]), probs = Tensor(zeros: [B, H, T, T])
    let dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
    let scale = 1 / Float(hd).squareRoot()
    Attention.forward(
      out: out.data, outStride: C, probs: probs.data, q: q.data, qStride: C, k: k.data, kStride: C,
      v: v.data, vStride: C, batch: B, heads: H, queryLength: T, keyLength: T, headDim: hd, scale: scale,
      causal: true, mask: mask.data, maskBatchStride: T * T)
    Attention.backward(
      dq: dq.data, dk: dk.data, dv: dv.data, dout: dout.data, outStride: C, probs: probs.data,
      q: q.data, qStride: C, k: k.data, kStride: C, v: v.data, vStride: C, batch: B, heads: H, queryLength: T,
      keyLength: T, headDim: hd, scale: scale)
    assertMatches(out, try c.tensor("out"), "attention")
    assertMatches(probs, try c.tensor("probs"), "attention probs")
    assertMatches(dq, try c.tensor("dq"), "attention dq")
    assertMatches(dk, try c.tensor("dk"), "attention dk")
    assertMatches(dv, try c.tensor("dv"), "attention dv")
  }

  func testCrossEntropy() throws {
    let c = try fixture("cross_entropy")
    let logits = try c.tensor("logits")
    let targets = try c.ints("targets").map { Int32($0) }
    guard let wantLoss = c.fields["loss"] as? Double else { throw FixtureError(message: "core.json: loss missing") }
    let dlogits = Tensor(zeros: logits.shape)
    let loss = targets.withUnsafeBufferPointer {
      CrossEntropy.forwardBackward(
        logits: logits.data, targets: $0.baseAddress!, rows: logits.dim(0),
        vocab: logits.dim(1), dlogits: dlogits.data)
    }
    XCTAssertEqual(Double(loss), wantLoss, accuracy: 1e-5 * abs(wantLoss), "loss")
    assertMatches(dlogits, try c.tensor("dlogits"), "dlogits")
  }
}
