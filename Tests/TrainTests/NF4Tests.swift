// NF4 quantization against bitsandbytes 0.50.2 (fixtures: make_nf4): packed codes byte for byte, absmax,
// dequantized values; the double-quantized absmax against the kernel reference and, with a tolerance,
// against bitsandbytes' CPU quantizer.

import Foundation
import XCTest

@testable import FlrCore
@testable import FlrTrain

final class NF4Tests: XCTestCase {
  let names = ["normal_96x64", "odd_7x13", "ties_and_extremes", "heavy_tail_300x70"]

  func testTableEqualsBitsandbytes() throws {
    XCTAssertEqual(QuantizationMaps.nf4, try OptimFixture("nf4.safetensors").floats("nf4_table"))
  }

  func testCodesAbsmaxAndDequantizationEqualBitsandbytes() throws {
    let f = try OptimFixture("nf4.safetensors")
    for name in names {
      let w = try f.floats("\(name).w")
      var packed = [UInt8](repeating: 0, count: (w.count + 1) / 2)
      let absmax = w.withUnsafeBufferPointer { NF4Tensor.quantizeCodes($0.baseAddress!, count: w.count, into: &packed) }
      XCTAssertEqual(packed, try f.bytes("\(name).packed"), "\(name): packed codes (exact)")
      XCTAssertEqual(absmax, try f.floats("\(name).absmax"), "\(name): absmax (exact)")
      let table = QuantizationMaps.nf4
      let dequant = (0..<w.count).map { j -> Float in
        let byte = packed[j / 2]
        return table[Int(j % 2 == 0 ? byte >> 4 : byte & 0xF)] * absmax[j / 64]
      }
      XCTAssertEqual(dequant, try f.floats("\(name).dequant"), "\(name): dequantized (exact)")
    }
  }

  func testDoubleQuantizedAbsmax() throws {
    let f = try OptimFixture("nf4.safetensors")
    for name in names + ["absmax_big"] {
      let absmax = try f.floats(name == "absmax_big" ? "absmax_big" : "\(name).absmax")
      let (codes, scales, offset) = NF4Tensor.doubleQuantize(absmax)
      // offset: torch sums in fp32 in its own order, we in Double: 1e-6 relative.
      XCTAssertEqual(offset, try f.floats("\(name).ref_offset")[0], accuracy: abs(offset) * 1e-6, name)
      XCTAssertLessThan(maxRelativeError(scales, try f.floats("\(name).ref_absmax2")), 1e-6, name)
      // Codes: the kernel reference exactly, except where the offset's last ulp moves a value across a
      // midpoint (none expected; counted).
      let ref = try f.bytes("\(name).ref_qabsmax")
      let differing = zip(codes, ref).filter { $0 != $1 }.count
      XCTAssertEqual(differing, 0, "\(name): \(differing) absmax codes differ from the kernel reference")
      // bitsandbytes' CPU quantizer uses a LUT (OPTIMIZERS.md §4.6): at most one code step away.
      let bnb = try f.bytes("\(name).bnb_qabsmax")
      let far = zip(codes, bnb).filter { abs(Int($0) - Int($1)) > 1 }.count
      XCTAssertEqual(far, 0, "\(name): codes more than one step from bitsandbytes CPU")
    }
  }

  func testQuantizedTensorDequantizesAsBitsandbytesNested() throws {
    let f = try OptimFixture("nf4.safetensors")
    for name in names {
      let w = try f.floats("\(name).w")
      let shape = try f.shape("\(name).w")
      let q = try w.withUnsafeBufferPointer { try NF4Tensor(quantizing: $0.baseAddress!, shape: shape) }
      var out = [Float](repeating: 0, count: w.count)
      // Block by block, in odd-sized pieces, to exercise the partial paths.
      var start = 0
      while start < w.count {
        let n = min(37, w.count - start)
        out.withUnsafeMutableBufferPointer { q.dequantize(from: start, count: n, into: $0.baseAddress! + start) }
        start += n
      }
      // Exact: on these tensors bitsandbytes' CPU absmax codes equal the kernel reference (the generator
      // records 0 differing codes for each), so the nested dequantization must match bit for bit.
      let expected = try f.floats("\(name).bnb_dequant_nested")
      XCTAssertEqual(out, expected, name)
      XCTAssertLessThan(q.residentBytes, w.count * 4 / 6)
    }
    XCTAssertThrowsError(
      try [Float.nan, 1].withUnsafeBufferPointer { try NF4Tensor(quantizing: $0.baseAddress!, shape: [2]) })
    XCTAssertThrowsError(
      try [Float]().withUnsafeBufferPointer { try NF4Tensor(quantizing: $0.baseAddress!, shape: [0]) })
  }
}

final class NF4SerializationTests: XCTestCase {
  /// The tensors and JSON bitsandbytes' QuantState.as_dict(packed=True) writes, byte for byte.
  func testSerializedLikeBitsandbytes() throws {
    let f = try OptimFixture("nf4.safetensors")
    for name in ["normal_96x64", "odd_7x13", "ties_and_extremes", "heavy_tail_300x70"] {
      let w = try f.floats("\(name).w")
      let q = try w.withUnsafeBufferPointer { try NF4Tensor(quantizing: $0.baseAddress!, shape: f.shape("\(name).w")) }
      let s = q.serialized(dtype: "bfloat16")
      XCTAssertEqual(s.weight, try f.bytes("\(name).packed"))
      XCTAssertEqual(s.absmax, try f.bytes("\(name).state.absmax"))
      XCTAssertEqual(s.quantMap, try f.floats("\(name).state.quant_map"))
      XCTAssertEqual(s.nestedAbsmax, try f.floats("\(name).state.nested_absmax"))
      XCTAssertEqual(s.nestedQuantMap, try f.floats("\(name).state.nested_quant_map"))
      let json = try f.bytes("\(name).state.quant_state.bitsandbytes__nf4")
      XCTAssertEqual(String(decoding: s.quantState, as: UTF8.self), String(decoding: json, as: UTF8.self))
      let back = try NF4Tensor(serialized: s, key: "\(name).weight")
      XCTAssertEqual(back.packed, q.packed)
      XCTAssertEqual(back.absmax(), q.absmax())
      var bad = s
      bad.quantState = Array("{\"quant_type\": \"fp4\"}".utf8)
      XCTAssertThrowsError(try NF4Tensor(serialized: bad, key: "x.weight")) {
        XCTAssertTrue("\($0)".contains("x.weight"))
      }
      bad = s
      bad.weight.removeLast()
      XCTAssertThrowsError(try NF4Tensor(serialized: bad, key: "x.weight"))
    }
  }

  func testPythonFloatRepr() throws {
    let cases = try XCTUnwrap(OptimFixture("nf4.safetensors").json("cases")["python_repr"] as? [[Any]])
    XCTAssertGreaterThan(cases.count, 10)
    for c in cases {
      let value = (c[0] as! NSNumber).doubleValue
      XCTAssertEqual(NF4Tensor.pythonRepr(value), c[1] as! String)
    }
  }
}
