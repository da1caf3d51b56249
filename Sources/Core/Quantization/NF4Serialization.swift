// NF4 weights in the layout transformers/bitsandbytes write to a checkpoint for a `Linear4bit` (QuantState
// `as_dict(packed=True)`): `<name>` uint8 [(n+1)/2, 1], `<name>.absmax` uint8 codes, `<name>.quant_map` fp32 [16],
// `<name>.nested_absmax` fp32, `<name>.nested_quant_map` fp32 [256] and `<name>.quant_state.bitsandbytes__nf4`,
// the JSON of the non-tensor fields as uint8 bytes (Python json.dumps order and separators).

import Foundation

public struct NF4Serialized: Sendable, Equatable {
  public var weight: [UInt8]
  public var weightShape: [Int]
  public var absmax: [UInt8]
  public var quantMap: [Float]
  public var nestedAbsmax: [Float]
  public var nestedQuantMap: [Float]
  public var quantState: [UInt8]

  /// Tensor name suffixes (appended to the weight's key) of the fields above, in as_dict order.
  public static let suffixes = [
    "absmax", "quant_map", "nested_absmax", "nested_quant_map", "quant_state.bitsandbytes__nf4",
  ]
}

extension NF4Tensor {
  /// `dtype` is the dtype the weight had before quantization, as torch names it ("bfloat16", "float16", "float32").
  public func serialized(dtype: String = "bfloat16") -> NF4Serialized {
    let shapeJSON = "[" + shape.map(String.init).joined(separator: ", ") + "]"
    let json =
      "{\"quant_type\": \"nf4\", \"blocksize\": \(Self.blockSize), \"dtype\": \"\(dtype)\", \"shape\": \(shapeJSON), "
      + "\"nested_blocksize\": \(Self.absmaxBlockSize), \"nested_dtype\": \"float32\", "
      + "\"nested_offset\": \(Self.pythonRepr(Double(absmaxOffset)))}"
    return NF4Serialized(
      weight: packed, weightShape: [packed.count, 1], absmax: absmaxCodes, quantMap: QuantizationMaps.nf4,
      nestedAbsmax: absmaxScales, nestedQuantMap: QuantizationMaps.signed, quantState: Array(json.utf8))
  }

  /// Reads a bitsandbytes-serialized NF4 weight back. Throws, naming `key`, when the fields do not describe
  /// nested NF4 with blocks of 64/256 and bitsandbytes' own maps, or the sizes disagree.
  public init(serialized s: NF4Serialized, key: String) throws {
    func bad(_ why: String) -> QuantizationError { QuantizationError("\(key): \(why)") }
    guard let obj = try? JSONSerialization.jsonObject(with: Data(s.quantState)) as? [String: Any] else {
      throw bad("quant_state.bitsandbytes__nf4 is not a JSON object")
    }
    guard obj["quant_type"] as? String == "nf4" else { throw bad("quant_type is not nf4") }
    guard obj["blocksize"] as? Int == Self.blockSize, obj["nested_blocksize"] as? Int == Self.absmaxBlockSize else {
      throw bad("only blocksize 64 with nested blocksize 256 is supported")
    }
    guard let shape = obj["shape"] as? [Int], let offset = (obj["nested_offset"] as? NSNumber)?.doubleValue else {
      throw bad("quant_state lacks shape or nested_offset (not double-quantized?)")
    }
    let n = shape.reduce(1, *)
    let blocks = (n + Self.blockSize - 1) / Self.blockSize
    guard n > 0, s.weight.count == (n + 1) / 2 else {
      throw bad("weight has \(s.weight.count) bytes for shape \(shape)")
    }
    guard s.absmax.count == blocks, s.nestedAbsmax.count == (blocks + Self.absmaxBlockSize - 1) / Self.absmaxBlockSize
    else { throw bad("absmax sizes do not match \(blocks) blocks") }
    guard s.quantMap == QuantizationMaps.nf4, s.nestedQuantMap == QuantizationMaps.signed else {
      throw bad("quant_map / nested_quant_map differ from bitsandbytes' NF4 and dynamic maps")
    }
    self.init(
      shape: shape, packed: s.weight, absmaxCodes: s.absmax, absmaxScales: s.nestedAbsmax, absmaxOffset: Float(offset))
  }

  /// Python's repr of a float (shortest round-trip digits; exponent form below 1e-4 and from 1e16).
  static func pythonRepr(_ x: Double) -> String {
    if x == 0 { return x.sign == .minus ? "-0.0" : "0.0" }
    let magnitude = abs(x)
    if magnitude >= 1e-4 && magnitude < 1e16 {
      let s = "\(x)"
      if s.contains("e") {  // Swift uses exponents from 2^53; Python only from 1e16
        return String(format: "%.1f", x)
      }
      return s
    }
    // Python: mantissa digits then e±XX with at least two exponent digits, e.g. 5e-05, 1.5e+16.
    let swift = "\(x)"  // e.g. "5e-05" or "1.5e+16"
    guard let e = swift.firstIndex(of: "e") else { return swift }
    var mantissa = String(swift[..<e])
    if mantissa.hasSuffix(".0") { mantissa.removeLast(2) }
    let expPart = swift[swift.index(after: e)...]
    let sign = expPart.first == "-" ? "-" : "+"
    let digits = expPart.drop { $0 == "-" || $0 == "+" }
    return mantissa + "e" + sign + (digits.count < 2 ? "0" + digits : String(digits))
  }
}
