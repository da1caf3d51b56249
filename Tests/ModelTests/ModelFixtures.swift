// Reads Tests/Fixtures/model (made by scripts/fixtures/model.py from transformers' Florence-2).
import FlrCheckpoints
import FlrCore
import Foundation
import XCTest

@testable import FlrModel

enum ModelFixtures {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/model")
  static func path(_ name: String) -> String { root.appendingPathComponent(name).path }

  /// The four checkpoint variants of the same tiny model (weights exactly representable in fp16, bf16, fp32).
  static let variants = [
    "tiny-original-bin", "tiny-original-safetensors", "tiny-native-bin", "tiny-native-safetensors",
  ]

  struct Reference {
    let set: CheckpointSet
    func float(_ name: String) throws -> Tensor { try set.float32(name) }
    /// int64 tensor as rows of Int32 [rows][cols]
    func ids(_ name: String) throws -> [[Int32]] {
      let t = try XCTUnwrap(set[name])
      XCTAssertEqual(t.dtype, .i64)
      let values = t.bytes.bindMemory(to: Int64.self)
      let cols = t.shape[1]
      return (0..<t.shape[0]).map { r in (0..<cols).map { Int32(values[r * cols + $0]) } }
    }

    /// pixel_values [2, 3, 768, 768], rebuilt from the small uint8 images exactly as the processor made them:
    /// each image was blown up to 768² by pixel repetition (so the processor's resize is the identity), then
    /// (x/255 - mean)/std.
    func pixelValues() throws -> Tensor {
      let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
      let out = Tensor(zeros: [2, 3, 768, 768])
      for b in 0..<2 {
        let img = try XCTUnwrap(set["image\(b)_u8"])
        let side = img.shape[0], rep = 768 / side
        let bytes = img.bytes.bindMemory(to: UInt8.self)
        for c in 0..<3 {
          for y in 0..<768 {
            for x in 0..<768 {
              let v = Float(bytes[((y / rep) * side + x / rep) * 3 + c])
              out.data[((b * 3 + c) * 768 + y) * 768 + x] = (v / 255 - mean[c]) / std[c]
            }
          }
        }
      }
      return out
    }
  }

  static func reference() throws -> Reference {
    Reference(set: try CheckpointSet.open(file: path("reference.safetensors")))
  }
}

/// max |a - b| / max |b|: the relative error of a whole tensor (elementwise relative error is meaningless
/// where the reference crosses zero).
func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
  precondition(a.count == b.count, "sizes \(a.shape) vs \(b.shape)")
  var diff: Float = 0, scale: Float = 0
  for i in 0..<a.count {
    diff = max(diff, abs(a.data[i] - b.data[i]))
    scale = max(scale, abs(b.data[i]))
  }
  return diff / max(scale, .leastNormalMagnitude)
}
